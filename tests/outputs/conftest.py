"""Outputs' fixtures: gpiozero's MockFactory (PWM-capable pins) and a clock-driven sleep."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edgeagent.clock import ManualClock
from edgeagent.output import OutputContext


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    saved = Device.pin_factory
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = saved


class FakeTime:
    """`sleep` that advances a ManualClock at once: a beep pattern runs in no real time,
    and every pin change can be read against the clock."""

    def __init__(self) -> None:
        self.clock = ManualClock()

    async def sleep(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def context(self, volume: int = 80) -> OutputContext:
        return OutputContext(logger=logging.getLogger("test.output"), volume=volume,
                             sleep=self.sleep)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
