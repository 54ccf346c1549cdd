"""The remote diagnostics commands `doctor` and `bundle`, answered over MQTT.

Registered on the agent's CommandRouter (allow-list, size and rate limit,
replay protection live there). Both run the checks in a worker thread so the
event loop keeps publishing while they work, use the daemon's live health
(never opening hardware the drivers hold) and skip the active MQTT probes:
the command arrived over a working connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .bundle import DEFAULT_LOG_LINES, REMOTE_CAP, bundle_parts, cap_size, collect_logs
from .context import DoctorContext
from .outbox_reader import OutboxReader, OutboxUnreadable
from .runner import run_doctor_for

if TYPE_CHECKING:
    from edgeagent.clock import SyncProbe
    from edgeagent.config import AgentConfig

Status = Callable[[], dict[str, Any]]


def _env(status: Status, sync_probe: SyncProbe) -> DoctorContext:
    return DoctorContext(live=status(), network=False, socket_path="in-process",
                     sync_probe=sync_probe)


def _outbox_stats(config: AgentConfig) -> dict[str, Any] | None:
    try:
        with OutboxReader(config.outbox.path) as reader:
            return reader.stats(config.outbox.max_bytes)
    except OutboxUnreadable as exc:
        return {"error": str(exc)}


async def doctor(config: AgentConfig, status: Status, sync_probe: SyncProbe,
                 args: dict[str, Any]) -> dict[str, Any]:
    """The remote `doctor` command: every check, with the daemon's live health."""
    env = _env(status, sync_probe)
    report = await asyncio.to_thread(run_doctor_for, config, env)
    return report.as_dict()


async def bundle(config: AgentConfig, status: Status, sync_probe: SyncProbe,
                 args: dict[str, Any]) -> dict[str, Any]:
    """The remote `bundle` command, capped at REMOTE_CAP bytes."""
    lines = args.get("lines", DEFAULT_LOG_LINES)
    lines = min(max(int(lines), 0), 2000) if isinstance(lines, int) else DEFAULT_LOG_LINES
    env = _env(status, sync_probe)

    def build() -> dict[str, Any]:
        report = run_doctor_for(config, env)
        parts = bundle_parts(config, report.as_dict(), _outbox_stats(config), env.live,
                             collect_logs(lines))
        return cap_size(parts, REMOTE_CAP)

    return await asyncio.to_thread(build)
