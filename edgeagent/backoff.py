"""Exponential backoff with full jitter (AWS architecture blog), so a thousand homes
whose broker restarted do not all reconnect in the same second."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delays for retry n: uniform in [floor, min(maximum, initial * 2**(n-1))].

    `floor` keeps a retry from becoming a busy loop when the draw is near zero.
    `next_delay()` counts attempts itself (one link, one driver); `delay(n)` is
    for callers that count failures per device.
    """

    initial: float = 1.0
    maximum: float = 120.0
    floor: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def delay(self, failures: int) -> float:
        """The delay before the retry after `failures` consecutive failures (1 = first)."""
        cap = min(self.maximum, self.initial * 2 ** max(0, min(failures - 1, 30)))
        return max(self.floor, self.rng.uniform(0, cap))

    def next_delay(self) -> float:
        """The delay before the next attempt, then count the attempt."""
        self.attempt += 1
        return self.delay(self.attempt)

    def reset(self) -> None:
        self.attempt = 0
