"""Clock, disk, outbox, systemd, version, config: each check passes, and fails for its reason."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edgeagent import __version__
from edgeagent.doctor import Status, render_json, render_text, run_doctor
from edgeagent.doctor.config_checks import check_config
from edgeagent.doctor.system_checks import (
    check_clock,
    check_disk,
    check_outbox,
    check_systemd,
    check_version,
)
from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox
from tests.conftest import make_config, write_config

from .conftest import quiet_env


def test_clock_synced_passes_and_unsynced_fails():
    assert check_clock(quiet_env(sync_probe=lambda: True)).status is Status.PASS
    result = check_clock(quiet_env(sync_probe=lambda: False))
    assert result.status is Status.FAIL
    assert "not synchronised" in result.reason and "timedatectl" in result.fix


# -- disk -------------------------------------------------------------------------------


def test_disk_with_room_passes(tmp_path):
    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    result = check_disk(config, quiet_env())
    assert result.status is Status.PASS, result
    assert result.details["free_bytes"] > 0


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "2m"):
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); the injected-statvfs "
                    "test covers the logic")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> None:
    chunk = b"\0" * 65536
    with open(directory / "ballast", "wb") as fh:
        while True:
            try:
                fh.write(chunk)
                fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return


def test_full_disk_fails_on_a_real_small_filesystem(tmp_path):
    with small_tmpfs(tmp_path / "small") as small:
        config = make_config(tmp_path, "mqtt://127.0.0.1:1",
                             outbox={"path": str(small / "outbox.db")})
        # A small but empty filesystem is "nearly full" by the absolute floor already...
        assert check_disk(config, quiet_env()).status in (Status.WARN, Status.FAIL)
        fill(small)
        result = check_disk(config, quiet_env())
        assert result.status is Status.FAIL
        assert result.reason.startswith("disk full") and result.details["free_bytes"] < 65536


def test_full_disk_fails_with_injected_statvfs(tmp_path):
    real = os.statvfs(tmp_path)

    class Full:
        f_frsize = real.f_frsize
        f_blocks = real.f_blocks
        f_bavail = 10

    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    result = check_disk(config, quiet_env(statvfs=lambda _p: Full()))
    assert result.status is Status.FAIL and "disk full" in result.reason


# -- outbox -----------------------------------------------------------------------------


def draft(kind: Kind = Kind.STATE, type_: str = "motion",
          severity: Severity = Severity.INFO) -> Draft:
    return Draft(kind=kind, type=type_, severity=severity, source={"driver": "t"}, mono=1.0,
                 wall=datetime(2026, 1, 1, tzinfo=UTC), data={"x": "y" * 100})


def by_name(results):
    return {r.name: r for r in results}


def test_outbox_empty_passes_every_outbox_check(tmp_path):
    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    Outbox(config.outbox.path, "home-1", boot_id="b").close()
    results = by_name(check_outbox(config, quiet_env()))
    assert {r.status for r in results.values()} == {Status.PASS}
    assert results["outbox.depth"].reason == "0 events waiting"


def test_outbox_old_undelivered_event_fails_with_its_age(tmp_path):
    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    outbox = Outbox(config.outbox.path, "home-1", boot_id="b")
    outbox.append([draft(Kind.ALERT, "sos", Severity.CRITICAL)], synced=True)
    fresh = by_name(check_outbox(config, quiet_env()))
    assert fresh["outbox.depth"].reason == "1 events waiting"
    assert fresh["outbox.oldest"].status is Status.PASS
    later = by_name(check_outbox(config, quiet_env(now=lambda: time.time() + 7200)))
    assert later["outbox.oldest"].status is Status.FAIL
    assert "2.0 h ago" in later["outbox.oldest"].reason
    outbox.mark_delivered([1])
    outbox.close()
    assert by_name(check_outbox(config, quiet_env(now=lambda: time.time() + 7200)))[
        "outbox.oldest"].status is Status.PASS


def test_outbox_evictions_warn(tmp_path):
    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    outbox = Outbox(config.outbox.path, "home-1", boot_id="b", max_bytes=3000)
    for _ in range(20):
        outbox.append([draft()], synced=True)
    outbox.close()
    result = by_name(check_outbox(config, quiet_env()))["outbox.evictions"]
    assert result.status is Status.WARN
    assert "dropped" in result.reason and result.details["raw_state"] > 0


def test_outbox_reader_runs_beside_a_writer(tmp_path):
    """WAL: the read-only doctor view sees committed rows while the writer keeps its file open."""
    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    outbox = Outbox(config.outbox.path, "home-1", boot_id="b")
    outbox.append([draft(), draft()], synced=True)
    assert by_name(check_outbox(config, quiet_env()))["outbox.depth"].details == {
        "raw_state": 2}
    outbox.append([draft()], synced=True)  # the writer is not blocked by the reader
    assert "3 events" in by_name(check_outbox(config, quiet_env()))["outbox.depth"].reason
    outbox.close()


def test_missing_outbox_warns(tmp_path):
    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    result = check_outbox(config, quiet_env())[0]
    assert result.status is Status.WARN and "does not exist" in result.reason


# -- systemd ----------------------------------------------------------------------------


def fake_systemctl(tmp_path: Path, output: str, rc: int = 0) -> str:
    script = tmp_path / "systemctl"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\nexit {rc}\n")
    script.chmod(0o755)
    return str(script)


def test_systemd_active_without_restarts_passes(tmp_path):
    tool = fake_systemctl(tmp_path, "LoadState=loaded\nActiveState=active\nSubState=running\n"
                                    "NRestarts=0")
    assert check_systemd(quiet_env(systemctl=tool)).status is Status.PASS


def test_systemd_failed_service_fails_and_restarts_warn(tmp_path):
    failed = fake_systemctl(tmp_path, "LoadState=loaded\nActiveState=failed\nSubState=failed\n"
                                      "NRestarts=5")
    result = check_systemd(quiet_env(systemctl=failed))
    assert result.status is Status.FAIL and "failed" in result.reason
    assert "journalctl -u edgeagent" in result.fix
    flapping = fake_systemctl(tmp_path, "LoadState=loaded\nActiveState=active\n"
                                        "SubState=running\nNRestarts=7")
    result = check_systemd(quiet_env(systemctl=flapping))
    assert result.status is Status.WARN and "restarted 7 times" in result.reason


def test_systemd_absent_is_a_skip():
    assert check_systemd(quiet_env(systemctl=None)).status is Status.SKIP


# -- version and config -----------------------------------------------------------------


def test_version_passes_and_warns_when_the_daemon_runs_another():
    assert check_version(quiet_env()).status is Status.PASS
    result = check_version(quiet_env(live={"version": "0.0.1"}))
    assert result.status is Status.WARN and "0.0.1" in result.reason
    assert __version__ in result.reason


def test_config_invalid_fails_naming_the_key(tmp_path):
    path = write_config(tmp_path / "bad.toml", """
        [mqtt]
        urls = ["http://nope"]
    """)
    results, config = check_config(str(path))
    assert config is None
    assert results[0].status is Status.FAIL and "mqtt.urls" in results[0].reason


def test_secret_file_readable_by_others_fails(tmp_path):
    secret = tmp_path / "pass"
    secret.write_text("pw")
    secret.chmod(0o644)
    path = write_config(tmp_path / "c.toml", f"""
        [mqtt]
        username = "u"
        password_file = "{secret}"
    """)
    results, _ = check_config(str(path))
    assert results[0].status is Status.PASS
    assert results[1].status is Status.FAIL
    assert "mode 0644" in results[1].reason and results[1].fix == f"chmod 600 {secret}"
    secret.chmod(0o600)
    results, _ = check_config(str(path))
    assert results[1].status is Status.PASS


def test_report_exit_codes_json_and_plain_text(tmp_path, mosquitto):
    path = write_config(tmp_path / "c.toml", f"""
        [home]
        id = "home-1"
        [mqtt]
        urls = ["{mosquitto.url}"]
        [outbox]
        path = "{tmp_path}/outbox.db"
        [control]
        socket = "{tmp_path}/control.sock"
    """)
    Outbox(tmp_path / "outbox.db", "home-1", boot_id="b").close()
    report = run_doctor(str(path), quiet_env())
    # Plain-text MQTT and no daemon are warnings; nothing fails.
    assert report.exit_code == 1, render_text(report, colour=False)
    report = run_doctor(str(path), quiet_env(sync_probe=lambda: False))
    assert report.exit_code == 2
    text = render_text(report, colour=False)
    assert "\033[" not in text and "FAIL  clock.synced" in text
    assert "\033[31m" in render_text(report, colour=True)
    doc = __import__("json").loads(render_json(report))
    assert doc["exit_code"] == 2 and doc["summary"]["fail"] == 1
    assert {"name", "status", "reason"} <= set(doc["checks"][0])


def test_deep_outbox_warns(tmp_path):
    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    outbox = Outbox(config.outbox.path, "home-1", boot_id="b")
    outbox.append([draft() for _ in range(1001)], synced=True)
    outbox.close()
    result = by_name(check_outbox(config, quiet_env()))["outbox.depth"]
    assert result.status is Status.WARN and "1001 events waiting" in result.reason
    assert "mqtt" in result.fix


def test_daemon_link_connected_passes_and_down_fails():
    from edgeagent.doctor.mqtt_checks import check_daemon_link

    up = check_daemon_link({"mqtt": {"state": "connected", "broker": "mqtts://b:8883",
                                     "acked": 12}})
    assert up.status is Status.PASS and "12 events acknowledged" in up.reason
    down = check_daemon_link({"mqtt": {"state": "refused", "last_error":
                                       "broker refused the connection: Not authorized"}})
    assert down.status is Status.FAIL and "Not authorized" in down.reason


def test_unreadable_outbox_fails_standalone_and_uses_the_daemon_stats_when_live(tmp_path):
    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    Path(config.outbox.path).write_bytes(b"this is not sqlite" * 100)
    alone = check_outbox(config, quiet_env())
    assert alone[0].status is Status.FAIL and "outbox unreadable" in alone[0].reason
    live = {"outbox": {"pending": 3, "pending_by_priority": {"1": 1, "4": 2},
                       "oldest_pending_ts": "2026-01-01T00:00:00.000Z",
                       "evicted": {"raw_state": 5}}}
    now = datetime(2026, 1, 1, 0, 30, tzinfo=UTC).timestamp()
    results = by_name(check_outbox(config, quiet_env(live=live, now=lambda: now)))
    assert results["outbox.depth"].details == {"critical_alert": 1, "raw_state": 2}
    assert results["outbox.oldest"].status is Status.WARN
    assert "30 min" in results["outbox.oldest"].reason
    assert results["outbox.evictions"].status is Status.WARN


def test_outbox_quarantined_events_warn_with_their_seqs(tmp_path):
    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    outbox = Outbox(config.outbox.path, "home-1", boot_id="b")
    outbox.append([draft(), draft()], synced=True)
    assert by_name(check_outbox(config, quiet_env()))["outbox.quarantine"].status is Status.PASS
    assert outbox.set_aside(2, attempts=3, reason="broker dropped the link") == "quarantined"
    outbox.close()
    result = by_name(check_outbox(config, quiet_env()))["outbox.quarantine"]
    assert result.status is Status.WARN
    assert "1 events set aside" in result.reason and "seq 2" in result.reason
