"""Fixtures at the GPIO and serial boundaries: gpiozero's MockFactory, an injected clock."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edgeagent.clock import ManualClock
from edgeagent.driver import Driver, DriverContext
from edgeagent.models import Reading


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """gpiozero's own mock pins as the default factory, restored afterwards."""
    saved = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = saved


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=datetime(2026, 3, 2, 21, 0, tzinfo=UTC))


class Harness:
    """A driver with a ManualClock and a list its readings land in."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.readings: list[Reading] = []

    def context(self, loop: asyncio.AbstractEventLoop | None = None) -> DriverContext:
        return DriverContext(emit=self.readings.append, clock=self.clock,
                             logger=logging.getLogger("test.driver"), loop=loop)

    def make(self, cls: type[Driver], **table: Any) -> Any:
        options = cls.Options.model_validate(table)
        return cls(options, self.context())

    def values(self, sensor: str | None = None) -> list[Any]:
        return [r.value for r in self.readings if sensor is None or r.sensor == sensor]


@pytest.fixture
def harness(clock: ManualClock) -> Harness:
    return Harness(clock)


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Yield to the event loop until `condition()` holds; fail after `timeout` real seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within timeout")
        await asyncio.sleep(0.005)
