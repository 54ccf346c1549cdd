"""When a verified update may be handed over: no critical alert open or recent, not at night."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from pathlib import Path

from edgeagent.config import parse_config
from edgeagent.updates.remote import CriticalAlerts, RemoteUpdates, in_window


class FakeMono:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def alert(alert_id: str, state: str, severity: str = "critical") -> dict[str, object]:
    """What the agent's listeners get for a stored event: its body as the stored JSON text."""
    return {"kind": "alert", "type": "fall_suspected",
            "body": json.dumps({"severity": severity, "alert": {"id": alert_id, "state": state}})}


def updates(tmp_path: Path, mono: FakeMono, wall: datetime) -> RemoteUpdates:
    config = parse_config({"home": {"id": "h", "timezone": "Europe/Amsterdam"},
                           "heuristics": {"night_start": "22:00", "night_end": "06:00"},
                           "updates": {"quiet_after_critical_s": 600}}, "<test>")
    return RemoteUpdates(config, tmp_path, emit=lambda _: None, installed="0.1.0",
                         alerts=CriticalAlerts(mono), wall=lambda: wall)


def test_an_open_or_recent_critical_alert_holds_the_update(tmp_path):
    mono = FakeMono()
    noon = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # 12:00 in Amsterdam
    remote = updates(tmp_path, mono, noon)
    assert remote.safe_now()
    remote.alerts.observe("event", alert("a-1", "raised", "warning"))
    assert remote.safe_now()  # a warning does not hold it
    remote.alerts.observe("event", alert("a-2", "raised"))
    assert not remote.safe_now() and not remote.safe_now(force=True)  # force: night only
    mono.now += 3600
    assert not remote.safe_now()  # still open
    remote.alerts.observe("event", alert("a-2", "resolved"))
    assert remote.safe_now()  # resolved, and raised more than 10 minutes ago
    remote.alerts.observe("event", alert("a-3", "raised"))
    remote.alerts.observe("event", alert("a-3", "resolved"))
    mono.now += 599
    assert not remote.safe_now()  # resolved, but raised less than 10 minutes ago
    mono.now += 1
    assert remote.safe_now()


def test_the_night_window_holds_it_unless_forced(tmp_path):
    mono = FakeMono()
    night = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # 01:30 in Amsterdam (summer time)
    remote = updates(tmp_path, mono, night)
    assert not remote.safe_now()
    assert remote.safe_now(force=True)
    assert in_window(time(23, 0), time(22, 0), time(6, 0))
    assert in_window(time(5, 59), time(22, 0), time(6, 0))
    assert not in_window(time(6, 0), time(22, 0), time(6, 0))
    assert not in_window(time(12, 0), time(13, 0), time(13, 0))  # empty window


def test_a_download_left_by_a_stopped_agent_is_removed_unless_the_updater_still_needs_it(
        tmp_path):
    downloads = tmp_path / "updates"
    downloads.mkdir()
    stale = downloads / "edgeagent-0.2.0.tar.part"
    stale.write_bytes(b"half a bundle")
    (tmp_path / "update-request.json").write_text("{}")
    updates(tmp_path, FakeMono(), datetime(2026, 6, 1, 10, 0, tzinfo=UTC))
    assert stale.exists()  # the updater has not taken its request yet
    (tmp_path / "update-request.json").unlink()
    updates(tmp_path, FakeMono(), datetime(2026, 6, 1, 10, 0, tzinfo=UTC))
    assert not stale.exists()
