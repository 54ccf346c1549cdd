"""`cmd/update`: download, verify, wait for a safe moment, hand over to the root updater.

The command only starts the work; its progress and outcome are events
(`kind: "status"`, `type: "update"`, `data.state` downloading, verified,
applied, rolled_back or failed, with `data.reason`), each naming the command
it answers in `data.command_id`. The agent verifies the
bundle itself (so a bad one is reported at once and never handed over),
then waits until no critical alert is open or was raised in the last
`updates.quiet_after_critical_s`, and it is outside the heuristics' night
window (unless `args.force`), and writes the request the updater unit
watches. The updater restarts the agent; the new (or restored) agent
reports the result it finds (see `report_result`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edgeagent.config import AgentConfig
from edgeagent.downlink import CommandArgsError
from edgeagent.updates.bundle import BundleRefused, parse_version, trusted_keys, verify_bundle
from edgeagent.updates.download import DownloadError, check_url, download
from edgeagent.updates.request import (
    DOWNLOADS,
    REQUEST,
    RESULT,
    BadRequest,
    read_result,
    write_update_request,
)

log = logging.getLogger(__name__)

SAFE_POLL_S = 30.0
Emit = Callable[[str, dict[str, Any]], None]  # (event type, data) of one status event


class CriticalAlerts:
    """Which critical alerts are open, and when one was last raised (from stored events)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self.open: set[str] = set()
        self.last_raised: float | None = None

    def observe(self, what: str, payload: dict[str, Any]) -> None:
        """An agent listener: every stored event passes here."""
        if what != "event" or payload.get("kind") != "alert":
            return
        body = payload.get("body") or {}
        if isinstance(body, str | bytes):  # the stored event's JSON text
            try:
                body = json.loads(body)
            except ValueError:
                return
        if not isinstance(body, dict):
            return
        alert = body.get("alert") or {}
        if not isinstance(alert, dict):
            return
        alert_id, state = alert.get("id"), alert.get("state")
        if not isinstance(alert_id, str):
            return
        if state == "resolved":
            self.open.discard(alert_id)
        elif body.get("severity") == "critical":
            self.open.add(alert_id)
            self.last_raised = self._monotonic()

    def quiet_for(self, seconds: float) -> bool:
        if self.open:
            return False
        return self.last_raised is None or self._monotonic() - self.last_raised >= seconds


def in_window(now: dtime, start: dtime, end: dtime) -> bool:
    """True inside [start, end), a window that may cross midnight."""
    return start <= now < end if start <= end else now >= start or now < end


