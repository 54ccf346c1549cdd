"""Logs a driver that keeps failing for the same reason once, then a summary a minute.

The supervisor restarts a failed driver with backoff, which is right, but a
driver that cannot work here (no GPIO library, no adapter) then fails every
few seconds for the same reason: one long warning per restart and per driver
buried the journal (27 lines a minute for three GPIO drivers). Here the first
failure is logged in full; the same reason again is counted and summed up in
one line per `relog_s`; a new reason is logged in full again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

RELOG_S = 60.0
SUMMARY_REASON_CHARS = 120


@dataclass(slots=True)
class _Streak:
    reason: str
    last_logged: float
    unlogged: int = 0


class DriverFailureLog:
    """Decides which driver stops reach the log; keyed by driver name."""

    def __init__(self, log: logging.Logger, monotonic: Callable[[], float], *,
                 relog_s: float = RELOG_S) -> None:
        self._log = log
        self._monotonic = monotonic
        self.relog_s = relog_s
        self._streaks: dict[str, _Streak] = {}

    def stopped(self, driver: str, reason: str, restarts: int, delay: float) -> None:
        """A driver ended with `reason`; it restarts (`restarts` so far) in `delay` s."""
        now = self._monotonic()
        streak = self._streaks.get(driver)
        if streak is None or streak.reason != reason:
            self._streaks[driver] = _Streak(reason, now)
            self._log.warning("driver %s stopped (%s); restart %d in %.1fs", driver, reason,
                              restarts, delay)
            return
        streak.unlogged += 1
        if now - streak.last_logged < self.relog_s:
            self._log.debug("driver %s stopped again, same reason; restart %d in %.1fs",
                            driver, restarts, delay)
            return
        self._log.warning("driver %s still failing: %d more restarts in %.0f s, same reason (%s)",
                          driver, streak.unlogged, now - streak.last_logged,
                          _shorten(reason))
        streak.last_logged = now
        streak.unlogged = 0

    def ran_well(self, driver: str) -> None:
        """The driver ran long enough to count as working: its next failure is news."""
        self._streaks.pop(driver, None)


def _shorten(reason: str) -> str:
    if len(reason) <= SUMMARY_REASON_CHARS:
        return reason
    return reason[: SUMMARY_REASON_CHARS - 1] + "…"
