"""`mock.stress`: readings at a fixed rate, for load and fault tests.

Every `alert_every`-th reading is an SOS press, so tests can check that
alerts overtake raw states in the drain order.
"""

from __future__ import annotations

import asyncio

from pydantic import Field

from edgeagent.driver import Driver, DriverOptions, HealthState


class StressOptions(DriverOptions):
    rate_hz: float = Field(default=10.0, gt=0, le=10_000)
    sensor: str = "motion"
    alert_every: int = Field(default=0, ge=0, description="every Nth reading is an SOS press")
    count: int = Field(default=0, ge=0, description="stop after this many readings (0 = never)")


class StressDriver(Driver):
    Options = StressOptions

    async def run(self) -> None:
        opts = self.options
        assert isinstance(opts, StressOptions)
        self.set_health(HealthState.OK)
        period = 1.0 / opts.rate_hz
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        n = 0
        while opts.count == 0 or n < opts.count:
            n += 1
            if opts.alert_every and n % opts.alert_every == 0:
                self.context.emit(self.reading("sos", True, data={"n": n}))
            else:
                self.context.emit(self.reading(opts.sensor, n % 2 == 1, data={"n": n}))
            next_at += period
            await asyncio.sleep(max(0.0, next_at - loop.time()))
        # A bounded run stays alive (idle) so the supervisor does not restart it.
        await asyncio.Event().wait()
