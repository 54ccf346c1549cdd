"""Immediate alarms, vital signs with confirmation, device health."""

from __future__ import annotations

from datetime import date

from edgeagent.heuristics import build_engine
from edgeagent.heuristics.passthrough import PassthroughEngine
from edgeagent.heuristics.settings import HeuristicsSettings, VitalLimits
from tests.heuristics.home import ZONE_NAME, Day


def day() -> Day:
    return Day(start=date(2026, 5, 4), overnight=False)


def test_sos_is_critical_at_once_and_cancel_resolves_it() -> None:
    d = day().add("10:00", "sos", True, room="living", device="sos-1")
    d.add("10:01", "sos", True, room="living", device="sos-1")
    d.add("10:02", "sos_cancel", True, device="sos-1")
    assert d.play("10:03").story() == [
        ("10:00", "sos", "critical", "raised"),
        ("10:01", "sos", "critical", "escalated"),
        ("10:02", "sos", "critical", "resolved"),
    ]


def test_smoke_gas_and_co_are_critical_immediately() -> None:
    d = day().add("10:00", "smoke", True, room="kitchen", device="smoke-1")
    d.add("10:00:30", "co", True, room="hall", device="co-1")
    d.add("10:05", "smoke", False, room="kitchen", device="smoke-1")
    assert d.play("10:06").story() == [
        ("10:00", "smoke", "critical", "raised"),
        ("10:00", "co", "critical", "raised"),
        ("10:05", "smoke", "critical", "resolved"),
    ]


def test_one_odd_heart_rate_is_not_an_alert_a_confirming_second_one_is() -> None:
    d = day().add("09:00", "heart_rate", 142, device="hr")
    assert d.play("09:05").alerts == []
    d.add("09:10", "heart_rate", 139, device="hr")
    played = d.play("09:12")
    assert played.story() == [("09:10", "vital_out_of_range", "warning", "raised")]
    assert played.alerts[0].data["reason"] == (
        "heart rate 142 bpm then 139 bpm 10 min apart, above 130 bpm")
    d.add("09:30", "heart_rate", 78, device="hr")
    assert d.play("09:31").story()[-1] == ("09:30", "vital_out_of_range", "warning", "resolved")


def test_odd_readings_too_far_apart_or_interrupted_do_not_confirm() -> None:
    d = day().add("09:00", "spo2", 86, device="ox").add("09:45", "spo2", 87, device="ox")
    d.add("10:00", "heart_rate", 150, device="hr").add("10:01", "heart_rate", 70, device="hr")
    d.add("10:02", "heart_rate", 150, device="hr")
    assert d.play("10:30").alerts == []


def test_very_low_spo2_confirmed_is_critical() -> None:
    d = day().add("09:00", "spo2", 82, device="ox").add("09:02", "spo2", 83, device="ox")
    assert d.play("09:03").story() == [("09:02", "vital_out_of_range", "critical", "raised")]


def test_blood_pressure_as_dict_or_systolic_with_data() -> None:
    d = day().add("08:00", "blood_pressure", {"systolic": 190, "diastolic": 95}, device="bp")
    d.add("08:05", "blood_pressure", 188, data={"diastolic": 96}, device="bp")
    played = d.play("08:06")
    assert [a.data.get("vital") for a in played.alerts] == ["systolic"]


def test_care_plan_limits_are_per_person() -> None:
    settings = HeuristicsSettings(vitals=VitalLimits(heart_rate_max=150))
    d = day().add("09:00", "heart_rate", 142, device="hr").add("09:10", "heart_rate", 139,
                                                               device="hr")
    assert d.play("09:12", settings=settings).alerts == []


def test_room_thermometer_is_not_a_fever_or_hypothermia() -> None:
    d = day().add("09:00", "temperature", 16.5, room="living", device="th")
    d.add("09:05", "temperature", 16.4, room="living", device="th")
    assert d.play("09:10").alerts == []
    d.add("09:20", "temperature", 38.9, device="ear").add("09:25", "temperature", 39.1,
                                                          device="ear")
    assert d.play("09:30").story() == [("09:25", "vital_out_of_range", "warning", "raised")]


def test_device_offline_raises_and_resolves_when_it_reports_again() -> None:
    d = day().add("09:00", "device_status", "offline", device="pir-kitchen",
                  data={"reason": "no heartbeat for 3 h"})
    d.add("10:00", "motion", True, room="kitchen", device="pir-kitchen")
    played = d.play("10:01")
    assert played.story() == [
        ("09:00", "device_offline", "warning", "raised"),
        ("10:00", "device_offline", "warning", "resolved"),
    ]
    assert played.alerts[0].data["reason"] == "pir-kitchen offline: no heartbeat for 3 h"


def test_low_battery_has_hysteresis() -> None:
    d = day()
    for minute, level in ((0, 22), (10, 19), (20, 21), (30, 18), (40, 26)):
        d.add(f"09:{minute:02d}", "battery", level, device="hr")
    assert d.play("09:50").story() == [
        ("09:10", "low_battery", "warning", "raised"),
        ("09:40", "low_battery", "warning", "resolved"),
    ]


def test_disabled_heuristics_fall_back_to_passthrough() -> None:
    engine = build_engine(HeuristicsSettings(enabled=False), ZONE_NAME)
    assert isinstance(engine, PassthroughEngine)


def test_alert_ids_are_deterministic_across_replays() -> None:
    d = day().add("10:00", "sos", True, device="sos-1").add("10:02", "sos_cancel", True,
                                                            device="sos-1")
    first, second = d.play("10:03"), d.play("10:03")
    assert [a.alert for a in first.alerts] == [a.alert for a in second.alerts]
    assert first.alerts[0].alert == {"id": "sos-20260504T080000Z", "state": "raised"}
