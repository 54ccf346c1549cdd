"""Virtual time for async code under test: sleeps wait on a ManualClock, not on the wall.

The BLE driver takes an injectable `sleep`; handing it `VirtualTime.sleep`
lets a test move hours of backoff and offline timers forward with
`await vt.advance(seconds)`, waking each sleeper in time order, with no real
waiting and no sleeps in the test.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

from edgeagent.clock import ManualClock


class VirtualTime:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.requested: list[float] = []

    async def sleep(self, delay: float) -> None:
        self.requested.append(delay)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers,
                       (self.clock.monotonic() + max(0.0, delay), next(self._seq), fut))
        await fut

    @property
    def sleeping(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def settle(self, rounds: int = 30) -> None:
        """Let every runnable task run until it blocks again (bounded)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move the clock forward, waking sleepers at their own due times, in order."""
        target = self.clock.monotonic() + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            due, _, fut = heapq.heappop(self._sleepers)
            if fut.done():
                continue
            if due > self.clock.monotonic():
                self.clock.advance(due - self.clock.monotonic())
            fut.set_result(None)
            await self.settle()
        if target > self.clock.monotonic():
            self.clock.advance(target - self.clock.monotonic())
        await self.settle()
