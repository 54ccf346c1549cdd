"""Closing a day: the `summary` event and the `routine_change` watch.

Called by the engine's timer at `summary_hour` local time; it reads and
resets the ledger in the home state and keeps the last 14 days' figures.
"""

from __future__ import annotations

from edgeagent.heuristics.alerts import SOURCE, AlertBook
from edgeagent.heuristics.localtime import LocalTime, utc
from edgeagent.heuristics.reasons import say
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.heuristics.state import HomeState
from edgeagent.heuristics.summary import (
    METRIC_WORDS,
    METRICS,
    Ledger,
    baseline_of,
    is_large,
    metrics_of,
    summary_data,
)
from edgeagent.models import Draft, Kind, Severity

CHANGE_METRICS = ("night_bathroom_visits", "night_bed_exits", "time_in_bed_min", "active_hours")


def close_day(state: HomeState, settings: HeuristicsSettings, local: LocalTime,
              book: AlertBook, boundary: float) -> list[Draft]:
    """The day's summary draft (and any routine_change transitions); starts a new ledger."""
    ledger = state.ledger
    assert ledger is not None
    presence = state.presence
    if presence.state == "away" and presence.away_since is not None:
        ledger.away_seconds += boundary - max(presence.away_since, ledger.start)
    ledger.active_hours = sorted(set(ledger.active_hours))

    def text(ts: float) -> str:
        return local.local(ts).isoformat(timespec="minutes")

    data = summary_data(ledger, boundary, local.day_key(boundary), text, state.history,
                        settings.routine_min_days)
    out = [Draft(
        kind=Kind.SUMMARY, type="daily", severity=Severity.INFO, source=dict(SOURCE),
        mono=boundary + book.mono_offset, wall=utc(boundary), data=data,
    )]
    metrics = metrics_of(ledger)
    if not ledger.partial and ledger.events > 0:
        out.extend(routine_change(state, settings, book, metrics, boundary))
        state.history.append(metrics)
        del state.history[:-settings.baseline_days]
    state.ledger = Ledger(start=boundary)
    state.next_summary_at = local.next_at(boundary, settings.summary_hour)
    return out


def routine_change(state: HomeState, settings: HeuristicsSettings, book: AlertBook,
                   metrics: dict[str, float | None], at: float) -> list[Draft]:
    """Raise when a figure has been far from the baseline for N days; resolve when back."""
    out: list[Draft] = []
    if len(state.history) < settings.routine_min_days:
        return out
    base = baseline_of(state.history)
    for name in CHANGE_METRICS:
        value = metrics.get(name)
        if value is None or name not in base or name not in METRICS:
            continue
        if is_large(name, value, base[name]):
            streak = state.change_streak.get(name, 0) + 1
            state.change_streak[name] = streak
            if streak >= settings.routine_change_days:
                draft = book.raise_(
                    "routine_change", Severity.WARNING, at,
                    say("routine_change", metric=METRIC_WORDS[name], value=f"{value:g}",
                        base=f"{base[name]:g}", days=streak),
                    key=name, extra={"metric": name, "value": value, "baseline": base[name]},
                )
                if draft is not None:
                    out.append(draft)
        else:
            state.change_streak[name] = 0
            draft = book.resolve("routine_change", at,
                                 say("routine_back", metric=METRIC_WORDS[name],
                                     value=f"{value:g}", base=f"{base[name]:g}"),
                                 key=name)
            if draft is not None:
                out.append(draft)
    return out
