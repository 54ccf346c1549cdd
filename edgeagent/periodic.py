"""Runs the main loop's periodic tasks so that one that raises is logged and counted, never fatal.

The heuristics tick, the clock check, the status refresh, the driver
watchdogs and pruning all run from the agent's main loop. An exception in
any of them (a bug, or an OS error such as running out of file descriptors)
used to end the loop and the agent with it: no alarm would be raised until
systemd restarted it, and the same fault could kill it again. Here a failing
task logs its traceback once, then one line per `relog_s` while it keeps
failing, and one line when it recovers; its failures are counted for the
status and health reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

RELOG_S = 60.0


@dataclass(slots=True)
class TaskFailures:
    """One periodic task's failure record."""

    failures: int = 0
    streak: int = 0
    last_error: str = ""
    last_logged: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"failures": self.failures, "failing": self.streak > 0,
                "last_error": self.last_error}


class PeriodicGuard:
    """Calls periodic tasks by name; exceptions are contained, logged sparingly and counted."""

    def __init__(self, monotonic: Callable[[], float], *, relog_s: float = RELOG_S) -> None:
        self._monotonic = monotonic
        self.relog_s = relog_s
        self.tasks: dict[str, TaskFailures] = {}

    def run(self, name: str, task: Callable[[], object]) -> bool:
        """Run `task`; False if it raised (already logged and counted)."""
        try:
            task()
        except Exception as exc:  # noqa: BLE001 - contained by design, see the docstring
            self._failed(name, exc)
            return False
        record = self.tasks.get(name)
        if record is not None and record.streak:
            log.warning("periodic task %s works again after %d failures", name, record.streak)
            record.streak = 0
            record.last_logged = None
        return True

    def _failed(self, name: str, exc: Exception) -> None:
        record = self.tasks.setdefault(name, TaskFailures())
        record.failures += 1
        record.streak += 1
        record.last_error = f"{type(exc).__name__}: {exc}"[:300]
        now = self._monotonic()
        if record.last_logged is None:
            record.last_logged = now
            log.error("periodic task %s failed; the agent carries on and retries it",
                      name, exc_info=exc)
        elif now - record.last_logged >= self.relog_s:
            record.last_logged = now
            log.error("periodic task %s still failing (%d times in a row): %s", name,
                      record.streak, record.last_error)

    @property
    def failures(self) -> int:
        return sum(record.failures for record in self.tasks.values())

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: record.as_dict() for name, record in self.tasks.items()}
