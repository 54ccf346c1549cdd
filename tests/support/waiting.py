"""Waiting for a condition in a test: poll with a deadline, never sleep a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def until(predicate: Callable[[], object], timeout: float = 20.0,
                what: str = "condition") -> float:
    """Poll on the event loop until `predicate()` holds; return the seconds it took.

    The figure is for messages only: tests never assert on wall-clock time.
    """
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "condition",
               interval: float = 0.01) -> float:
    """The same for code without an event loop (threads, subprocesses): poll with a deadline."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not met within {timeout:.1f}s")
        time.sleep(interval)
    return time.monotonic() - start


async def until_while_running(task: asyncio.Task[Any] | None, condition: Callable[[], object],
                              timeout: float, pause: float = 0.0) -> None:
    """`until` for a driver under test: its task ending early (crash or return) fails at once.

    Used with virtual time, so the deadline is the loop's clock and `pause` may be 0
    (yield to the loop only).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if task is not None and task.done():
            task.result()
            raise AssertionError("driver stopped")
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(pause)
