"""The agent's continuous timeline: what "now" means for the heuristics and for `ts`.

The kernel's wall clock can jump: a Pi without an RTC boots in 1970 (or at
last shutdown's time) until NTP syncs, and NTP (or an operator) may step a
synced clock by any amount. The heuristics count silences and know the
night from wall time, so a jump of +1 year would look like a year without
activity (and a year of daily summaries), and -1 year would freeze their
timers for a year.

Policy (see docs/reliability.md, "clock steps"):

- Monotonic time never jumps, so both walls are derived from it:
  `event wall = anchor_wall + (mono - anchor_mono)` stamps events (`ts`), and
  `engine wall = event wall - skew` is all the heuristics ever see.
- The anchor is taken at start and re-taken at the first sync (the pre-sync
  wall was fiction; the supervisor then rewinds the engine and replays the
  pre-sync readings at their corrected times, and the outbox re-stamps the
  buffered events `corrected`). Drift within `STEP_THRESHOLD` is followed
  silently (re-anchored; the engine sees at most that much).
- A step beyond `STEP_THRESHOLD` while synced re-anchors the event wall only
  (new events carry the new, synced time) and adds the step to `skew`, so
  the engine's time stays continuous. The skew is persisted so a restart
  does not replay the jump into the engine either.

Pure: no I/O, no clock reads; the supervisor passes in what it read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from edgeagent.models import Draft, Reading

STEP_THRESHOLD = 2.0  # seconds between the system wall and the timeline that count as a step


@dataclass(slots=True)
class Timeline:
    """Maps monotonic seconds to the event wall and the (continuous) engine wall."""

    anchor_mono: float
    anchor_wall: datetime
    skew: float = 0.0  # engine wall = event wall - skew (sum of the steps seen while synced)

    def wall(self, mono: float) -> datetime:
        """The wall time events are stamped with."""
        return self.anchor_wall + timedelta(seconds=mono - self.anchor_mono)

    def engine_wall(self, mono: float) -> datetime:
        """The wall time the heuristics see: never jumps once the clock has synced."""
        return self.wall(mono) - timedelta(seconds=self.skew)

    def drift(self, mono: float, system_wall: datetime) -> float:
        """Seconds the system wall is ahead of the timeline (negative: behind)."""
        return (system_wall - self.wall(mono)).total_seconds()

    def reanchor(self, mono: float, system_wall: datetime) -> None:
        """Follow the system wall from now on (event wall only; skew is unchanged)."""
        self.anchor_mono, self.anchor_wall = mono, system_wall

    def absorb_step(self, mono: float, system_wall: datetime) -> float:
        """A step while synced: events follow the new wall, the engine does not. Returns it."""
        step = self.drift(mono, system_wall)
        self.reanchor(mono, system_wall)
        self.skew += step
        return step

    def for_engine(self, reading: Reading) -> Reading:
        """The reading as the heuristics must see it: stamped on the continuous timeline."""
        return replace(reading, wall=self.engine_wall(reading.mono))

    def for_outbox(self, draft: Draft) -> Draft:
        """An engine draft moved back onto the event wall (a no-op without a skew)."""
        if not self.skew:
            return draft
        return replace(draft, wall=draft.wall + timedelta(seconds=self.skew))
