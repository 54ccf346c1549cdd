"""What every GPIO input driver shares: options, the gpiozero device, edges, ticks, health.

The driver never touches hardware itself. It asks gpiozero for a
`DigitalInputDevice` and gpiozero's pin factory decides what is real:
`lgpio` on a Pi, `MockFactory` in tests and in the simulated home. The
factory is, in order: the one passed to the constructor (embedding, e.g.
`mock.home`), the `pin_factory` option, or gpiozero's own default
(`Device.pin_factory`, chosen from `$GPIOZERO_PIN_FACTORY` or by trying
lgpio, RPi.GPIO, pigpio, native in turn).

gpiozero calls back on its own thread (lgpio's alert thread). Each edge is
stamped with the injected clock at once and handed to the event loop, where
the pure state machines of `timing.py` decide what to report. Timers
(hold-off, settle, long press) are checked by `poll()`, which `run()` calls
every few tens of milliseconds while a timer is pending and every second
otherwise.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import threading
import warnings
from datetime import timedelta
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal

from edgeagent_drivers.gpio.pins import parse_pin
from edgeagent_drivers.gpio.timing import Change, EdgeRate, Settler
from gpiozero import Device, DigitalInputDevice, GPIOPinInUse, GPIOZeroError
from pydantic import Field, field_validator, model_validator

from edgeagent.driver import (
    Driver,
    DriverContext,
    DriverOptions,
    GpioPinCheck,
    HardwareCheck,
    HealthState,
)
from edgeagent.errors import DriverError, HardwareUnavailable
from edgeagent.models import Reading

PIN_FACTORY_GROUP = "gpiozero_pin_factories"
TICK_PENDING = 0.05   # real seconds between polls while a timer runs
TICK_IDLE = 1.0       # real seconds between polls otherwise (health checks)

Pull = Literal["up", "down", "off"]

# What a machine without a loadable pin factory lacks, and its fix: the same for every
# GPIO driver, so doctor and the log say it once.
GPIO_LIBRARY = "gpio-library"
GPIO_LIBRARY_FIX = ("on a Pi: apt install python3-lgpio; elsewhere remove the gpio.* drivers "
                    "or set pin_factory = \"mock\" for a dry run")

_named_factories: dict[str, Any] = {}
_factory_lock = threading.Lock()


def known_pin_factories() -> list[str]:
    """Names gpiozero can load (`lgpio`, `rpigpio`, `pigpio`, `native`, `mock`, ...)."""
    return sorted({ep.name for ep in entry_points(group=PIN_FACTORY_GROUP)})


def named_pin_factory(name: str) -> Any:
    """One shared gpiozero factory per name, so pin reservations stay in one place."""
    with _factory_lock:
        if name not in _named_factories:
            for ep in entry_points(group=PIN_FACTORY_GROUP):
                if ep.name in (name, name.lower()):
                    _named_factories[name] = ep.load()()
                    break
            else:
                raise LookupError(f"gpiozero has no pin factory {name!r}")
        return _named_factories[name]


class GpioOptions(DriverOptions):
    """Wiring keys common to every GPIO input.

    `pull` is the Pi's internal resistor: "up" for a switch to ground (reed
    contact, button, relay output), "down" for a sensor that drives the line
    high (PIR module), "off" when the circuit has its own resistor.
    `active_high` says which level means *active* (motion, door closed,
    weight on the mat, button pressed, alarm); by default it follows the
    pull (pull-up: active low; pull-down: active high) and must be given
    when `pull = "off"`.
    """

    pin: int
    pull: Pull = "up"
    active_high: bool | None = None
    bounce_time: float | None = Field(default=None, ge=0, le=1)
    pin_factory: str | None = None
    max_edges_per_minute: int = Field(default=240, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _gpiozero_pull_up(cls, data: Any) -> Any:
        """Accept gpiozero's own `pull_up = true|false` spelling for `pull`."""
        if isinstance(data, dict) and "pull_up" in data:
            if "pull" in data:
                raise ValueError('give either pull or pull_up, not both')
            data = dict(data)
            pull_up = data.pop("pull_up")
            if not isinstance(pull_up, bool):
                raise ValueError("pull_up must be true or false")
            data["pull"] = "up" if pull_up else "down"
        return data

    @field_validator("pin", mode="before")
    @classmethod
    def _pin_name(cls, value: object) -> int:
        return parse_pin(value)

    @field_validator("pin_factory")
    @classmethod
    def _factory_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        known = known_pin_factories()
        if value not in known and value.lower() not in known:
            raise ValueError(
                f"unknown gpiozero pin factory {value!r} (installed: {', '.join(known)})"
            )
        return value

    @model_validator(mode="after")
    def _level_known(self) -> GpioOptions:
        if self.pull == "off" and self.active_high is None:
            raise ValueError(
                'pull = "off" leaves the input floating: set active_high = true or false '
                "to say which level means active"
            )
        return self

    def claimed_pins(self) -> list[int]:
        return [self.pin]


