"""One fixture per hardware boundary: a fake Bluetooth adapter on a manual clock.

The driver runs its real BleakScanner/BleakClient calls against the fake
backend; its sleeps go through VirtualTime, so backoff and offline timers
move only when a test advances the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from ble_harness import Harness
from edgeagent_mocks.ble import FakeAdapter, VirtualTime

from edgeagent.clock import ManualClock


@pytest.fixture
async def ble() -> AsyncIterator[Harness]:
    clock = ManualClock()
    harness = Harness(clock, VirtualTime(clock), FakeAdapter(clock=clock))
    yield harness
    if harness.task is not None:
        harness.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await harness.task
