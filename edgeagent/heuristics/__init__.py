"""Pure safety heuristics: readings and clock ticks in, event drafts out. No I/O, no sleeps.

The supervisor, `edgeagent replay` and the tests all drive an `Engine`
through the same three calls, so a replayed year and a live night take
the same code path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.passthrough import PassthroughEngine
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Draft, Reading

__all__ = ["Engine", "HeuristicsSettings", "build_engine"]


class Engine(Protocol):
    """What the supervisor needs from the heuristics."""

    def feed(self, reading: Reading) -> list[Draft]:
        """Take one reading; return the drafts it causes (forwarded states, alerts)."""
        ...

    def tick(self, mono: float, wall: datetime) -> list[Draft]:
        """Let time pass with no reading; timers (inactivity, bed exit) fire here."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state, stored with the events it produced so a restart resumes it."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Resume from `snapshot()`; unknown or old state is ignored, not fatal."""
        ...


def build_engine(settings: HeuristicsSettings | None, timezone: str,
                 send_raw_states: bool = True, language: str = "en") -> Engine:
    """The engine a home runs: the full safety engine, or passthrough when disabled.

    `language` (`home.language`): what alert reasons are written in.
    """
    settings = settings or HeuristicsSettings()
    if not settings.enabled:
        return PassthroughEngine(send_raw_states=send_raw_states, language=language)
    return SafetyEngine(settings, timezone, send_raw_states=send_raw_states,
                        language=language)
