"""Readings in, stored events out: gate -> heuristics -> drafts -> outbox.

Every driver reading enters through `emit`, on the event loop. Drafts are
committed once per loop iteration in one outbox transaction, together with
the heuristics' snapshot, so a restart resumes with the timers it had. When
the disk is full, drafts wait in memory (alerts first, bounded) and are
stored as soon as it frees up.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from edgeagent.clock_keeper import ClockKeeper
from edgeagent.config import AgentConfig
from edgeagent.errors import OutboxError, OutboxFull
from edgeagent.heuristics import Engine, build_engine
from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.forward import reading_draft
from edgeagent.heuristics.passthrough import PassthroughEngine
from edgeagent.kit_layout import layout_of
from edgeagent.limits import MAX_READING_BYTES, cap_reading
from edgeagent.models import Draft, Reading
from edgeagent.outbox import Outbox, StoredEvent
from edgeagent.reading_gate import ReadingGate

log = logging.getLogger(__name__)

ENGINE_STATE_KEY = "engine"
MAX_UNSTORED = 10_000

Listener = Callable[[str, dict[str, Any]], None]


def build_default_engine(config: AgentConfig) -> Engine:
    """The home's safety engine (pass-through when `heuristics.enabled = false`), told what
    the configured kit can see (edgeagent/kit_layout.py)."""
    engine = build_engine(config.heuristics, config.home.timezone,
                          send_raw_states=config.outbox.send_raw_states,
                          language=config.home.language)
    if isinstance(engine, SafetyEngine):
        engine.declare(**layout_of(config))
    return engine


class EventPipeline:
    """Turns readings into stored events; tells listeners about both.

    Listeners (`(what, payload)` with what = "reading" or "event") are the live
    status, the announcer, the control socket's `watch`: one that raises is
    logged and removed, never allowed to stop the pipeline.
    """

    def __init__(self, engine: Engine, outbox: Outbox, gate: ReadingGate, keeper: ClockKeeper,
                 *, send_raw_states: bool, counters: dict[str, int],
                 on_reading: Callable[[str], None], on_stored: Callable[[], None]) -> None:
        self._engine = engine
        self._outbox = outbox
        self._gate = gate
        self._keeper = keeper
        self._send_raw_states = send_raw_states
        self.counters = counters
        for name in ("readings", "events", "unstored", "engine_errors"):
            counters.setdefault(name, 0)
        self._on_reading = on_reading
        self._on_stored = on_stored
        self.listeners: list[Listener] = []
        self._drafts: list[Draft] = []
        self._unstored: list[Draft] = []
        self._flush_scheduled = False
        self._last_state = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._restore_engine()
        self._boot_state = self._engine_copy()

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def unstored(self) -> tuple[Draft, ...]:
        """Drafts held in memory because the outbox cannot store them (disk full)."""
        return tuple(self._unstored)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """From now on queued drafts are stored on the next loop iteration."""
        self._loop = loop

    def replace_engine(self, engine: Engine) -> None:
        """A reload's new engine (already given the running engine's snapshot)."""
        self._engine = engine

    # -- readings in --------------------------------------------------------------------

    def emit(self, reading: Reading) -> None:
        """Every driver reading enters here, on the event loop."""
        self.counters["readings"] += 1
        reading = self._gate.canonical(reading)  # the heuristics' spelling of rooms and roles
        capped = cap_reading(reading)  # one huge value must not become one huge event
        if capped is not None:
            count = self.counters["readings_capped"] = self.counters.get("readings_capped", 0) + 1
            if count in (1, 10, 100) or count % 1000 == 0:  # logged, but never a flood
                log.warning("reading from %s/%s over %d bytes: cut to fit (%d so far)",
                            reading.driver, reading.sensor, MAX_READING_BYTES, count)
            reading = capped
        self._on_reading(reading.driver)
        self._notify("reading", {"driver": reading.driver, "device": reading.device,
                                 "sensor": reading.sensor, "value": reading.value,
                                 "room": reading.room, "role": reading.role})
        baseline = self._gate.is_baseline(reading)  # a start-up state: reported, not a change
        stamped = self._keeper.observe(reading, baseline=baseline)
        if baseline:
            self.counters["baselines"] = self.counters.get("baselines", 0) + 1
            draft = reading_draft(stamped, send_raw_states=self._send_raw_states)
            drafts = [draft] if draft is not None else []
        else:
            drafts = self._feed(stamped)
        drafts = self._gate.mark(reading, drafts)
        self.queue([self._keeper.for_outbox(d) for d in drafts])

    def _feed(self, stamped: Reading) -> list[Draft]:
        try:
            return self._engine.feed(stamped)
        except Exception:
            self.counters["engine_errors"] += 1
            log.exception("heuristics failed on %s; forwarding the reading unchanged", stamped)
            return PassthroughEngine().feed(stamped)

    def tick(self, mono: float) -> None:
        """The heuristics' timers, then commit what they raised (and what waits in memory)."""
        try:
            drafts = self._engine.tick(mono, self._keeper.engine_wall(mono))
        except Exception:
            self.counters["engine_errors"] += 1
            log.exception("heuristics tick failed")
            drafts = []
        self.queue([self._keeper.for_outbox(d) for d in drafts])
        if self._unstored:
            self.flush()

    def replay(self, readings: list[Reading]) -> None:
        """Rewind the heuristics to their state at start and feed them `readings` again.

        The drafts of the replay are dropped: those readings' events (and any alarm
        they raised) are already stored, and the outbox has just re-stamped them.
        """
        try:
            self._engine.restore(self._boot_state)
            for reading in readings:
                self._engine.feed(self._keeper.timeline.for_engine(reading))
        except Exception:
            self.counters["engine_errors"] += 1
            log.exception("heuristics replay after clock sync failed")

    # -- events out ---------------------------------------------------------------------

    def queue(self, drafts: list[Draft]) -> None:
        """Store `drafts` on the next loop iteration, with whatever else arrives meanwhile."""
        if not drafts:
            return
        self._drafts.extend(drafts)
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def store_now(self, drafts: list[Draft]) -> list[StoredEvent]:
        """Queue `drafts` and commit at once; the events stored (with anything queued)."""
        self.queue(drafts)
        return self.flush()

    def flush(self) -> list[StoredEvent]:
        """Commit queued drafts (one transaction), then tell the publisher."""
        self._flush_scheduled = False
        drafts = self._unstored + self._drafts
        self._drafts = []
        state = self._engine_state()
        if not drafts and state is None:
            return []
        try:
            stored = self._outbox.append(
                drafts, synced=self._keeper.synced,
                state={ENGINE_STATE_KEY: state} if state is not None else None)
        except OutboxFull:
            self._hold_unstored(drafts)
            return []
        except OutboxError:
            log.exception("outbox write failed; keeping %d drafts to retry", len(drafts))
            self._hold_unstored(drafts)
            return []
        self._unstored = []
        if state is not None:
            self._last_state = state
        self.counters["events"] += len(stored)
        for event in stored:
            self._notify("event", {"seq": event.seq, "kind": event.kind, "type": event.type,
                                   "body": event.body})
        self._on_stored()
        return stored

    def _hold_unstored(self, drafts: list[Draft]) -> None:
        """Disk full: keep drafts in memory until it frees up, alerts first, bounded."""
        drafts.sort(key=lambda d: int(d.priority))
        self._unstored = drafts[:MAX_UNSTORED]
        self.counters["unstored"] = len(self._unstored)
        log.error("outbox cannot store (%d events waiting in memory)", len(self._unstored))

    def _notify(self, what: str, payload: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(what, payload)
            except Exception:
                log.exception("listener failed; removed")
                self.listeners.remove(listener)

    # -- the heuristics' state ----------------------------------------------------------

    def _engine_state(self) -> str | None:
        """The snapshot to store with this batch, or None when unchanged (or unusable)."""
        try:
            state = json.dumps(self._engine.snapshot(), separators=(",", ":"), sort_keys=True)
        except (TypeError, ValueError):
            log.exception("heuristics state is not serialisable; not persisted")
            return None
        return None if state == self._last_state else state

    def _restore_engine(self) -> None:
        raw = self._outbox.load_state(ENGINE_STATE_KEY)
        if not raw:
            return
        try:
            self._engine.restore(json.loads(raw))
            self._last_state = raw
        except (ValueError, TypeError, KeyError):
            log.exception("stored heuristics state unreadable; starting fresh")

    def _engine_copy(self) -> dict[str, Any]:
        """A detached copy of the engine's state (to rewind it at the first sync)."""
        try:
            copy: dict[str, Any] = json.loads(json.dumps(self._engine.snapshot()))
        except (TypeError, ValueError):
            return {}
        return copy
