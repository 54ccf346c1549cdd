"""The driver interface and registry. Core knows drivers only through this module.

A driver is a class registered under the `edgeagent.drivers` entry-point
group. It declares a pydantic `Options` model for its `[[drivers]]` table,
runs as an asyncio task, emits `Reading`s through its context and reports
its own health. It knows nothing of MQTT, SQLite or alerts. Its class may
offer `checks()`: the hardware probes `edgeagent doctor` runs for it.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from edgeagent.clock import Clock
from edgeagent.errors import UnknownDriverType
from edgeagent.models import Reading

ENTRY_POINT_GROUP = "edgeagent.drivers"


class HealthState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"
    STARTING = "starting"


@dataclass(slots=True)
class Health:
    state: HealthState = HealthState.STARTING
    reason: str = ""
    counters: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "reason": self.reason,
            "counters": dict(self.counters),
            "details": dict(self.details),
        }


class DriverOptions(BaseModel):
    """Keys every `[[drivers]]` table has. Drivers subclass this with their own keys."""

    model_config = ConfigDict(extra="forbid")

    type: str
    name: str
    room: str | None = None
    enabled: bool = True
    watchdog_s: float = Field(
        default=0.0, ge=0,
        description="restart the driver after this many seconds with neither a reading nor a "
                    "heartbeat (0 = off); for drivers that call blocking vendor libraries")

    def claimed_pins(self) -> list[int]:
        """GPIO pins this driver will own; the config loader rejects a pin used twice."""
        return []

    def secret_files(self) -> dict[str, Path]:
        """Secret files by key; the agent refuses to start if others can read one."""
        return {}


EmitFn = Callable[[Reading], None]


@dataclass(frozen=True, slots=True)
class SerialPortCheck:
    """Doctor: `port` exists, opens at `baudrate`, and `framer()` finds a frame in what arrives."""

    port: str
    baudrate: int
    framing: str
    framer: Callable[[], Any]  # a fresh framer: feed(bytes) -> list of frames


@dataclass(frozen=True, slots=True)
class GpioPinCheck:
    """Doctor: `pin` can be claimed from the pin factory the driver would use.

    `pin_factory` is the driver's named factory (None: $GPIOZERO_PIN_FACTORY, else
    gpiozero's own choice); `load_factory` turns a name into the shared factory.
    """

    pin: int
    pin_factory: str | None
    load_factory: Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class BleScanCheck:
    """Doctor: `adapter` is present and unblocked; a scan through `scanner()` hears `devices`.

    `backend` is the driver's backend name ("bleak" = the platform's own, BlueZ on a Pi);
    `scanner()` returns the bleak scanner backend class for it; `short_uuid` turns a
    service UUID into its short form; each device has `id` and any of `address`,
    `local_name`, `service`.
    """

    adapter: str
    backend: str
    scanner: Callable[[], Any]
    short_uuid: Callable[[str], Any]
    devices: tuple[Any, ...] = ()


HardwareCheck = SerialPortCheck | GpioPinCheck | BleScanCheck


@dataclass(slots=True)
class DriverContext:
    """What the supervisor hands a driver: where readings go, which clock, a logger."""

    emit: EmitFn
    clock: Clock
    logger: logging.Logger
    loop: asyncio.AbstractEventLoop | None = None

    def emit_threadsafe(self, reading: Reading) -> None:
        """For library callbacks that fire on their own threads (gpiozero, pyserial readers)."""
        if self.loop is None:
            self.emit(reading)
        else:
            self.loop.call_soon_threadsafe(self.emit, reading)


class Driver(abc.ABC):
    """Base class of every driver. Subclasses set `Options` and implement `run`."""

    Options: ClassVar[type[DriverOptions]] = DriverOptions

    def __init__(self, options: DriverOptions, context: DriverContext) -> None:
        self.options = options
        self.context = context
        self.health = Health()
        self.last_alive = time.monotonic()

    def heartbeat(self) -> None:
        """Say "still working" without a reading (a poll that found nothing new)."""
        self.last_alive = time.monotonic()

    @property
    def name(self) -> str:
        return self.options.name

    def reading(self, sensor: str, value: Any, *, device: str | None = None,
                room: str | None = None, role: str | None = None,
                data: dict[str, Any] | None = None) -> Reading:
        """A reading stamped with this driver's name, room and the context clock."""
        self.last_alive = time.monotonic()
        clock = self.context.clock
        return Reading(
            driver=self.options.name,
            device=device or self.options.name,
            sensor=sensor,
            value=value,
            mono=clock.monotonic(),
            wall=clock.wall(),
            room=room if room is not None else self.options.room,
            role=role,
            data=data or {},
        )

    def set_health(self, state: HealthState, reason: str = "") -> None:
        self.health.state = state
        self.health.reason = reason

    def count(self, counter: str, by: int = 1) -> None:
        self.health.counters[counter] = self.health.counters.get(counter, 0) + by

    @abc.abstractmethod
    async def run(self) -> None:
        """Produce readings until cancelled. Raise DriverError to be restarted with backoff."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release hardware. Called after `run` ends or is cancelled."""

    @classmethod
    def checks(cls, options: DriverOptions) -> list[HardwareCheck]:
        """What `edgeagent doctor` probes for this driver while the daemon is not running.

        The doctor knows drivers only through this: it never imports a driver module.
        Default: nothing to probe.
        """
        return []


def available_driver_types() -> dict[str, Any]:
    """Entry points of every installed driver, first-party and third-party alike."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_driver_class(type_name: str) -> type[Driver]:
    eps = available_driver_types()
    if type_name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise UnknownDriverType(f"unknown driver type {type_name!r} (known: {known})")
    cls = eps[type_name].load()
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise UnknownDriverType(f"entry point {type_name!r} is not an edgeagent Driver")
    return cls


def hardware_checks(options: DriverOptions) -> list[HardwareCheck]:
    """The probes the driver of `options` asks the doctor for (its class's `checks`)."""
    return load_driver_class(options.type).checks(options)
