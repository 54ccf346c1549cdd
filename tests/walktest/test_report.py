"""The walk test's bookkeeping and report: BLE devices as sensors, signal and battery, verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from edgeagent.i18n import set_language
from edgeagent.walktest.report import build_report, font_for, render_text, verdict, write_reports
from edgeagent.walktest.session import AlarmResult, WalkSession
from tests.conftest import make_config

NOW = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
BLE = {"type": "ble.vitals", "name": "vitals", "room": "bedroom", "backend": "fake",
       "devices": [{"id": "hr-strap", "address": "A0:9E:1A:12:34:56",
                    "profiles": ["heart_rate", "battery"]},
                   {"id": "oximeter", "address": "5C:F8:21:AB:CD:EF", "room": "living",
                    "profiles": ["pulse_oximeter"]}]}
STATUS = {"version": "1.2.3", "drivers": {"vitals": {"state": "ok", "details": {
    "hr-strap": {"rssi": -67, "battery_pct": 81, "connected": True},
    "oximeter": {"rssi": None, "battery_pct": None, "connected": False}}},
    "pir": {"state": "ok", "details": {"pin": 17}}}}


def _session(tmp_path: Path) -> WalkSession:
    config = make_config(tmp_path, "mqtt://127.0.0.1:1", [
        {"type": "gpio.pir", "name": "pir", "room": "hall", "pin": 17}, BLE],
        home={"timezone": "Asia/Shanghai"})
    return WalkSession.for_config(config, started=NOW)


def _all_alarms_resolved(session: WalkSession) -> None:
    for seq, severity in enumerate(("info", "warning", "critical")):
        session.alarms.append(AlarmResult(severity, stage="resolved", seq=2 * seq + 1,
                                          resolved_seq=2 * seq + 2))


def test_each_ble_device_is_a_sensor_with_its_own_room_signal_and_battery(
        tmp_path: Path) -> None:
    session = _session(tmp_path)
    assert [(s.key, s.room) for s in session.sensors] == [
        ("pir", "hall"), ("vitals/hr-strap", "bedroom"), ("vitals/oximeter", "living")]
    # a heart-rate reading ticks the strap only; a battery level is housekeeping, no tick
    session.observe({"what": "reading", "payload": {"driver": "vitals", "device": "oximeter",
                                                    "sensor": "battery", "value": 90}}, NOW)
    ticked = session.observe({"what": "reading", "payload": {
        "driver": "vitals", "device": "hr-strap", "sensor": "heart_rate", "value": 72}}, NOW)
    assert ticked is not None and ticked.key == "vitals/hr-strap"
    assert session.local(ticked.fired_at) == "21:00:00"
    # test alerts never tick a sensor
    assert session.observe({"what": "event", "payload": {
        "kind": "alert", "type": "test", "source": {"driver": "pir"}}}, NOW) is None
    session.set_phase("alarms", NOW)
    _all_alarms_resolved(session)
    report = build_report(session.snapshot(), STATUS, config_path="/etc/edgeagent/x.toml",
                          broker="mqtts://broker:8883", wait=False)
    by_key = {s["key"]: s for s in report["sensors"]}
    assert (by_key["vitals/hr-strap"]["rssi_dbm"], by_key["vitals/hr-strap"]["battery_pct"]) \
        == (-67, 81)
    assert by_key["vitals/oximeter"]["rssi_dbm"] is None and "rssi_dbm" not in by_key["pir"]
    assert report["silent"] == ["pir", "vitals/oximeter"] and report["result"] == "warn"
    assert report["kit"]["agent_version"] == "1.2.3"
    text = render_text(report)
    assert "-67 dBm, battery 81%" in text and "SILENT" in text


def test_verdict_fails_on_an_unconfirmed_alarm_and_warns_on_a_missing_platform_reply(
        tmp_path: Path) -> None:
    session = _session(tmp_path)
    for sensor in session.sensors:
        sensor.fired_at = NOW
    _all_alarms_resolved(session)
    assert verdict(session.snapshot(), wait=False) == "pass"
    assert verdict(session.snapshot(), wait=True) == "warn"   # no platform reply
    session.alarms[2].stage = "acked"                          # critical never resolved
    assert verdict(session.snapshot(), wait=False) == "fail"
    session.alarms.pop()                                       # refused: only two sent
    assert verdict(session.snapshot(), wait=False) == "fail"


def test_a_chinese_report_is_drawn_only_with_a_font_that_has_chinese_characters(
        tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib import font_manager

    session = _session(tmp_path)
    _all_alarms_resolved(session)
    set_language("zh_CN")
    try:
        report = build_report(session.snapshot(), STATUS, config_path=None, broker="mqtt://b",
                              wait=False)
        files, skipped = write_reports(report, tmp_path / "out" / "walk-test-home-1")
    finally:
        set_language("en")
    assert "巡检测试" in (tmp_path / "out" / "walk-test-home-1.txt").read_text()
    if font_for("巡检", font_manager) is None:           # no boxes instead of characters
        assert skipped is not None and "fonts-noto-cjk" in skipped
        assert [f.suffix for f in files] == [".json", ".txt"]
    else:
        assert skipped is None and files[-1].read_bytes()[:4] == b"\x89PNG"
