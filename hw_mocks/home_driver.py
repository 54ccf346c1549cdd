"""`mock.home`: a resident's scripted days, played through the real GPIO drivers on mock pins.

This is what `edgeagent demo` shows. A `SimulatedHome` drives gpiozero
`MockFactory` pins (a private factory: the process-wide
`Device.pin_factory` is never touched), and the real `gpio.*` drivers turn
those pins into readings, with their real hold-offs and settle times. The
home follows `self.context.clock`, which in the demo runs faster than real
time: every `step_interval` real seconds the driver looks at the clock and
fires every script step whose time has come.

The default script is two days and nights: an ordinary day (wake, bathroom,
kitchen, out for a walk, nap, evening), a night with a short bathroom visit,
a second day, and a night when the resident gets up at 01:40, walks into the
hall and is still there, silent, until 03:00 (the `bed_exit_no_return`
alert, then its resolution when she moves again).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from edgeagent_mocks.simulated_home import ScriptError, SimulatedHome
from gpiozero.pins.mock import MockFactory
from pydantic import Field, field_validator

from edgeagent.clock import ManualClock
from edgeagent.config import TimeZoneName
from edgeagent.driver import Driver, DriverContext, DriverOptions, HealthState
from edgeagent.models import Reading

DEFAULT_SCRIPT = """
# day 1
06:50 bed out; 06:51 bedroom motion
06:52 bathroom door open; 06:52:10 bathroom door close; 06:53 bathroom motion
07:00 bathroom motion; 07:05 bathroom door open; 07:05:10 bathroom door close
07:10 kitchen motion; 07:12 fridge open; 07:12:20 fridge close; 07:25 kitchen motion
08:00 living motion; 09:00 living motion; 09:40 living motion
10:00 hall motion; 10:01 entrance door open; 10:01:20 entrance door close
11:30 entrance door open; 11:30:20 entrance door close; 11:31 hall motion
11:45 kitchen motion; 12:05 fridge open; 12:05:15 fridge close; 12:20 kitchen motion
12:45 living motion; 13:20 bedroom motion
13:30 bed in; 14:40 bed out; 14:41 bedroom motion
15:00 living motion; 16:00 living motion; 16:30 bathroom motion; 17:00 living motion
18:00 kitchen motion; 18:10 fridge open; 18:10:20 fridge close; 18:30 kitchen motion
19:00 living motion; 20:00 living motion; 21:00 living motion
21:30 bathroom motion; 21:45 bedroom motion; 22:00 bed in
# night 1: one bathroom visit
02:10 bed out; 02:10:30 bedroom motion; 02:11 bathroom door open; 02:11:10 bathroom door close
02:11:30 bathroom motion; 02:15 bathroom motion; 02:16 bathroom door open
02:16:10 bathroom door close; 02:16:40 bedroom motion; 02:17 bed in
# day 2
06:45 bed out; 06:46 bedroom motion; 06:48 bathroom motion; 07:00 kitchen motion
07:05 fridge open; 07:05:20 fridge close; 07:30 living motion; 09:00 living motion
10:30 kitchen motion; 12:00 kitchen motion; 12:10 fridge open; 12:10:15 fridge close
13:00 living motion; 13:40 bed in; 14:20 bed out; 14:21 bedroom motion
15:30 living motion; 17:00 bathroom motion; 17:15 living motion; 18:00 kitchen motion
19:30 living motion
21:00 living motion; 21:50 bathroom motion; 22:05 bedroom motion; 22:10 bed in
# night 2: up at 01:40, into the hall, then nothing until 03:00
01:40 bed out; 01:41 bedroom motion; 01:42 hall motion
03:00 hall motion; 03:02 bedroom motion; 03:05 bed in
06:55 bed out; 06:56 bedroom motion
"""


class MockHomeOptions(DriverOptions):
    script: str | None = Field(default=None, description="replaces the default two-day script")
    start: str | None = Field(default=None, pattern=r"^\d{1,2}:\d{2}$",
                              description="begin with the first script step at/after this time")
    loop: bool = True
    timezone: TimeZoneName = Field(default="Asia/Shanghai",
                                   description="the home's zone (script times)")
    step_interval: float = Field(default=0.02, gt=0, le=5,
                                 description="real seconds between looks at the clock")
    drivers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="option overrides for the inner drivers, by type or name")

    @field_validator("script")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                SimulatedHome(value, clock=ManualClock())  # parses every step, touches no pin
            except ScriptError as exc:
                raise ValueError(str(exc)) from None
        return value


class MockHomeDriver(Driver):
    """The simulated home as one driver; readings come from the real inner GPIO drivers."""

    Options: ClassVar[type[DriverOptions]] = MockHomeOptions
    options: MockHomeOptions

    def __init__(self, options: DriverOptions, context: DriverContext) -> None:
        super().__init__(options, context)
        self.home: SimulatedHome | None = None
        self.inner: list[Any] = []
        self.factory: MockFactory | None = None
        self.inner_clock: ManualClock | None = None

    def _emit(self, reading: Reading) -> None:
        # The inner driver's name becomes the device; this driver is the source.
        self.count("readings")
        self.context.emit(dataclasses.replace(reading, driver=self.options.name,
                                              device=reading.driver))

    def _context(self, name: str) -> DriverContext:
        assert self.inner_clock is not None
        logger = self.context.logger.getChild(name)
        return DriverContext(emit=self._emit, clock=self.inner_clock, logger=logger)

    def start(self) -> None:
        """Build the home and open the inner drivers (public for tests and `demo`).

        The inner drivers run on a ManualClock that this driver moves up to
        the context clock at each step, stopping at every script action and
        every inner timer on the way: readings carry the script's exact
        times however coarse the steps of an accelerated clock are.
        """
        o = self.options
        outer = self.context.clock
        self.inner_clock = ManualClock(start=outer.wall(), monotonic_start=outer.monotonic())
        self.factory = MockFactory()
        start = o.start or outer.wall().astimezone(ZoneInfo(o.timezone)).strftime("%H:%M")
        self.home = SimulatedHome(o.script or DEFAULT_SCRIPT, clock=self.inner_clock,
                                  factory=self.factory, tz=o.timezone, begin_at=start)
        inner: list[Any] = self.home.make_drivers(self._context, **o.drivers)
        self.inner = inner
        self.home.apply_initial()
        for driver in inner:
            driver.open()
        self._refresh_health()

    def step(self) -> int:
        """Play every script step and inner timer up to the context clock's now."""
        assert self.home is not None
        before = len(self.home.fired)
        self.home.run_until(self.context.clock.wall(), self.inner)
        fired = len(self.home.fired) - before
        if fired:
            self.count("steps", fired)
        if self.home.finished and self.options.loop:
            self.home.schedule_pass()
            self.count("passes")
        self._refresh_health()
        return fired

    def _refresh_health(self) -> None:
        assert self.home is not None
        bad = [f"{d.name}: {d.health.reason}" for d in self.inner
               if d.health.state is not HealthState.OK]
        nxt = self.home.next_at
        self.health.details["next_step"] = nxt.isoformat() if nxt else None
        self.health.details["devices"] = {d.name: str(d.health.state) for d in self.inner}
        if bad:
            self.set_health(HealthState.DEGRADED, "; ".join(bad))
        elif self.home.finished:
            self.set_health(HealthState.OK, "script finished")
        else:
            self.set_health(HealthState.OK, f"simulated home, {len(self.inner)} sensors")

    async def run(self) -> None:
        self.start()
        try:
            while True:
                await asyncio.sleep(self.options.step_interval)
                self.step()
        finally:
            await self.close()

    async def close(self) -> None:
        for driver in self.inner:
            driver.close_device()
        self.inner = []
        if self.factory is not None:
            self.factory.close()
            self.factory = None


