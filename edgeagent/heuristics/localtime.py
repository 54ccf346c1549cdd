"""The home's local time: night windows, hours of day, day boundaries, DST-safe.

The engine keeps every instant as UTC epoch seconds; only here is it turned
into the home's wall time. zoneinfo does the daylight-saving arithmetic, so
a night that is 7 or 9 hours long is handled without special cases.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


def epoch(when: datetime) -> float:
    """UTC epoch seconds of an aware datetime (naive ones are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _in_window(t: time, start: time, end: time) -> bool:
    if start < end:
        return start <= t < end
    return t >= start or t < end


class LocalTime:
    """Local-time questions about UTC instants for one home's time zone."""

    def __init__(self, zone: str, night_start: time, night_end: time) -> None:
        self.zone = ZoneInfo(zone)
        self.night_start = night_start
        self.night_end = night_end
        self._cache_hour = -1.0
        self._cache_local = datetime(2000, 1, 1)
        self._slot_key = -1
        self._slot = ("", 0)

    def local(self, ts: float) -> datetime:
        # Readings come in bursts within a second; a tiny cache saves zoneinfo calls.
        if ts == self._cache_hour:
            return self._cache_local
        value = datetime.fromtimestamp(ts, self.zone)
        self._cache_hour, self._cache_local = ts, value
        return value

    def slot(self, ts: float) -> tuple[str, int]:
        """(local day, local hour) of `ts`, cached per 15-minute UTC slot.

        Every zone offset is a multiple of 15 minutes, so a local hour never
        changes inside one such slot.
        """
        key = int(ts // 900)
        if key != self._slot_key:
            moment = self.local(ts)
            self._slot_key = key
            self._slot = (moment.date().isoformat(), moment.hour)
        return self._slot

    def hhmm(self, ts: float) -> str:
        return self.local(ts).strftime("%H:%M")

    def hour(self, ts: float) -> int:
        return self.slot(ts)[1]

    def day_key(self, ts: float) -> str:
        return self.slot(ts)[0]

    def is_night(self, ts: float) -> bool:
        return _in_window(self.local(ts).time(), self.night_start, self.night_end)

    def is_deep_night(self, ts: float) -> bool:
        """After midnight and before the night ends: nearly everyone is in bed."""
        if self.night_start < self.night_end:
            return self.is_night(ts)
        return self.local(ts).time() < self.night_end

    def near_night_end(self, ts: float, hours: float = 2.0) -> bool:
        """Night, and within `hours` of its end (the hours early risers get up in)."""
        if not self.is_night(ts):
            return False
        local = self.local(ts)
        end = datetime.combine(local.date(), self.night_end, tzinfo=local.tzinfo)
        if end < local:
            end += timedelta(days=1)
        return (end - local).total_seconds() <= hours * 3600

    def at(self, day: date, clock: time) -> float:
        """Epoch of local `clock` on `day`; a time skipped by DST maps to just after the gap."""
        naive = datetime.combine(day, clock)
        aware = naive.replace(tzinfo=self.zone)
        back = aware.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None)
        if back != naive:  # inside a spring-forward gap
            aware = (naive + timedelta(hours=1)).replace(tzinfo=self.zone)
        return aware.timestamp()

    def next_at(self, ts: float, clock: time) -> float:
        """First instant strictly after `ts` at which local time is `clock`."""
        day = self.local(ts).date()
        for offset in range(3):
            candidate = self.at(day + timedelta(days=offset), clock)
            if candidate > ts:
                return candidate
        return self.at(day + timedelta(days=3), clock)  # pragma: no cover

    def night_or_next_start(self, ts: float) -> float:
        """`ts` itself if it is night, else the start of the next night."""
        if self.is_night(ts):
            return ts
        return self.next_at(ts, self.night_start)

    def night_key(self, ts: float) -> str:
        """The date a night started on (02:00 on the 5th belongs to the night of the 4th)."""
        local = self.local(ts)
        day = local.date()
        if local.time() < self.night_end and self.night_start > self.night_end:
            day -= timedelta(days=1)
        return day.isoformat()


@lru_cache(maxsize=8)
def zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True
