"""The agent: drivers -> event pipeline -> outbox -> publisher, wired and kept alive.

Each part is a component with a public API (docs/architecture.md): the driver
supervisor, the event pipeline, the clock keeper and the publisher. The
systemd watchdog is fed from the main tick only, so a wedged event loop stops
the pings and systemd restarts us.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edgeagent import __version__, systemd
from edgeagent.clock import Clock, SyncProbe, SystemClock, boot_id
from edgeagent.clock_keeper import ClockKeeper
from edgeagent.clock_sync import clock_synced
from edgeagent.config import AgentConfig
from edgeagent.control import start_control
from edgeagent.downlink import CommandArgsError, CommandRouter
from edgeagent.driver import Driver, DriverContext, DriverOptions, load_driver_class
from edgeagent.driver_supervisor import DriverSlot, DriverSupervisor
from edgeagent.heuristics import Engine
from edgeagent.limits import MAX_CONFIG_PAYLOAD_BYTES
from edgeagent.live_status import LiveStatus
from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox, OutboxStats, StoredEvent
from edgeagent.outbox_continuity import OutboxFileWatch, continue_seq
from edgeagent.outputs.announcer import Announcer
from edgeagent.outputs.runtime import OutputSet
from edgeagent.periodic import PeriodicGuard
from edgeagent.pipeline import EventPipeline, Listener, build_default_engine
from edgeagent.publisher import Publisher
from edgeagent.reading_gate import ReadingGate
from edgeagent.reload import ReloadResult, reload_from_file
from edgeagent.reload import apply as apply_reload
from edgeagent.replay_window import ReplayWindow
from edgeagent.resend import resend_handler
from edgeagent.secrets import check_config_secrets
from edgeagent.topics import Topics
from edgeagent.updates.remote import CriticalAlerts, RemoteUpdates
from edgeagent.updates.remote_config import RemoteConfig

log = logging.getLogger(__name__)

COMMAND_IDS_KEY = "command_ids"
PREVIOUS_VERSION_KEY = "update_previous_version"
PRUNE_INTERVAL_S = 3600.0

__all__ = ["Agent", "DriverSlot", "build_default_engine"]


class Agent:
    """The daemon: an assembly of components, each with a public API.

    The driver supervisor runs the drivers; the event pipeline turns their
    readings into stored events; the clock keeper follows sync and steps; the
    publisher drains the outbox. The agent wires them, answers status and the
    downlink's commands, and runs the main tick. `run(stop)` returns after a
    clean shutdown.
    """

    def __init__(
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
        self.clock: Clock = clock or SystemClock()
        self.sync_probe = sync_probe
        self.tick_interval = tick_interval
        self.sync_interval = sync_interval
        self.status_interval = (status_interval if status_interval is not None
                                else float(config.mqtt.status_interval))
        self._driver_factory = driver_factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self.boot_id = boot_id()
        check_config_secrets(config)  # refuse to start, naming the key, before touching anything
        self.outbox = Outbox(
            config.outbox.path, config.home.id, boot_id=self.boot_id,
            max_bytes=config.outbox.max_bytes,
            retention=timedelta(hours=config.outbox.retention_hours),
        )
        self.counters: dict[str, int] = {}
        self.drivers = DriverSupervisor(config.drivers, self._make_driver)
        self.router = CommandRouter(
            topics=Topics(config.mqtt.topic_prefix, config.home.id),
            rate_per_minute=config.commands.rate_per_minute,
            wall=lambda: self.clock.wall() if self.synced else None,
            monotonic=self.clock.monotonic,
            replay=ReplayWindow(load=lambda: self.outbox.load_state(COMMAND_IDS_KEY),
                                save=self._save_command_ids))
        self.router.configure(allow_changes=config.commands.allow_changes,
                              allow_diagnostics=config.commands.allow_diagnostics,
                              reply_prefix=config.commands.reply_prefix)
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
        # Clock steps: the engine runs on a continuous timeline (edgeagent/timeline.py).
        self.clock_keeper = ClockKeeper(self.clock, sync_probe, self.outbox,
                                        # The pipeline needs the keeper: built after it.
                                        store_queued=lambda: self.pipeline.flush(),  # noqa: PLW0108
                                        replay=lambda rs: self.pipeline.replay(rs))  # noqa: PLW0108
        self.pipeline = EventPipeline(
            engine or build_default_engine(config), self.outbox,
            ReadingGate(lambda: self.config), self.clock_keeper,
            send_raw_states=config.outbox.send_raw_states, counters=self.counters,
            on_reading=self.drivers.note_reading, on_stored=self.publisher.wake)
        # `resend` changes nothing on the kit (no delivered state, no seq): always allowed.
        self.router.register("resend", resend_handler(
            self.outbox.resend_plan, self.publisher.resend, lambda: self.outbox.last_seq))
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
            wall=lambda: self.clock_keeper.engine_wall(self.clock.monotonic()),
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
        # The main loop's periodic tasks: one that raises is logged and counted, never fatal.
        self.periodic = PeriodicGuard(self.clock.monotonic)
        self.outbox_file = OutboxFileWatch(self.outbox)
        self.outbox_lost: dict[str, Any] | None = None  # the range a lost outbox may miss
        self.ready = asyncio.Event()
        self.started_mono = time.monotonic()

    # -- the components' state, read-only ----------------------------------------------

    @property
    def engine(self) -> Engine:
        return self.pipeline.engine

    @property
    def slots(self) -> tuple[DriverSlot, ...]:
        return self.drivers.slots

    @property
    def listeners(self) -> list[Listener]:
        return self.pipeline.listeners

    @property
    def synced(self) -> bool:
        return self.clock_keeper.synced

    # -- status -------------------------------------------------------------------------

    def _warnings(self, stats: OutboxStats) -> list[str]:
        warnings = []
        if stats.recovered_from:
            salvage = stats.salvage or {}
            unread = salvage.get("unsalvaged")
            warnings.append(
                f"outbox was corrupt, moved aside to {stats.recovered_from}: "
                f"{salvage.get('salvaged', 0)} undelivered events re-imported, "
                f"{'an unknown number' if unread is None else unread} could not be read")
        if self.outbox.full or self.pipeline.unstored:
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
        return warnings

    def status(self) -> dict[str, Any]:
        stats = self.outbox.stats()
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
            "drivers": self.drivers.health(),
            "outputs": self.output_set.health(),
            "outbox": stats.as_dict(),
            "last_acked_seq": stats.last_delivered_seq,
            # What the platform can ask `resend` for: the newest stored, the oldest answerable.
            "last_seq": stats.last_seq,
            "oldest_available_seq": self.outbox.oldest_available_seq,
            "high_water_seq": self.outbox.high_water_seq,
            "outbox_file": self.outbox_file.as_dict(),
            "mqtt": self.publisher.health.as_dict(),
            "counters": {**self.counters, "clock_steps": self.clock_keeper.steps},
            "clock_step": self.clock_keeper.last_step,
            "commands": dict(self.router.counters),
            "periodic_failures": self.periodic.as_dict(),
            "warnings": self._warnings(stats),
        }

    # -- reload -------------------------------------------------------------------------

    async def reload(self, config: AgentConfig) -> ReloadResult:
        """SIGHUP: restart only the drivers whose tables changed (see edgeagent/reload.py)."""
        result = await apply_reload(self.config, config, pipeline=self.pipeline,
                                    drivers=self.drivers, router=self.router)
        if result.ok:
            self.config = config
        return result

    async def reload_from_file(self) -> ReloadResult:
        """Read the config file the agent was started with again and apply it."""
        return await reload_from_file(self.config.source, self.reload, self.counters)

    # -- downlink commands --------------------------------------------------------------

    def _cmd_remote(self, name: str) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
        async def run(args: dict[str, Any]) -> dict[str, Any]:
            from edgeagent.doctor import remote  # noqa: PLC0415 - heavy, only when asked

            result: dict[str, Any] = await getattr(remote, name)(
                self.config, self.status, self.sync_probe, args)
            return result
        return run

    def _save_command_ids(self, raw: str) -> None:
        self.outbox.append([], synced=self.synced, state={COMMAND_IDS_KEY: raw})

    def _update_event(self, event_type: str, data: dict[str, Any]) -> None:
        """A remote update's (or config change's) progress or outcome, as a status event."""
        failed = data.get("state") in ("failed", "rolled_back", "restored")
        self.pipeline.queue([Draft(kind=Kind.STATUS, type=event_type,
                                   severity=Severity.WARNING if failed else Severity.INFO,
                                   source={"driver": "edgeagent", "device": "updater"},
                                   mono=self.clock.monotonic(), wall=self.clock.wall(),
                                   data=data)])
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

    # -- the main loop ------------------------------------------------------------------

    def _make_driver(self, options: DriverOptions) -> Driver:
        assert self._loop is not None
        context = DriverContext(emit=self.pipeline.emit, clock=self.clock,
                                logger=logging.getLogger(f"edgeagent.driver.{options.name}"),
                                loop=self._loop)
        if self._driver_factory is not None:
            return self._driver_factory(options, context)
        return load_driver_class(options.type)(options, context)

    def flush(self) -> list[StoredEvent]:
        """Commit what the pipeline has queued now (tests and shutdown)."""
        return self.pipeline.flush()

    def tick(self) -> None:
        """One heartbeat: timers in the heuristics, then commit what they raised."""
        mono = self.clock.monotonic()
        self.clock_keeper.check_step(mono, self.clock.wall())
        self.pipeline.tick(mono)

    async def run(self, stop: asyncio.Event) -> None:
        """Start every component, tick until `stop`, then shut down in order."""
        self._loop = asyncio.get_running_loop()
        self.pipeline.attach(self._loop)
        lost = await continue_seq(self.outbox, self.config.mqtt, self.config.home.id, self.clock)
        if lost is not None:
            self.outbox_lost = lost.data
            self.pipeline.queue([lost])
        self.updates.report_result()  # what the updater did before this start
        self.periodic.run("clock", self.clock_keeper.check)
        self.announcer.outputs = self.output_set.open()
        publisher_task = asyncio.create_task(self.publisher.run(), name="publisher")
        self.drivers.start()
        control = await start_control(self)
        self.ready.set()
        systemd.notify(f"READY=1\nSTATUS=home {self.config.home.id}: running "
                       f"{len(self.slots)} drivers")
        try:
            await self._main_loop(stop, publisher_task)
        finally:
            systemd.notify("STOPPING=1")
            if control is not None:
                await control.stop()
            await self.drivers.stop()
            self.flush()
            await self._drain_before_exit()
            await self.publisher.stop()
            publisher_task.cancel()
            await asyncio.gather(publisher_task, return_exceptions=True)
            await self.announcer.close()
            self.output_set.close()
            self.outbox.close()

    async def _main_loop(self, stop: asyncio.Event, publisher_task: asyncio.Task[None]) -> None:
        """The periodic work; one task that raises is logged and counted, never fatal."""
        guard = self.periodic.run
        watchdog = systemd.watchdog_interval()
        last_status = last_prune = last_sync = last_watchdog = time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.tick_interval)
            now = time.monotonic()
            guard("tick", self.tick)
            guard("announcer", self.announcer.tick)
            if now - last_sync >= self.sync_interval:
                last_sync = now
                guard("clock", self.clock_keeper.check)
                guard("outbox-file", self.outbox_file.check)
                # The updater writes its verdict after this start's health check.
                guard("update-result", self.updates.report_result)
            if now - last_status >= self.status_interval:
                last_status = now
                guard("status", self.publisher.publish_status)
            guard("driver-watchdogs", functools.partial(self.drivers.check_watchdogs, now))
            if now - last_prune >= PRUNE_INTERVAL_S:
                last_prune = now
                guard("prune", self.outbox.prune_delivered)
            guard("command-log", self.router.tick)
            # Fed from this loop only: a wedged loop (or a dead publisher) stops the pings.
            if watchdog is not None and now - last_watchdog >= watchdog and \
                    not publisher_task.done():
                last_watchdog = now
                systemd.notify("WATCHDOG=1")

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
