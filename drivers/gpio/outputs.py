"""`gpio.buzzer` and `gpio.led`: the kit's beeps and light, through gpiozero.

Wiring: an active buzzer (one with its own oscillator) or an LED with its
series resistor between the GPIO and ground, driven high = on (set
`active_high = false` for a module that switches on a low level). gpiozero's
pin factory decides what is real, as for the inputs: `lgpio` on a Pi,
`MockFactory` in tests.

Patterns are timed by awaiting the output's `sleep` (asyncio's, or a fake
clock's in tests), never by gpiozero's background threads, so a test can
assert every edge at the time it happens.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from edgeagent_drivers.gpio.base import named_pin_factory
from edgeagent_drivers.gpio.pins import parse_pin
from gpiozero import LED, PWMLED, Buzzer, GPIOZeroError
from pydantic import Field, field_validator

from edgeagent.driver import HealthState
from edgeagent.errors import HardwareUnavailable
from edgeagent.output import Cue, Output, OutputContext, OutputOptions, Signal

# (on seconds, off seconds) per beep.
CHIME = ((0.15, 0.15), (0.15, 0.0))
TONE = ((0.4, 0.0),)


class GpioOutputOptions(OutputOptions):
    pin: int
    active_high: bool = True
    pin_factory: str | None = None

    @field_validator("pin", mode="before")
    @classmethod
    def _pin_name(cls, value: object) -> int:
        return parse_pin(value)

    def claimed_pins(self) -> list[int]:
        return [self.pin]


class GpioOutput(Output):
    """One digital output; subclasses say which gpiozero device and what each signal does."""

    Options: ClassVar[type[OutputOptions]] = GpioOutputOptions
    options: GpioOutputOptions

    def __init__(self, options: OutputOptions, context: OutputContext, *,
                 pin_factory: Any = None) -> None:
        super().__init__(options, context)
        self._pin_factory = pin_factory
        self.device: Any = None

    def _factory(self) -> Any:
        if self._pin_factory is not None:
            return self._pin_factory
        if self.options.pin_factory is not None:
            return named_pin_factory(self.options.pin_factory)
        return None

    def _make(self, factory: Any) -> Any:
        raise NotImplementedError

    def open(self) -> None:
        try:
            self.device = self._make(self._factory())
        except (GPIOZeroError, OSError, RuntimeError) as exc:
            self.set_health(HealthState.FAILED, f"GPIO{self.options.pin}: {exc}")
            raise HardwareUnavailable(f"{self.name}: GPIO{self.options.pin}: {exc}") from exc
        self.set_health(HealthState.OK)

    def close(self) -> None:
        if self.device is not None:
            self.device.close()
            self.device = None

    async def _beeps(self, pattern: tuple[tuple[float, float], ...]) -> None:
        for on_s, off_s in pattern:
            self.device.on()
            await self.sleep(on_s)
            self.device.off()
            if off_s:
                await self.sleep(off_s)


class BuzzerOutput(GpioOutput):
    """An active buzzer: two soft beeps before a question, one longer beep on an SOS press.

    A cue that arrives while a pattern sounds is dropped, not queued: presses in quick
    succession give one continuous tone, not a backlog of beeps."""

    def __init__(self, options: OutputOptions, context: OutputContext, *,
                 pin_factory: Any = None) -> None:
        super().__init__(options, context, pin_factory=pin_factory)
        self.sounding = False

    def _make(self, factory: Any) -> Any:
        return Buzzer(self.options.pin, active_high=self.options.active_high,
                      pin_factory=factory)

    async def perform(self, cue: Cue) -> None:
        if self.device is None:
            return
        pattern = {Signal.CHIME: CHIME, Signal.TONE: TONE}.get(cue.signal)
        if pattern is None:
            return
        if self.sounding:
            self.count("overlapping")
            return
        self.sounding = True
        try:
            await self._beeps(pattern)
        finally:
            self.sounding = False
        self.count("beeps")


class LedOptions(GpioOutputOptions):
    pwm: bool = False  # a PWMLED: dimmed by `brightness`
    brightness: float = Field(default=1.0, gt=0, le=1)
    blink_s: float = Field(default=0.5, gt=0, le=10)


class LedOutput(GpioOutput):
    """The call light: blinking while an SOS is on its way, steady once the broker has it."""

    Options: ClassVar[type[OutputOptions]] = LedOptions
    options: LedOptions

    def __init__(self, options: OutputOptions, context: OutputContext, *,
                 pin_factory: Any = None) -> None:
        super().__init__(options, context, pin_factory=pin_factory)
        self.showing = "off"
        # One worker: blink-then-steady must reach gpiozero in order, never two at once
        # (its blink thread cannot be stopped before it has started).
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="call-light")

    def _make(self, factory: Any) -> Any:
        cls = PWMLED if self.options.pwm else LED
        return cls(self.options.pin, active_high=self.options.active_high, pin_factory=factory)

    async def perform(self, cue: Cue) -> None:
        """Changes only: starting or stopping gpiozero's blink thread joins a thread, so it
        runs off the event loop, and a light already in the wanted state is left alone."""
        if self.device is None or cue.signal not in (Signal.CALLING, Signal.DELIVERED,
                                                     Signal.IDLE):
            return
        wanted = {Signal.CALLING: "blinking", Signal.DELIVERED: "steady",
                  Signal.IDLE: "off"}[cue.signal]
        if wanted == self.showing:
            return
        self.showing = wanted
        await asyncio.get_running_loop().run_in_executor(self._worker, self._show, wanted)

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        super().close()

    def _show(self, wanted: str) -> None:
        if wanted == "blinking":
            # gpiozero's own background blink, stopped by the next value set.
            kwargs = {"on_time": self.options.blink_s, "off_time": self.options.blink_s}
            if self.options.pwm:
                self.device.blink(**kwargs, fade_in_time=0, fade_out_time=0)
            else:
                self.device.blink(**kwargs)
        elif wanted == "steady":
            self.device.value = self.options.brightness if self.options.pwm else 1
        else:
            self.device.off()