class RemoteUpdates:
    """The `update` command's handler and the hand-over to the updater."""

    def __init__(self, config: AgentConfig, state_dir: Path, *, emit: Emit, installed: str,
                 alerts: CriticalAlerts, wall: Callable[[], datetime],
                 load_previous: Callable[[], str | None] = lambda: None,
                 save_previous: Callable[[str], object] = lambda _: None,
                 safe_poll_s: float = SAFE_POLL_S) -> None:
        self.config = config
        self.state_dir = state_dir
        self.emit = emit
        self.installed = installed
        self.alerts = alerts
        self.wall = wall
        self.safe_poll_s = safe_poll_s
        self.task: asyncio.Task[None] | None = None
        self.save_previous = save_previous
        self.previous_version = load_previous()  # kept across restarts (outbox state)
        self._drop_stale_downloads()

    def _drop_stale_downloads(self) -> None:
        """A download this agent was waiting with (stopped before a safe moment) is not
        resumed after a restart: the platform sends the command again. Unless the
        updater still has to take it, it only fills the SD card."""
        if (self.state_dir / REQUEST).exists():
            return
        for stale in (self.state_dir / DOWNLOADS).glob("*"):
            if stale.is_file() and not stale.is_symlink():
                stale.unlink(missing_ok=True)

    # -- the command ----------------------------------------------------------------------

    async def handle(self, args: dict[str, Any], command_id: str | None) -> dict[str, Any]:
        url, sha256, version = args.get("url"), args.get("sha256"), args.get("version")
        if not isinstance(url, str) or len(url) > 2048:
            raise CommandArgsError("args.url must be a string (at most 2048 characters)")
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise CommandArgsError("args.sha256 must be 64 lower-case hex digits")
        try:
            parse_version(str(version))
        except ValueError as exc:
            raise CommandArgsError(f"args.version: {exc}") from None
        hosts = self.config.updates.allowed_hosts
        if not hosts:
            raise CommandArgsError("remote updates are off: updates.allowed_hosts is empty")
        try:
            check_url(url, hosts)
        except ValueError as exc:
            raise CommandArgsError(str(exc)) from None
        if self.task is not None and not self.task.done():
            raise CommandArgsError("an update is already in progress")
        force = args.get("force") is True
        self.task = asyncio.create_task(
            self._update(url, sha256, str(version), force, command_id), name="update")
        return {"accepted": True, "version": version, "installed": self.installed}

    async def _update(self, url: str, sha256: str, version: str, force: bool,
                      command_id: str | None) -> None:
        base = {"version": version, "installed": self.installed, "command_id": command_id}
        folder = self.state_dir / DOWNLOADS
        bundle = folder / f"edgeagent-{version}.tar"
        try:
            self.emit("update", {**base, "state": "downloading", "url": url})
            folder.mkdir(mode=0o700, exist_ok=True)
            await asyncio.to_thread(download, url, bundle, sha256=sha256,
                                    max_bytes=self.config.updates.max_bytes)
            manifest = await asyncio.to_thread(
                verify_bundle, bundle, trusted_keys(keys_dir=self.config.updates.keys_dir),
                installed=self.installed)
            if manifest.version != version:
                raise BundleRefused("version mismatch", f"the bundle is {manifest.version}, "
                                    f"the command said {version}")
            self.emit("update", {**base, "state": "verified"})
            await self._wait_for_safe_moment(force)
            write_update_request(self.state_dir, bundle, command_id)  # back in the result
            log.warning("update to %s verified and handed to the updater", version)
        except (DownloadError, BundleRefused, BadRequest, OSError) as exc:
            bundle.unlink(missing_ok=True)
            bundle.with_name(bundle.name + ".part").unlink(missing_ok=True)
            reason = str(exc)
            log.warning("update to %s failed: %s", version, reason)
            self.emit("update", {**base, "state": "failed", "reason": reason})

    async def _wait_for_safe_moment(self, force: bool) -> None:
        while not self.safe_now(force):
            await asyncio.sleep(self.safe_poll_s)

    def safe_now(self, force: bool = False) -> bool:
        """No critical alert open or recent; outside the night window unless forced."""
        if not self.alerts.quiet_for(self.config.updates.quiet_after_critical_s):
            return False
        if force:
            return True
        heuristics = self.config.heuristics
        local = self.wall().astimezone(ZoneInfo(self.config.home.timezone)).time()
        return not in_window(local, heuristics.night_start, heuristics.night_end)

    # -- after the restart ---------------------------------------------------------------

    def report_result(self) -> None:
        """The updater's outcome becomes an event (once), and the status's
        `previous_version`. Called at start and every few seconds: the verdict is
        written after the new release's health check, while it already runs."""
        result = read_result(self.state_dir)
        if result is None:
            return
        state = result.get("state")
        command_id = result.get("id") if isinstance(result.get("id"), str) else None
        if state not in ("applied", "rolled_back", "failed"):
            state = "failed"
        if result.get("kind") == "config":  # cmd/config-set: the updater's verdict
            self.emit("config", {"state": "restored" if state == "rolled_back" else state,
                                 "reason": result.get("reason", ""), "command_id": command_id})
            self._forget_result()
            return
        previous = result.get("previous_version")
        if result.get("state") == "applied" and isinstance(previous, str) \
                and previous != result.get("version"):
            self.previous_version = previous
            self.save_previous(previous)
        self.emit("update", {"state": state, "version": result.get("version"),
                   "previous_version": result.get("previous_version"),
                   "running": result.get("running"), "reason": result.get("reason", ""),
                   "command_id": command_id})
        self._forget_result()

    def _forget_result(self) -> None:
        try:
            (self.state_dir / RESULT).unlink()
        except OSError as exc:
            log.warning("cannot remove %s (it will be reported again): %s", RESULT, exc)