class GpioDriver(Driver):
    """A driver with one digital input. Subclasses turn levels into readings."""

    Options: ClassVar[type[DriverOptions]] = GpioOptions
    options: GpioOptions

    @classmethod
    def checks(cls, options: DriverOptions) -> list[HardwareCheck]:
        if not isinstance(options, GpioOptions):
            return []
        return [GpioPinCheck(pin=options.pin, pin_factory=options.pin_factory,
                             load_factory=named_pin_factory)]

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 pin_factory: Any = None) -> None:
        super().__init__(options, context)
        self._pin_factory = pin_factory
        self._device: Any = None
        self._invert = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._edges = EdgeRate(60.0)
        self._chatter = False
        self._started = False

    # -- what subclasses provide ------------------------------------------------

    @abc.abstractmethod
    def _start(self, active: bool, t: float) -> list[Change]:
        """The input's level when the driver starts."""

    @abc.abstractmethod
    def _edge(self, active: bool, t: float) -> list[Change]:
        """A change of level at clock time `t`."""

    @abc.abstractmethod
    def _tick(self, t: float) -> list[Change]:
        """Timers due at `t`."""

    @abc.abstractmethod
    def _deadline(self) -> float | None:
        """The next clock time a timer is due, if any."""

    @abc.abstractmethod
    def _to_reading(self, change: Change) -> Reading:
        """A confirmed change as a Reading."""

    def _fault(self, t: float) -> str | None:
        """A wiring fault visible in the input's behaviour, or None."""
        return None

    # -- hardware ---------------------------------------------------------------

    def _factory(self) -> Any:
        what = f"{self.options.type} driver {self.name!r}"
        if self._pin_factory is not None:
            return self._pin_factory
        if self.options.pin_factory:
            try:
                return named_pin_factory(self.options.pin_factory)
            except Exception as exc:  # factory libraries raise anything
                raise HardwareUnavailable(
                    f"{what}: pin factory {self.options.pin_factory!r} unusable here: {exc}"
                ) from exc
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                Device.ensure_pin_factory()
            except Exception as exc:  # BadPinFactory, ImportError, lgpio.error...
                # gpiozero warns once per factory it tried; the first (lgpio, the one a
                # Pi should have) says enough, the rest repeat it for older libraries.
                first = next((str(w.message) for w in caught), str(exc))
                first = first.removeprefix("Falling back from ")
                raise HardwareUnavailable(
                    f"{what}: no GPIO on this machine: no pin library loads ({first})",
                    missing=GPIO_LIBRARY, fix=GPIO_LIBRARY_FIX,
                ) from exc
        return Device.pin_factory

    def _open_device(self) -> Any:
        factory = self._factory()
        pull_up = {"up": True, "down": False, "off": None}[self.options.pull]
        active_high = self.options.active_high
        self._invert = pull_up is not None and active_high is not None and active_high == pull_up
        try:
            return DigitalInputDevice(
                self.options.pin,
                pull_up=pull_up,
                active_state=active_high if pull_up is None else None,
                bounce_time=self.options.bounce_time,
                pin_factory=factory,
            )
        except GPIOPinInUse as exc:
            raise DriverError(
                f"{self.name}: GPIO{self.options.pin} is already in use: {exc}"
            ) from exc
        except GPIOZeroError as exc:
            raise DriverError(f"{self.name}: cannot use GPIO{self.options.pin}: {exc}") from exc

    def _level(self) -> bool:
        return bool(self._device.is_active) != self._invert

    def open(self) -> None:
        """Claim the pin, report the starting level. Raises HardwareUnavailable without GPIO."""
        try:
            device = self._open_device()
        except DriverError as exc:
            self.set_health(HealthState.FAILED, str(exc))
            raise
        self._device = device
        device.when_activated = self._on_activated
        device.when_deactivated = self._on_deactivated
        t = self.context.clock.monotonic()
        self._started = True
        self.set_health(HealthState.OK, f"GPIO{self.options.pin} open")
        self.health.details["pin"] = self.options.pin
        self._emit(self._start(self._level(), t))

    def close_device(self) -> None:
        device, self._device = self._device, None
        self._started = False
        if device is not None:
            device.close()

    async def close(self) -> None:
        self.close_device()

    # -- edges and ticks ----------------------------------------------------------

    def _on_activated(self) -> None:
        self._from_library(not self._invert)

    def _on_deactivated(self) -> None:
        self._from_library(self._invert)

    def _from_library(self, active: bool) -> None:
        t = self.context.clock.monotonic()
        loop = self._loop
        if loop is None or self._loop_thread == threading.get_ident():
            self._on_level(active, t)
        else:
            loop.call_soon_threadsafe(self._on_level, active, t)

    def _on_level(self, active: bool, t: float) -> None:
        if not self._started:
            return
        self.count("edges")
        self._edges.add(t)
        self._emit(self._edge(active, t))
        self._check_health(t)
        if self._wake is not None:
            self._wake.set()

    def next_deadline(self) -> float | None:
        """Clock time of the next pending timer (the simulated home advances to it)."""
        return self._deadline() if self._started else None

    def poll(self) -> None:
        """Report timers that are due by the injected clock and refresh health."""
        if not self._started:
            return
        t = self.context.clock.monotonic()
        self._emit(self._tick(t))
        self._check_health(t)

    def _check_health(self, t: float) -> None:
        edges = self._edges.count(t)
        limit = self.options.max_edges_per_minute
        if edges > limit:
            self._chatter = True
        elif edges <= limit // 2:
            self._chatter = False
        fault = self._fault(t)
        if self._chatter:
            self.set_health(
                HealthState.DEGRADED,
                f"GPIO{self.options.pin} chattering: {edges} edges in 60 s "
                "(loose wire, missing pull resistor or interference?)",
            )
        elif fault:
            self.set_health(HealthState.DEGRADED, fault)
        elif self.health.state is not HealthState.OK:
            self.set_health(HealthState.OK, f"GPIO{self.options.pin} open")

    def _emit(self, changes: list[Change]) -> None:
        for change in changes:
            self.count("readings")
            self.context.emit(self._to_reading(change))

    def reading_at(self, at: float, sensor: str, value: Any, *, role: str | None = None,
                   data: dict[str, Any] | None = None) -> Reading:
        """A reading stamped at clock time `at` (a timer's deadline), not at "now"."""
        clock = self.context.clock
        now = clock.monotonic()
        return Reading(
            driver=self.options.name,
            device=self.options.name,
            sensor=sensor,
            value=value,
            mono=at,
            wall=clock.wall() - timedelta(seconds=max(0.0, now - at)),
            room=self.options.room,
            role=role,
            data=data or {},
        )

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self.open()
        try:
            while True:
                self._wake.clear()
                timeout = TICK_PENDING if self._deadline() is not None else TICK_IDLE
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                self.poll()
        finally:
            self.close_device()


class SettledGpioDriver(GpioDriver):
    """A GpioDriver whose levels are reported only once they have held (a `Settler`).

    Subclasses build `self.machine` with their own settle times in
    `__init__`. `counts_glitches` publishes the Settler's count of reverted
    candidates as the health counter `glitches` (a chattering contact or a
    restless sleeper is worth a technician's look; an alarm relay is not).
    """

    counts_glitches: ClassVar[bool] = True
    machine: Settler

    def _start(self, active: bool, t: float) -> list[Change]:
        return self.machine.feed(active, t)

    def _edge(self, active: bool, t: float) -> list[Change]:
        changes = self.machine.feed(active, t)
        if self.counts_glitches:
            self.health.counters["glitches"] = self.machine.glitches
        return changes

    def _tick(self, t: float) -> list[Change]:
        return self.machine.tick(t)

    def _deadline(self) -> float | None:
        return self.machine.deadline()
