"""The resident's own rhythm: how long they are usually still at each hour, when they get up.

Fixed inactivity limits either wake the call centre every afternoon nap or
miss a fall for half a day. Instead, for each local hour we keep the longest
silence of every day (while home and not asleep), take a high percentile
over a rolling window (28 days by default) with neighbouring hours pooled,
add a margin and clamp it between a floor and a ceiling. Until a week of
history exists the conservative default applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edgeagent.heuristics.settings import HeuristicsSettings

NO_DATA = -1.0  # the hour had no activity while home (away, asleep): it says nothing


@dataclass(slots=True)
class RoutineState:
    """Per local day: the longest silence that started in each hour (seconds, or NO_DATA)."""

    gaps: dict[str, list[float]] = field(default_factory=dict)
    wakes: dict[str, float] = field(default_factory=dict)  # local day -> minutes after midnight
    # Per local day: the longest silence at home, awake, that began and ended in the day.
    longest: dict[str, float] = field(default_factory=dict)
    # Per local day: her longest sit in a chair (held occupancy), kept apart from silences.
    sits: dict[str, float] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: robust on a handful of days)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class LearnedRoutine:
    """Learns per-hour silence limits and the usual wake time from activity gaps."""

    def __init__(self, settings: HeuristicsSettings) -> None:
        self.settings = settings
        self.state = RoutineState()
        self._limits_for: str | None = None
        self._limits: list[float] = []

    def record_gap(self, day: str, hour: int, seconds: float) -> None:
        row = self.state.gaps.get(day)
        if row is None:
            row = [NO_DATA] * 24
            self.state.gaps[day] = row
            self._trim(self.state.gaps, self.settings.routine_window_days + 1)
        row[hour] = max(row[hour], seconds)

    def record_day_silence(self, day: str, seconds: float) -> None:
        """A silence at home in the day that ended with her moving again: ordinary life."""
        longest = self.state.longest
        if seconds > longest.get(day, 0.0):
            longest[day] = seconds
            self._trim(longest, self.settings.routine_window_days)

    def record_sit(self, day: str, seconds: float) -> None:
        sits = self.state.sits
        if seconds > sits.get(day, 0.0):
            sits[day] = seconds
            self._trim(sits, self.settings.routine_window_days)

    def longest_sit(self, today: str) -> float:
        """Her longest sit over the window (0 while learning)."""
        if len([d for d in self.state.gaps if d < today]) < self.settings.routine_min_days:
            return 0.0
        return max((v for d, v in self.state.sits.items() if d < today), default=0.0)

    def longest_silence(self, today: str) -> float:
        """Her longest ordinary day silence over the window (0 while learning)."""
        past = [v for d, v in self.state.longest.items() if d < today]
        days = [d for d in self.state.gaps if d < today]
        if len(days) < self.settings.routine_min_days:
            return 0.0
        return max(past, default=0.0)

    def usual_wake_near(self, today: str, minutes: float) -> bool:
        """In the morning, no earlier than half an hour before her earliest usual wake
        time (once a week of wakes is known)."""
        past = [m for d, m in sorted(self.state.wakes.items()) if d < today]
        if len(past) < self.settings.routine_min_days or minutes >= 12 * 60:
            return False
        return minutes >= percentile(past, 0.1) - 30

    def saw_activity(self, day: str, hour: int) -> None:
        """Mark the hour as lived at home (a zero silence), so it counts in the percentile."""
        row = self.state.gaps.get(day)
        if row is None or row[hour] == NO_DATA:
            self.record_gap(day, hour, 0.0)

    def record_wake(self, day: str, minutes: float) -> None:
        if day not in self.state.wakes:
            self.state.wakes[day] = minutes
            self._trim(self.state.wakes, self.settings.baseline_days)

    @staticmethod
    def _trim(table: dict[str, list[float]] | dict[str, float], keep: int) -> None:
        for old in sorted(table)[:-keep]:
            del table[old]

    def limit_seconds(self, today: str, hour: int) -> float:
        """How long a silence starting at `hour` may last before it is unusual (seconds)."""
        if self._limits_for != today:
            self._limits = self._compute(today)
            self._limits_for = today
        return self._limits[hour]

    def _compute(self, today: str) -> list[float]:
        s = self.settings
        default = s.inactivity_default_minutes * 60
        floor, ceiling = s.inactivity_floor_minutes * 60, s.inactivity_ceiling_minutes * 60
        days = [d for d in sorted(self.state.gaps) if d < today][-s.routine_window_days:]
        if len(days) < s.routine_min_days:
            return [min(max(default, floor), ceiling)] * 24
        limits = []
        for hour in range(24):
            pooled = [
                max(self.state.gaps[d][(hour + shift) % 24] for shift in (-1, 0, 1))
                for d in days
            ]
            lived = [gap for gap in pooled if gap != NO_DATA]
            if len(lived) < s.routine_min_days:
                limits.append(min(max(default, floor), ceiling))
                continue
            learned = percentile(lived, s.routine_percentile) * s.routine_margin
            limits.append(min(max(learned, floor), ceiling))
        return limits

    def not_up_minutes(self, today: str) -> float:
        """Minutes after local midnight by which the resident is normally up, plus margin."""
        s = self.settings
        earliest = s.not_up_earliest.hour * 60 + s.not_up_earliest.minute
        latest = s.not_up_latest.hour * 60 + s.not_up_latest.minute
        past = [m for d, m in sorted(self.state.wakes.items()) if d < today]
        if len(past) < s.routine_min_days:
            return float(s.not_up_default.hour * 60 + s.not_up_default.minute)
        usual = percentile(past, 0.9) + s.not_up_margin_minutes
        return float(min(max(usual, earliest), latest))
