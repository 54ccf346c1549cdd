"""Wires drivers -> heuristics -> outbox -> publisher, and keeps each part alive.

A driver that raises is restarted with backoff and reported; it never takes
the agent down. The systemd watchdog is fed from the main tick only, so a
wedged event loop stops the pings and systemd restarts us.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edgeagent import __version__, systemd
from edgeagent.backoff import Backoff
from edgeagent.clock import Clock, SyncProbe, SystemClock, boot_id
from edgeagent.clock_sync import clock_synced
from edgeagent.config import AgentConfig
from edgeagent.control import start_control
from edgeagent.downlink import CommandArgsError, CommandRouter
from edgeagent.driver import Driver, DriverContext, DriverOptions, HealthState, load_driver_class
from edgeagent.driver_failures import DriverFailureLog
from edgeagent.errors import DriverError, HardwareUnavailable, OutboxError, OutboxFull
from edgeagent.heuristics import Engine, build_engine
from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.forward import reading_draft
from edgeagent.heuristics.passthrough import PassthroughEngine
from edgeagent.kit_layout import layout_of
from edgeagent.limits import MAX_CONFIG_PAYLOAD_BYTES, MAX_READING_BYTES, cap_reading
from edgeagent.live_status import LiveStatus
from edgeagent.models import Draft, Kind, Reading, Severity
from edgeagent.outbox import Outbox, StoredEvent
from edgeagent.outbox_continuity import OutboxFileWatch, continue_seq
from edgeagent.outputs.announcer import Announcer
from edgeagent.outputs.runtime import OutputSet
from edgeagent.periodic import PeriodicGuard
from edgeagent.publisher import Publisher
from edgeagent.reading_gate import ReadingGate
from edgeagent.reload import ReloadResult
from edgeagent.reload import apply as apply_reload
from edgeagent.replay_window import ReplayWindow
from edgeagent.resend import resend_handler
from edgeagent.secrets import check_private
from edgeagent.timeline import STEP_THRESHOLD, Timeline
from edgeagent.topics import Topics
from edgeagent.updates.remote import CriticalAlerts, RemoteUpdates
from edgeagent.updates.remote_config import RemoteConfig

log = logging.getLogger(__name__)

ENGINE_STATE_KEY = "engine"
SKEW_STATE_KEY = "clock_skew"
COMMAND_IDS_KEY = "command_ids"
PREVIOUS_VERSION_KEY = "update_previous_version"
MAX_UNSTORED = 10_000
# Readings kept until the first clock sync, to replay into the engine at their corrected
# times (edgeagent/timeline.py); the oldest go first. ~0.4 KB each in memory: 20 000
# held 8 MB on a kit whose clock never synced (docs/performance.md, "Footprint"). 2 000
# is ~1.5 days of a CASAS home (~1 400 sensor lines a day), 200 s of a 10 Hz driver.
MAX_PRESYNC_READINGS = 2_000


def build_default_engine(config: AgentConfig) -> Engine:
    """The home's safety engine (pass-through when `heuristics.enabled = false`), told what
    the configured kit can see (edgeagent/kit_layout.py)."""
    engine = build_engine(config.heuristics, config.home.timezone,
                          send_raw_states=config.outbox.send_raw_states,
                          language=config.home.language)
    if isinstance(engine, SafetyEngine):
        engine.declare(**layout_of(config))
    return engine


def check_secrets(config: AgentConfig) -> None:
    """Secret files must be private to the agent: raise ConfigError naming the key if not."""
    if config.mqtt.password_file is not None:
        check_private(config.mqtt.password_file, "mqtt.password_file")
    if config.mqtt.key_file is not None:
        check_private(config.mqtt.key_file, "mqtt.key_file")
    for index, driver in enumerate(config.drivers):
        for key, path in driver.secret_files().items():
            check_private(path, f"drivers[{index}].{key}")


@dataclass(slots=True)
class DriverSlot:
    """One configured driver and its restart history."""

    options: DriverOptions
    driver: Driver | None = None
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    watchdog_restarts: int = 0
    last_error: str = ""
    readings: int = 0
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 60.0))

    def health(self) -> dict[str, Any]:
        base: dict[str, Any] = {"type": self.options.type, "restarts": self.restarts,
                                "watchdog_restarts": self.watchdog_restarts,
                                "readings": self.readings, "last_error": self.last_error}
        if self.driver is not None:
            base.update(self.driver.health.as_dict())
        else:
            base["state"] = str(HealthState.STARTING)
        return base


Listener = Callable[[str, dict[str, Any]], None]


class Agent:
    """The daemon. `run(stop)` returns after a clean shutdown."""

    def __init__(  # noqa: PLR0915 - assembles every component of the agent in dependency order
        self,
        config: AgentConfig,
        *,
        clock: Clock | None = None,
        sync_probe: SyncProbe = clock_synced,
        engine: Engine | None = None,
        tick_interval: float = 1.0,
        sync_interval: float = 5.0,
        status_interval: float | None = None,
        driver_factory: Callable[[DriverOptions, DriverContext], Driver] | None = None,
    ) -> None:
        self.config = config
        self.gate = ReadingGate(lambda: self.config)
        self.clock: Clock = clock or SystemClock()
        self.sync_probe = sync_probe
        self.engine: Engine = engine or build_default_engine(config)
        self.tick_interval = tick_interval
        self.sync_interval = sync_interval
        self.status_interval = (status_interval if status_interval is not None
                                else float(config.mqtt.status_interval))
        self._driver_factory = driver_factory
        self.boot_id = boot_id()
        check_secrets(config)  # refuse to start, naming the key, before touching anything
        self.outbox = Outbox(
            config.outbox.path, config.home.id, boot_id=self.boot_id,
            max_bytes=config.outbox.max_bytes,
            retention=timedelta(hours=config.outbox.retention_hours),
        )
        self.slots = [DriverSlot(opts) for opts in config.drivers if opts.enabled]
        self.router = CommandRouter(
            topics=Topics(config.mqtt.topic_prefix, config.home.id),
            rate_per_minute=config.commands.rate_per_minute,
            wall=lambda: self.clock.wall() if self.synced else None,
            monotonic=self.clock.monotonic,
            replay=ReplayWindow(load=lambda: self.outbox.load_state(COMMAND_IDS_KEY),
                                save=self._save_command_ids),
            reply_prefix=config.commands.reply_prefix)
        self.router.allow_changes = config.commands.allow_changes
        self.router.allow_diagnostics = config.commands.allow_diagnostics
        self.router.register("ping", self._cmd_ping)
        self.router.register("outbox-stats", self._cmd_outbox_stats)
        # `doctor` and `bundle` (edgeagent/doctor/remote.py), imported on first use: the
        # doctor's checks (TLS, X.509) need not slow every start of the daemon.
        # Both disclose config and logs: off unless `commands.allow_diagnostics`.
        self.router.register("doctor", self._cmd_remote("doctor"), discloses=True)
        self.router.register("bundle", self._cmd_remote("bundle"), discloses=True)
        self.publisher = Publisher(
            config.mqtt, config.home.id, self.outbox, status=self.status,
            on_command=self.router.handle if config.commands.enabled else None,
            version=__version__,
        )
        # `resend` changes nothing on the kit (no delivered state, no seq): always allowed.
        self.router.register("resend", resend_handler(
            self.outbox.resend_plan, self.publisher.resend, lambda: self.outbox.last_seq))
        self.listeners: list[Listener] = []
        # `update` (edgeagent/updates/remote.py): download, verify, hand to the root updater.
        self.critical_alerts = CriticalAlerts(self.clock.monotonic)
        self.listeners.append(self.critical_alerts.observe)
        self.live = LiveStatus()  # open alerts and the last event for `edgeagent status`
        self.listeners.append(self.live.observe)
        # What the kit shows and says to the resident ([[outputs]], edgeagent/outputs/).
        self.output_set = OutputSet(config.outputs, volume=config.home.volume)
        self.announcer = Announcer(
            [], language=config.home.language, quiet_hours=config.home.quiet_hours,
            # `data.until` of a pre-alarm is on the heuristics' timeline (edgeagent/timeline.py).
            monotonic=self.clock.monotonic,
            wall=lambda: self.timeline.engine_wall(self.clock.monotonic()),
            local_time=lambda: self.clock.wall().astimezone(
                ZoneInfo(self.config.home.timezone)).time(),
            link_up=lambda: self.publisher.connected)
        self.listeners.append(self.announcer.observe)
        self.publisher.on_delivered = self.announcer.delivered
        # `alert-ack`: the platform has the alert; telling her changes nothing on the kit.
        self.router.register("alert-ack", self._cmd_alert_ack)
        self.updates = RemoteUpdates(
            config, config.outbox.path.parent, emit=self._update_event, installed=__version__,
            alerts=self.critical_alerts, wall=self.clock.wall,
            load_previous=lambda: self.outbox.load_state(PREVIOUS_VERSION_KEY),
            save_previous=lambda v: self.outbox.append([], synced=self.synced,
                                                       state={PREVIOUS_VERSION_KEY: v}))
        self.router.register_with_id("update", self.updates.handle, changes_state=True)
        # `config-set`/`config-get` (edgeagent/updates/remote_config.py); the file is written
        # by the root updater, and kept only if the agent is healthy after the reload.
        self.remote_config = RemoteConfig(lambda: self.config, config.outbox.path.parent)
        self.router.register_with_id("config-set", self.remote_config.set, changes_state=True,
                                     max_payload=MAX_CONFIG_PAYLOAD_BYTES)
        self.router.register("config-get", self.remote_config.get, discloses=True)
        self.synced = False
        self.counters: dict[str, int] = {"readings": 0, "events": 0, "unstored": 0,
                                         "engine_errors": 0, "clock_steps": 0}
        # The main loop's periodic tasks: one that raises is logged and counted, never fatal.
        self.periodic = PeriodicGuard(self.clock.monotonic)
        # A driver failing again and again for one reason: logged once, then a summary.
        self.driver_failures = DriverFailureLog(log, time.monotonic)
        self.outbox_file = OutboxFileWatch(self.outbox)
        self.outbox_lost: dict[str, Any] | None = None  # the range a lost outbox may miss
        self._drafts: list[Draft] = []
        self._unstored: list[Draft] = []
        self._flush_scheduled = False
        self._last_state = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ready = asyncio.Event()
        self.started_mono = time.monotonic()
        self._restore_engine()
        # Clock steps: the engine runs on a continuous timeline (edgeagent/timeline.py).
        self.timeline = Timeline(self.clock.monotonic(), self.clock.wall(),
                                 skew=self._stored_skew())
        self.last_clock_step: dict[str, Any] | None = None
        self._ever_synced = False
        self._boot_engine_state = self._engine_snapshot()
        self._presync: deque[Reading] = deque(maxlen=MAX_PRESYNC_READINGS)

    # -- status -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        stats = self.outbox.stats()
        warnings = []
        if stats.recovered_from:
            salvage = stats.salvage or {}
            unread = salvage.get("unsalvaged")
            warnings.append(
                f"outbox was corrupt, moved aside to {stats.recovered_from}: "
                f"{salvage.get('salvaged', 0)} undelivered events re-imported, "
                f"{'an unknown number' if unread is None else unread} could not be read")
        if self.outbox.full or self._unstored:
            warnings.append("outbox_full")
        if stats.quarantined:
            warnings.append(f"events_quarantined: {stats.quarantined} (seq "
                            f"{', '.join(map(str, stats.quarantined_seqs))}) the broker would "
                            "not take; see `edgeagent outbox export --quarantined`")
        if self.outbox_file.problem:
            warnings.append(f"outbox_file_lost: {self.outbox_file.problem}")
        if self.outbox_lost:
            warnings.append(f"outbox_lost: seq {self.outbox_lost['from_seq']}-"
                            f"{self.outbox_lost['to_seq']} may be missing")
        return {
            "home": self.config.home.id,
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started_mono, 1),
            "open_alerts": self.live.open_alerts(self.engine),
            "last_event": self.live.last_event,
            "previous_version": self.updates.previous_version,
            "boot_id": self.boot_id,
            "clock": "synced" if self.synced else "unsynced",
            "drivers": {slot.options.name: slot.health() for slot in self.slots},
            "outputs": self.output_set.health(),
            "outbox": stats.as_dict(),
            "last_acked_seq": stats.last_delivered_seq,
            # What the platform can ask `resend` for: the newest stored, the oldest answerable.
            "last_seq": stats.last_seq,
            "oldest_available_seq": self.outbox.oldest_available_seq,
            "high_water_seq": self.outbox.high_water_seq,
            "outbox_file": self.outbox_file.as_dict(),
            "mqtt": self.publisher.health.as_dict(),
            "counters": dict(self.counters),
            "clock_step": self.last_clock_step,
            "commands": dict(self.router.counters),
            "periodic_failures": self.periodic.as_dict(),
            "warnings": warnings,
        }

    async def reload(self, config: AgentConfig) -> ReloadResult:
        """SIGHUP: restart only the drivers whose tables changed (see edgeagent/reload.py)."""
        return await apply_reload(self, config)

    def _cmd_remote(self, name: str) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
        async def run(args: dict[str, Any]) -> dict[str, Any]:
            from edgeagent.doctor import remote  # noqa: PLC0415 - heavy, only when asked

            result: dict[str, Any] = await getattr(remote, name)(self, args)
            return result
        return run

    def _save_command_ids(self, raw: str) -> None:
        self.outbox.append([], synced=self.synced, state={COMMAND_IDS_KEY: raw})

    def _update_event(self, event_type: str, data: dict[str, Any]) -> None:
        """A remote update's (or config change's) progress or outcome, as a status event."""
        failed = data.get("state") in ("failed", "rolled_back", "restored")
        self._queue([Draft(kind=Kind.STATUS, type=event_type,
                           severity=Severity.WARNING if failed else Severity.INFO,
                           source={"driver": "edgeagent", "device": "updater"},
                           mono=self.clock.monotonic(), wall=self.clock.wall(), data=data)])
        if data.get("state") in ("applied", "rolled_back", "failed"):
            self.publisher.publish_status()  # version and previous_version, retained

    async def _cmd_ping(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"pong": True, "version": __version__, "uptime_s": round(
            time.monotonic() - self.started_mono, 1)}

    async def _cmd_alert_ack(self, args: dict[str, Any]) -> dict[str, Any]:
        alert_id = args.get("alert_id")
        if not isinstance(alert_id, str) or not 0 < len(alert_id) <= 128:
            raise CommandArgsError("args.alert_id must be a string of 1 to 128 characters")
        return {"alert_id": alert_id, "announced": self.announcer.acknowledged(alert_id)}

    async def _cmd_outbox_stats(self, args: dict[str, Any]) -> dict[str, Any]:
        return self.outbox.stats().as_dict()

    # -- readings in, events out ------------------------------------------------------

    def _emit(self, reading: Reading) -> None:
        """Every driver reading enters here, on the event loop."""
        self.counters["readings"] += 1
        reading = self.gate.canonical(reading)  # the heuristics' spelling of rooms and roles
        capped = cap_reading(reading)  # one huge value must not become one huge event
        if capped is not None:
            count = self.counters["readings_capped"] = self.counters.get("readings_capped", 0) + 1
            if count in (1, 10, 100) or count % 1000 == 0:  # logged, but never a flood
                log.warning("reading from %s/%s over %d bytes: cut to fit (%d so far)",
                            reading.driver, reading.sensor, MAX_READING_BYTES, count)
            reading = capped
        for slot in self.slots:
            if slot.options.name == reading.driver:
                slot.readings += 1
                if slot.driver is not None:
                    slot.driver.last_alive = time.monotonic()
                break
        self._notify("reading", {"driver": reading.driver, "device": reading.device,
                                 "sensor": reading.sensor, "value": reading.value,
                                 "room": reading.room, "role": reading.role})
        self._check_step(reading.mono, reading.wall)  # a step is seen by its first reading
        baseline = self.gate.is_baseline(reading)  # a start-up state: reported, not a change
        if not self._ever_synced and not baseline:
            self._presync.append(reading)
        stamped = self.timeline.for_engine(reading)
        if baseline:
            self.counters["baselines"] = self.counters.get("baselines", 0) + 1
            draft = reading_draft(stamped, send_raw_states=self.config.outbox.send_raw_states)
            drafts = [draft] if draft is not None else []
        else:
            drafts = self._engine_feed(stamped)
        drafts = self.gate.mark(reading, drafts)
        self._queue([self.timeline.for_outbox(d) for d in drafts])

    def _engine_feed(self, stamped: Reading) -> list[Draft]:
        try:
            drafts = self.engine.feed(stamped)
        except Exception:
            self.counters["engine_errors"] += 1
            log.exception("heuristics failed on %s; forwarding the reading unchanged", stamped)
            drafts = PassthroughEngine().feed(stamped)
        return drafts

    def _queue(self, drafts: list[Draft]) -> None:
        if not drafts:
            return
        self._drafts.extend(drafts)
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> list[StoredEvent]:
        """Commit queued drafts (one transaction per loop iteration), then wake the publisher."""
        self._flush_scheduled = False
        drafts = self._unstored + self._drafts
        self._drafts = []
        state = self._engine_state()
        if not drafts and state is None:
            return []
        try:
            stored = self.outbox.append(
                drafts, synced=self.synced,
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
        self.publisher.wake()
        return stored

    def _hold_unstored(self, drafts: list[Draft]) -> None:
        """Disk full: keep drafts in memory until it frees up, alerts first, bounded."""
        drafts.sort(key=lambda d: int(d.priority))
        self._unstored = drafts[:MAX_UNSTORED]
        self.counters["unstored"] = len(self._unstored)
        log.error("outbox cannot store (%d events waiting in memory)", len(self._unstored))

    def _engine_state(self) -> str | None:
        try:
            state = json.dumps(self.engine.snapshot(), separators=(",", ":"), sort_keys=True)
        except (TypeError, ValueError):
            log.exception("heuristics state is not serialisable; not persisted")
            return None
        return None if state == self._last_state else state

    def _restore_engine(self) -> None:
        raw = self.outbox.load_state(ENGINE_STATE_KEY)
        if not raw:
            return
        try:
            self.engine.restore(json.loads(raw))
            self._last_state = raw
        except (ValueError, TypeError, KeyError):
            log.exception("stored heuristics state unreadable; starting fresh")

    def _notify(self, what: str, payload: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(what, payload)
            except Exception:
                log.exception("listener failed; removed")
                self.listeners.remove(listener)

    # -- drivers ----------------------------------------------------------------------

    def _make_driver(self, options: DriverOptions) -> Driver:
        assert self._loop is not None
        context = DriverContext(emit=self._emit, clock=self.clock,
                                logger=logging.getLogger(f"edgeagent.driver.{options.name}"),
                                loop=self._loop)
        if self._driver_factory is not None:
            return self._driver_factory(options, context)
        return load_driver_class(options.type)(options, context)

    def _check_driver_watchdogs(self, now: float) -> None:
        """Restart a driver silent past its `watchdog_s`: stuck in a call that never returns.

        The stuck call's thread cannot be killed; its task is cancelled and a fresh
        driver started, so the others (and this one's future readings) carry on.
        """
        for slot in self.slots:
            limit = slot.options.watchdog_s
            driver, task = slot.driver, slot.task
            if not limit or driver is None or task is None or task.done():
                continue
            silent = now - driver.last_alive
            if silent <= limit:
                continue
            reason = f"watchdog: no reading or heartbeat for {silent:.1f}s (limit {limit:g}s)"
            log.warning("driver %s %s; restarting it", slot.options.name, reason)
            driver.set_health(HealthState.FAILED, reason)
            slot.last_error = reason
            slot.restarts += 1
            slot.watchdog_restarts += 1
            task.cancel()
            driver.last_alive = now
            slot.task = asyncio.create_task(self._supervise(slot), name=slot.options.name)

    async def _supervise(self, slot: DriverSlot) -> None:
        """Run one driver forever: restart on failure with jittered backoff."""
        while True:
            started = time.monotonic()
            driver: Driver | None = None  # this run's driver, even after a watchdog restart
            missing: dict[str, str] = {}  # what HardwareUnavailable says is absent, and the fix
            try:
                driver = slot.driver = self._make_driver(slot.options)
                await driver.run()
                reason = "driver returned"
            except asyncio.CancelledError:
                raise
            except HardwareUnavailable as exc:
                reason = f"hardware unavailable: {exc}"
                missing = {"missing": exc.missing, "fix": exc.fix} if exc.missing else {}
            except DriverError as exc:
                reason = str(exc)
            except Exception as exc:
                log.exception("driver %s crashed", slot.options.name)
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                if driver is not None:
                    try:
                        await driver.close()
                    except Exception:
                        log.exception("driver %s close failed", slot.options.name)
            if driver is not None:
                driver.set_health(HealthState.FAILED, reason)
                driver.health.details.update(missing)  # doctor names it once, with the fix
            slot.last_error = reason
            slot.restarts += 1
            if time.monotonic() - started > 60:
                slot.backoff.reset()
                self.driver_failures.ran_well(slot.options.name)
            delay = slot.backoff.next_delay() + 0.5
            self.driver_failures.stopped(slot.options.name, reason, slot.restarts, delay)
            await asyncio.sleep(delay)

    # -- main loop --------------------------------------------------------------------

    def _check_clock(self) -> None:
        synced = bool(self.sync_probe())
        mono, wall = self.clock.monotonic(), self.clock.wall()
        if synced and not self.synced:
            self.flush()  # queued drafts are stamped on the old wall: store them to re-stamp
            corrected = self.outbox.correct_clock(mono, wall)
            log.info("clock synchronised; corrected the time of %d buffered events", corrected)
            if not self._ever_synced:
                self._first_sync(mono, wall)
        self.synced = synced
        self._check_step(mono, wall)

    def _first_sync(self, mono: float, wall: datetime) -> None:
        """The pre-sync wall was fiction: re-anchor, and redo the engine's pre-sync minutes.

        The engine is rewound to its state at start and fed this boot's readings again at
        their corrected times. The drafts of that replay are dropped: those readings' events
        (and any alarm they raised) are already stored and were just re-stamped.
        """
        self._ever_synced = True
        drift = self.timeline.drift(mono, wall)
        self.timeline.reanchor(mono, wall)
        replay, self._presync = list(self._presync), deque()
        if abs(drift) <= STEP_THRESHOLD:
            return
        log.info("first clock sync moved the wall by %+.0f s; replaying %d readings into "
                 "the heuristics at corrected times", drift, len(replay))
        try:
            self.engine.restore(self._boot_engine_state)
            for reading in replay:
                self.engine.feed(self.timeline.for_engine(reading))
        except Exception:
            self.counters["engine_errors"] += 1
            log.exception("heuristics replay after clock sync failed")

    def _check_step(self, mono: float, wall: datetime) -> None:
        """Follow small drift; absorb a step while synced (events follow, the engine not)."""
        drift = self.timeline.drift(mono, wall)
        if abs(drift) <= STEP_THRESHOLD:
            if drift:
                self.timeline.reanchor(mono, wall)
            return
        if not self._ever_synced:
            return  # the wall is fiction until the first sync, which settles it
        self.flush()  # what is queued belongs to the old wall
        step = self.timeline.absorb_step(mono, wall)
        self.counters["clock_steps"] += 1
        self.last_clock_step = {"step_s": round(step, 3), "at": wall.isoformat(),
                                "engine_skew_s": round(self.timeline.skew, 3)}
        log.warning("wall clock stepped by %+.1f s while synced; new events carry the new "
                    "time, the heuristics keep their continuous timeline (skew %+.1f s)",
                    step, self.timeline.skew)
        try:
            self.outbox.append([], synced=True, state={SKEW_STATE_KEY: repr(self.timeline.skew)})
        except OutboxError:
            log.exception("could not persist the clock skew")

    def _stored_skew(self) -> float:
        raw = self.outbox.load_state(SKEW_STATE_KEY)
        try:
            return float(raw) if raw else 0.0
        except ValueError:
            return 0.0

    def _engine_snapshot(self) -> dict[str, Any]:
        """A detached copy of the engine's state (to rewind it at the first sync)."""
        try:
            copy: dict[str, Any] = json.loads(json.dumps(self.engine.snapshot()))
        except (TypeError, ValueError):
            return {}
        return copy

    def tick(self) -> None:
        """One heartbeat: timers in the heuristics, then commit what they raised."""
        mono = self.clock.monotonic()
        self._check_step(mono, self.clock.wall())
        try:
            drafts = self.engine.tick(mono, self.timeline.engine_wall(mono))
        except Exception:
            self.counters["engine_errors"] += 1
            log.exception("heuristics tick failed")
            drafts = []
        self._queue([self.timeline.for_outbox(d) for d in drafts])
        if self._unstored:
            self.flush()

    async def run(self, stop: asyncio.Event) -> None:  # noqa: C901, PLR0915 - start and ordered shutdown of every task; the order is the contract
        self._loop = asyncio.get_running_loop()
        guard = self.periodic.run
        lost = await continue_seq(self.outbox, self.config.mqtt, self.config.home.id, self.clock)
        if lost is not None:
            self.outbox_lost = lost.data
            self._queue([lost])
        self.updates.report_result()  # what the updater did before this start
        guard("clock", self._check_clock)
        self.announcer.outputs = self.output_set.open()
        publisher_task = asyncio.create_task(self.publisher.run(), name="publisher")
        for slot in self.slots:
            slot.task = asyncio.create_task(self._supervise(slot), name=slot.options.name)
        control = await start_control(self)
        self.ready.set()
        systemd.notify(f"READY=1\nSTATUS=home {self.config.home.id}: running "
                       f"{len(self.slots)} drivers")
        watchdog = systemd.watchdog_interval()
        last_status = last_prune = last_sync = last_watchdog = time.monotonic()
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.tick_interval)
                now = time.monotonic()
                guard("tick", self.tick)
                guard("announcer", self.announcer.tick)
                if now - last_sync >= self.sync_interval:
                    last_sync = now
                    guard("clock", self._check_clock)
                    guard("outbox-file", self.outbox_file.check)
                    # The updater writes its verdict after this start's health check.
                    guard("update-result", self.updates.report_result)
                if now - last_status >= self.status_interval:
                    last_status = now
                    guard("status", self.publisher.publish_status)
                guard("driver-watchdogs", functools.partial(self._check_driver_watchdogs, now))
                if now - last_prune >= 3600:
                    last_prune = now
                    guard("prune", self.outbox.prune_delivered)
                guard("command-log", self.router.tick)
                if watchdog is not None and now - last_watchdog >= watchdog and \
                        not publisher_task.done():
                    last_watchdog = now
                    systemd.notify("WATCHDOG=1")
        finally:
            systemd.notify("STOPPING=1")
            if control is not None:
                await control.stop()
            for slot in self.slots:
                if slot.task is not None:
                    slot.task.cancel()
            await asyncio.gather(*(s.task for s in self.slots if s.task), return_exceptions=True)
            self.flush()
            await self._drain_before_exit()
            await self.publisher.stop()
            publisher_task.cancel()
            await asyncio.gather(publisher_task, return_exceptions=True)
            await self.announcer.close()
            self.output_set.close()
            self.outbox.close()

    async def _drain_before_exit(self, budget: float = 2.0) -> None:
        """Give in-flight events a moment to be acknowledged; what is left stays stored."""
        deadline = time.monotonic() + budget
        while self.publisher.connected and time.monotonic() < deadline:
            if self.outbox.stats().pending == 0:
                return
            self.publisher.acked_event.clear()
            try:
                await asyncio.wait_for(self.publisher.acked_event.wait(),
                                       timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                return
