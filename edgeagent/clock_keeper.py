"""The agent's sense of time: synchronised or not, steps of the wall clock, corrections.

Events carry the wall time; the heuristics run on a continuous timeline
(edgeagent/timeline.py), so a wall clock step never fires or cancels an alarm.
Until the first sync the wall is fiction: readings are kept (bounded) so the
heuristics can be replayed at their corrected times, and the outbox re-stamps
this boot's buffered events.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from edgeagent.clock import Clock, SyncProbe
from edgeagent.errors import OutboxError
from edgeagent.models import Draft, Reading
from edgeagent.outbox import Outbox
from edgeagent.timeline import STEP_THRESHOLD, Timeline

log = logging.getLogger(__name__)

SKEW_STATE_KEY = "clock_skew"
# Readings kept until the first clock sync, to replay into the engine at their corrected
# times; the oldest go first. ~0.4 KB each in memory: 20 000 held 8 MB on a kit whose
# clock never synced (docs/performance.md, "Footprint"). 2 000 is ~1.5 days of a CASAS
# home (~1 400 sensor lines a day), 200 s of a 10 Hz driver.
MAX_PRESYNC_READINGS = 2_000


class ClockKeeper:
    """Follows the clock's sync state and steps; stamps readings and drafts.

    `store_queued` is called before anything re-stamps stored events (what is
    queued belongs to the old wall); `replay` rewinds the heuristics and feeds
    them the pre-sync readings again when the first sync moves the wall.
    """

    def __init__(self, clock: Clock, sync_probe: SyncProbe, outbox: Outbox, *,
                 store_queued: Callable[[], object],
                 replay: Callable[[list[Reading]], None]) -> None:
        self.clock = clock
        self.sync_probe = sync_probe
        self._outbox = outbox
        self._store_queued = store_queued
        self._replay = replay
        self.synced = False
        self.steps = 0
        self.last_step: dict[str, Any] | None = None
        self._ever_synced = False
        self._presync: deque[Reading] = deque(maxlen=MAX_PRESYNC_READINGS)
        self.timeline = Timeline(clock.monotonic(), clock.wall(), skew=self._stored_skew())

    @property
    def presync_readings(self) -> int:
        """Readings held for the replay at the first sync."""
        return len(self._presync)

    # -- stamping -----------------------------------------------------------------------

    def observe(self, reading: Reading, *, baseline: bool) -> Reading:
        """A reading arrived: check for a step, keep it for the replay; stamped for the engine."""
        self.check_step(reading.mono, reading.wall)  # a step is seen by its first reading
        if not self._ever_synced and not baseline:
            self._presync.append(reading)
        return self.timeline.for_engine(reading)

    def for_outbox(self, draft: Draft) -> Draft:
        return self.timeline.for_outbox(draft)

    def engine_wall(self, mono: float) -> datetime:
        return self.timeline.engine_wall(mono)

    # -- periodic -----------------------------------------------------------------------

    def check(self) -> None:
        """Poll the sync state; on sync, re-stamp this boot's buffered events."""
        synced = bool(self.sync_probe())
        mono, wall = self.clock.monotonic(), self.clock.wall()
        if synced and not self.synced:
            self._store_queued()  # queued drafts are stamped on the old wall: store, re-stamp
            corrected = self._outbox.correct_clock(mono, wall)
            log.info("clock synchronised; corrected the time of %d buffered events", corrected)
            if not self._ever_synced:
                self._first_sync(mono, wall)
        self.synced = synced
        self.check_step(mono, wall)

    def check_step(self, mono: float, wall: datetime) -> None:
        """Follow small drift; absorb a step while synced (events follow, the engine not)."""
        drift = self.timeline.drift(mono, wall)
        if abs(drift) <= STEP_THRESHOLD:
            if drift:
                self.timeline.reanchor(mono, wall)
            return
        if not self._ever_synced:
            return  # the wall is fiction until the first sync, which settles it
        self._store_queued()  # what is queued belongs to the old wall
        step = self.timeline.absorb_step(mono, wall)
        self.steps += 1
        self.last_step = {"step_s": round(step, 3), "at": wall.isoformat(),
                          "engine_skew_s": round(self.timeline.skew, 3)}
        log.warning("wall clock stepped by %+.1f s while synced; new events carry the new "
                    "time, the heuristics keep their continuous timeline (skew %+.1f s)",
                    step, self.timeline.skew)
        try:
            self._outbox.append([], synced=True,
                                state={SKEW_STATE_KEY: repr(self.timeline.skew)})
        except OutboxError:
            log.exception("could not persist the clock skew")

    def _first_sync(self, mono: float, wall: datetime) -> None:
        """The pre-sync wall was fiction: re-anchor, and redo the engine's pre-sync minutes."""
        self._ever_synced = True
        drift = self.timeline.drift(mono, wall)
        self.timeline.reanchor(mono, wall)
        readings, self._presync = list(self._presync), deque()
        if abs(drift) <= STEP_THRESHOLD:
            return
        log.info("first clock sync moved the wall by %+.0f s; replaying %d readings into "
                 "the heuristics at corrected times", drift, len(readings))
        self._replay(readings)

    def _stored_skew(self) -> float:
        raw = self._outbox.load_state(SKEW_STATE_KEY)
        try:
            return float(raw) if raw else 0.0
        except ValueError:
            return 0.0
