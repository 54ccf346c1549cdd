"""The output interface and registry: the kit's voice and lights, the drivers' counterparts.

An output is a class registered under the `edgeagent.outputs` entry-point
group, configured by an `[[outputs]]` table (type, name, its own options)
and validated by its pydantic `Options` model. The announcer hands it
`Cue`s; it turns them into a beep, a light or a spoken sentence and reports
its own health the way drivers do. A failing output is counted and logged,
never allowed to hold up an alarm.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from edgeagent.driver import Health, HealthState
from edgeagent.errors import UnknownOutputType

ENTRY_POINT_GROUP = "edgeagent.outputs"

Sleep = Callable[[float], Awaitable[None]]


class Signal(StrEnum):
    """What a cue asks the lights and buzzers to do; speech outputs say the words."""

    CHIME = "chime"          # before a question: two soft beeps
    TONE = "tone"            # SOS pressed: one short beep
    CALLING = "calling"      # an SOS is on its way: LED blinking
    DELIVERED = "delivered"  # the broker has it: LED steady
    IDLE = "idle"            # nothing to show: LED off
    SPEAK = "speak"          # words only


@dataclass(frozen=True, slots=True)
class Cue:
    """One thing to announce: a signal, and the words (already in `language`) if any."""

    signal: Signal
    message: str = ""   # the message key (also the WAV file's name)
    text: str = ""
    language: str = "en"


class OutputOptions(BaseModel):
    """Keys every `[[outputs]]` table has. Outputs subclass this with their own keys."""

    model_config = ConfigDict(extra="forbid")

    type: str
    name: str
    enabled: bool = True

    def claimed_pins(self) -> list[int]:
        """GPIO pins this output will own; the config loader rejects a pin used twice."""
        return []


@dataclass(slots=True)
class OutputContext:
    """What the agent hands an output: a logger, the home's volume, how to wait."""

    logger: logging.Logger
    volume: int = 80   # percent
    sleep: Sleep | None = None  # None: asyncio.sleep; tests pass one driven by a fake clock


class Output(abc.ABC):
    """Base class of every output. Subclasses set `Options` and implement `perform`."""

    Options: ClassVar[type[OutputOptions]] = OutputOptions
    audio: ClassVar[bool] = False  # needs the sound devices (the unit's drop-in)

    def __init__(self, options: OutputOptions, context: OutputContext) -> None:
        self.options = options
        self.context = context
        self.health = Health()

    @property
    def name(self) -> str:
        return self.options.name

    def count(self, counter: str, by: int = 1) -> None:
        self.health.counters[counter] = self.health.counters.get(counter, 0) + by

    def set_health(self, state: HealthState, reason: str = "") -> None:
        self.health.state = state
        self.health.reason = reason

    async def sleep(self, seconds: float) -> None:
        if self.context.sleep is not None:
            await self.context.sleep(seconds)
        else:
            await asyncio.sleep(seconds)

    def open(self) -> None:  # noqa: B027 - optional hook
        """Claim the hardware; raise `HardwareUnavailable` to be reported failed."""

    @abc.abstractmethod
    async def perform(self, cue: Cue) -> None:
        """Show or say one cue. Must not block the event loop (subprocesses, not calls)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the hardware."""


def available_output_types() -> dict[str, Any]:
    """Entry points of every installed output, first-party and third-party alike."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_output_class(type_name: str) -> type[Output]:
    eps = available_output_types()
    if type_name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise UnknownOutputType(f"unknown output type {type_name!r} (known: {known})")
    cls = eps[type_name].load()
    if not (isinstance(cls, type) and issubclass(cls, Output)):
        raise UnknownOutputType(f"entry point {type_name!r} is not an edgeagent Output")
    return cls


def health_of(output: Output | None, options: OutputOptions) -> dict[str, Any]:
    """What `status`/`doctor` show for one output."""
    if output is None:
        return {"type": options.type, "state": str(HealthState.FAILED if options.enabled
                                                   else "disabled"),
                "reason": "" if not options.enabled else "not started"}
    return {"type": options.type, **output.health.as_dict()}
