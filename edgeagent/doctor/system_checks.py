"""Clock, disk, outbox, systemd, version and the daemon itself."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from edgeagent import __version__
from edgeagent.config import AgentConfig
from edgeagent.i18n import _, localize
from edgeagent.models import Priority

from .context import DoctorContext
from .outbox_reader import OutboxReader, OutboxUnreadable
from .result import CheckResult, fail, ok, skip, warn

MIB = 1024 * 1024
DISK_FAIL_BYTES = 8 * MIB      # below this SQLite cannot even checkpoint its WAL reliably
DISK_FAIL_FRACTION = 0.02
DISK_WARN_BYTES = 64 * MIB
DISK_WARN_FRACTION = 0.10
PENDING_WARN = 1000            # a connected agent drains to ~0 within seconds
OLDEST_WARN_S = 600.0          # ten minutes undelivered: the platform is not hearing us
OLDEST_FAIL_S = 3600.0


def check_version(env: DoctorContext) -> CheckResult:
    installed = __version__
    details = {"installed": installed, "python": platform.python_version()}
    if env.live is not None:
        running = str(env.live.get("version", ""))
        details["running"] = running
        if running and running != installed:
            return warn("agent.version", _("daemon runs edgeagent {running} but {installed} is "
                                           "installed").format(running=running,
                                                               installed=installed),
                        _("restart the service: systemctl restart edgeagent"), **details)
    return ok("agent.version", _("edgeagent {installed} (Python {python})").format(
                  installed=installed, python=platform.python_version()), **details)


def check_daemon(env: DoctorContext) -> CheckResult:
    if env.live is not None:
        return ok("agent.daemon", _("daemon answering on {socket}").format(
                      socket=env.socket_path or _("in-process")),
                  boot_id=env.live.get("boot_id"), warnings=env.live.get("warnings", []))
    return warn("agent.daemon", _("daemon not reachable ({error}); checks ran standalone").format(
                    error=localize(env.live_error) or _("no socket")),
                _("start it: systemctl start edgeagent (or check the control.socket path and "
                  "that you are in the agent's group)"), socket=env.socket_path)


def check_clock(env: DoctorContext) -> CheckResult:
    try:
        synced = bool(env.sync_probe())
    except Exception as exc:  # noqa: BLE001 - a probe that breaks is a finding, not a crash
        return warn("clock.synced", _("cannot ask the kernel: {exc}").format(exc=exc),
                    _("check timedatectl status"))
    if synced:
        return ok("clock.synced", _("kernel clock is NTP-synchronised"))
    return fail("clock.synced", _("clock not synchronised: events are stamped 'unsynced' and "
                                  "night-time rules use a wrong local time"),
                _("check NTP: timedatectl status; allow UDP 123 to the NTP server"))


def _existing_dir(path: Path) -> Path:
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_disk(config: AgentConfig, env: DoctorContext) -> CheckResult:
    where = _existing_dir(Path(config.outbox.path).parent)
    try:
        st = env.statvfs(str(where))
    except OSError as exc:
        return fail("outbox.disk", _("cannot stat {where}: {strerror}").format(
                                       where=where, strerror=exc.strerror),
                    _("check the outbox.path directory exists and is mounted"))
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    fraction = free / total if total else 0.0
    details: dict[str, Any] = {"path": str(where), "free_bytes": free, "total_bytes": total}
    text = _("{free:.1f} MiB free of {total:.1f} MiB at {where}").format(
        free=free / MIB, total=total / MIB, where=where)
    if free < DISK_FAIL_BYTES or fraction < DISK_FAIL_FRACTION:
        return fail("outbox.disk", _("disk full: {text}").format(text=text),
                    _("free space (journalctl --vacuum-size=50M, remove old files) or move "
                      "outbox.path to a larger filesystem"), **details)
    if free < DISK_WARN_BYTES or fraction < DISK_WARN_FRACTION:
        return warn("outbox.disk", _("disk nearly full: {text}").format(text=text),
                    _("free space before the outbox cannot store alerts"), **details)
    return ok("outbox.disk", text, **details)


def check_outbox(config: AgentConfig, env: DoctorContext) -> list[CheckResult]:  # noqa: C901, PLR0912 - one verdict per outbox figure, each with its own reason and fix
    """Depth, oldest undelivered age, evictions, from a read-only view of the SQLite file."""
    try:
        reader = OutboxReader(config.outbox.path)
    except OutboxUnreadable as exc:
        live = _live_outbox_stats(env)
        if live is None:
            if not Path(config.outbox.path).exists():
                return [warn("outbox.depth", str(exc),
                             _("start the agent once; it creates the outbox"))]
            return [fail("outbox.depth", _("outbox unreadable: {exc}").format(exc=exc),
                         _("check permissions of outbox.path; the agent moves a corrupt file "
                           "aside on start"))]
        stats = live  # a technician in the agent's group may not read the file: ask the daemon
    else:
        with reader:
            stats = reader.stats(config.outbox.max_bytes)
    results: list[CheckResult] = []
    pending = stats["pending"]
    by_class = stats["pending_by_class"]
    if pending > PENDING_WARN:
        results.append(warn("outbox.depth", _("{pending} events waiting ({by_class})").format(
                                                pending=pending, by_class=by_class),
                            _("the broker is not taking events: see the mqtt.* checks"),
                            **by_class))
    else:
        results.append(ok("outbox.depth", _("{pending} events waiting").format(
                                              pending=pending), **by_class))
    oldest = stats["oldest_pending_created"]
    if oldest is None:
        results.append(ok("outbox.oldest", _("nothing undelivered")))
    else:
        age = max(0.0, env.now() - float(oldest))
        text = _("oldest undelivered event stored {age} ago").format(age=_human_age(age))
        if age > OLDEST_FAIL_S:
            results.append(fail("outbox.oldest", text,
                                _("events are not reaching the platform: fix the mqtt.* checks"),
                                age_s=round(age, 1), ts=stats["oldest_pending_ts"]))
        elif age > OLDEST_WARN_S:
            results.append(warn("outbox.oldest", text, _("check the broker connection (mqtt.*)"),
                                age_s=round(age, 1), ts=stats["oldest_pending_ts"]))
        else:
            results.append(ok("outbox.oldest", text, age_s=round(age, 1)))
    evicted = stats["evicted_total"]
    if evicted:
        results.append(warn("outbox.evictions", _("{evicted} events dropped at the "
                                                  "{max_bytes}-byte cap ({by_class}); alerts are "
                                                  "never dropped").format(
                                evicted=evicted, max_bytes=config.outbox.max_bytes,
                                by_class=stats["evicted"]),
                            _("restore the broker connection; raise outbox.max_bytes if outages "
                              "are long"), **stats["evicted"]))
    else:
        results.append(ok("outbox.evictions", _("no events evicted")))
    quarantined = int(stats.get("quarantined") or 0)
    if quarantined:
        seqs = ", ".join(str(seq) for seq in stats.get("quarantined_seqs") or [])
        results.append(warn("outbox.quarantine",
                            _("{count} events set aside: the broker dropped the link each time "
                              "they were sent (seq {seqs})").format(count=quarantined, seqs=seqs),
                            _("export them with edgeagent outbox export --quarantined; check "
                              "the broker's max_packet_size"), quarantined=quarantined))
    else:
        results.append(ok("outbox.quarantine", _("no events set aside")))
    return results


def _live_outbox_stats(env: DoctorContext) -> dict[str, Any] | None:
    """The daemon's `status()["outbox"]` in the reader's shape (oldest age from its `ts`)."""
    raw = (env.live or {}).get("outbox")
    if not isinstance(raw, dict):
        return None
    names = {str(int(p)): p.name.lower() for p in Priority}
    oldest_ts = raw.get("oldest_pending_ts")
    created = None
    if oldest_ts:
        try:
            created = datetime.fromisoformat(str(oldest_ts).replace("Z", "+00:00")).timestamp()
        except ValueError:
            created = None
    evicted = {str(k): int(v) for k, v in (raw.get("evicted") or {}).items()}
    return {
        "pending": int(raw.get("pending", 0)),
        "pending_by_class": {names.get(str(k), str(k)): int(v)
                             for k, v in (raw.get("pending_by_priority") or {}).items()},
        "oldest_pending_ts": oldest_ts,
        "oldest_pending_created": created,
        "evicted": evicted,
        "evicted_total": sum(evicted.values()),
    }


def _human_age(seconds: float) -> str:
    if seconds < 120:
        return _("{n:.0f} s").format(n=seconds)
    if seconds < 7200:
        return _("{n:.0f} min").format(n=seconds / 60)
    return _("{n:.1f} h").format(n=seconds / 3600)


def check_systemd(env: DoctorContext) -> CheckResult:
    name = "systemd.service"
    if env.systemctl is None:
        return skip(name, _("systemctl not found (not a systemd machine)"))
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [env.systemctl, "show", env.service, "-p", "LoadState,ActiveState,SubState,NRestarts"],
            capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return skip(name, _("systemctl unusable: {exc}").format(exc=exc))
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["unknown error"])[0]
        return skip(name, _("systemd not available: {why}").format(why=why))
    props = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    active = props.get("ActiveState", "")
    sub = props.get("SubState", "")
    try:
        restarts = int(props.get("NRestarts", "0") or 0)
    except ValueError:
        restarts = 0
    details = {"load": props.get("LoadState", ""), "active": active, "sub": sub,
               "restarts": restarts}
    if props.get("LoadState") == "not-found":
        return warn(name, _("unit {service}.service is not installed").format(service=env.service),
                    _("install it: edgeagent install (or copy systemd/edgeagent.service)"),
                    **details)
    if active != "active":
        return fail(name, _("{service}.service is {active} ({sub})").format(
                              service=env.service, active=active or 'unknown', sub=sub),
                    _("systemctl status {service}; journalctl -u {service} -n 50").format(
                        service=env.service),
                    **details)
    if restarts:
        return warn(name, _("{service}.service active but restarted {restarts} times").format(
                              service=env.service, restarts=restarts),
                    _("see why: journalctl -u {service} --since -1d | grep -i error").format(
                        service=env.service),
                    **details)
    return ok(name, _("{service}.service active ({sub}), no restarts").format(
                        service=env.service, sub=sub), **details)
