"""The daily summary and the slow-change watch built on it.

A day's summary closes at `summary_hour` local time (noon by default), so
one summary holds one whole night: sleep onset, wake, time in bed, bed exits
and bathroom visits at night, time away, active hours. Each figure is
compared with the median of the resident's own previous 14 summaries; a
large deviation lasting `routine_change_days` days in a row raises a
`routine_change` alert (more night bathroom visits than usual is an early
sign of a urinary infection). Appliance use (first one in the morning, uses,
meals prepared) is reported but not yet part of the baseline.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

METRICS = ("time_in_bed_min", "night_bed_exits", "night_bathroom_visits", "time_away_min",
           "active_hours")


@dataclass(slots=True)
class Ledger:
    """Counters of the summary window being filled."""

    start: float
    partial: bool = False
    sleep_onset: float | None = None
    wake: float | None = None
    night_up_seconds: float = 0.0
    night_bed_exits: int = 0
    night_bathroom_visits: int = 0
    away_seconds: float = 0.0
    active_hours: list[str] = field(default_factory=list)
    events: int = 0
    # Appliances switched on: the first in the morning is a wake-up signal.
    first_appliance: float | None = None
    first_appliance_role: str | None = None
    appliance_uses: int = 0
    meals: int = 0
    last_meal: float | None = None


def note_appliance(ledger: Ledger, role: str | None, at: float, *, morning: bool,
                   meal_roles: list[str], meal_gap_seconds: float) -> None:
    """Count an appliance switched on; cooking uses close together are one meal."""
    ledger.appliance_uses += 1
    if morning and ledger.first_appliance is None:
        ledger.first_appliance, ledger.first_appliance_role = at, role
    if role in meal_roles:
        if ledger.last_meal is None or at - ledger.last_meal >= meal_gap_seconds:
            ledger.meals += 1
        ledger.last_meal = at


def metrics_of(ledger: Ledger) -> dict[str, float | None]:
    in_bed: float | None = None
    onset, wake = ledger.sleep_onset, ledger.wake
    if onset is not None and wake is not None and wake > onset:
        in_bed = round((wake - onset - ledger.night_up_seconds) / 60, 1)
    return {
        "time_in_bed_min": in_bed,
        "night_bed_exits": float(ledger.night_bed_exits),
        "night_bathroom_visits": float(ledger.night_bathroom_visits),
        "time_away_min": round(ledger.away_seconds / 60, 1),
        "active_hours": float(len(ledger.active_hours)),
    }


def baseline_of(history: list[dict[str, float | None]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in METRICS:
        values = [h[name] for h in history if h.get(name) is not None]
        if values:
            out[name] = float(statistics.median(v for v in values if v is not None))
    return out


def is_large(name: str, value: float, base: float) -> bool:
    """Whether a deviation from the baseline is large enough to matter clinically."""
    if name in ("night_bathroom_visits", "night_bed_exits"):
        return value >= base + max(2.0, base)  # doubled and at least two more
    if name == "time_in_bed_min":
        return abs(value - base) >= 120.0
    if name == "active_hours":
        return value <= base - max(3.0, 0.3 * base)
    return False


METRIC_WORDS = {
    "night_bed_exits": "bed exits at night",
    "night_bathroom_visits": "bathroom visits at night",
    "time_in_bed_min": "minutes in bed",
    "active_hours": "active hours",
    "time_away_min": "minutes away",
}


def summary_data(ledger: Ledger, end: float, day: str, local: Any,
                 history: list[dict[str, float | None]], min_days: int) -> dict[str, Any]:
    """The `data` of a daily summary event; `local` formats instants as local HH:MM."""
    metrics = metrics_of(ledger)
    data: dict[str, Any] = {
        "day": day,
        "partial": ledger.partial,
        "sleep_onset": local(ledger.sleep_onset) if ledger.sleep_onset is not None else None,
        "wake": local(ledger.wake) if ledger.wake is not None else None,
        "events": ledger.events,
        "first_appliance_use": (local(ledger.first_appliance)
                                if ledger.first_appliance is not None else None),
        "first_appliance_role": ledger.first_appliance_role,
        "appliance_uses": ledger.appliance_uses,
        "meals_prepared": ledger.meals,
        **metrics,
    }
    if len(history) >= min_days:
        base = baseline_of(history)
        data["baseline"] = base
        data["deviation"] = {
            name: round(value - base[name], 1)
            for name, value in metrics.items()
            if value is not None and name in base
        }
    return data
