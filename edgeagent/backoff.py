"""Exponential backoff with full jitter (AWS architecture blog), so a thousand homes
whose broker restarted do not all reconnect in the same second."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    initial: float = 1.0
    maximum: float = 120.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        """Uniform in [0, min(max, initial * 2**attempt)], then count the attempt."""
        cap = min(self.maximum, self.initial * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return self.rng.uniform(0, cap)

    def reset(self) -> None:
        self.attempt = 0
