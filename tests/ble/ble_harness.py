"""Test harness for ble.vitals: the driver on a fake adapter, in virtual time."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeagent_drivers.ble.vitals import BleBackend, BleVitalsDriver, BleVitalsOptions
from edgeagent_mocks.ble import FakeAdapter, VirtualTime

from edgeagent.clock import ManualClock
from edgeagent.driver import DriverContext
from edgeagent.models import Reading
from tests.support.waiting import until_while_running


@dataclass
class Harness:
    clock: ManualClock
    vt: VirtualTime
    adapter: FakeAdapter
    readings: list[Reading] = field(default_factory=list)
    driver: BleVitalsDriver | None = None
    task: asyncio.Task[None] | None = None

    def start(self, devices: list[dict[str, Any]], *, seed: int = 7,
              **options: Any) -> BleVitalsDriver:
        opts = BleVitalsOptions.model_validate({
            "type": "ble.vitals", "name": "vitals", "devices": devices,
            "scan_timeout_s": 0.2, "connect_timeout_s": 1.0, "operation_timeout_s": 1.0,
            "device_timezone": "UTC", **options,
        })
        ctx = DriverContext(emit=self.readings.append, clock=self.clock,
                            logger=logging.getLogger("test.ble"))
        self.driver = BleVitalsDriver(
            opts, ctx, backend=BleBackend(self.adapter.client_backend,
                                          self.adapter.scanner_backend),
            sleep=self.vt.sleep, rng=random.Random(seed))
        self.task = asyncio.create_task(self.driver.run())
        return self.driver

    async def until(self, condition: Callable[[], bool], timeout: float = 3.0) -> None:
        """Wait for a condition, bounded; real time passes only while the loop works."""
        await until_while_running(self.task, condition, timeout)

    async def run_for(self, seconds: int, step: float = 1.0) -> None:
        """Advance virtual time in steps, letting peripherals produce what is due."""
        for _ in range(int(seconds / step)):
            await self.vt.advance(step)
            self.adapter.pump()
            await self.vt.settle()

    def values(self, sensor: str, device: str | None = None) -> list[Any]:
        return [r.value for r in self.readings
                if r.sensor == sensor and (device is None or r.device == device)]
