"""CASAS log parsing, the sensor map, and `edgeagent replay` on a log written here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edgeagent.casas import (
    CasasRecord,
    LineError,
    MapError,
    SensorSpec,
    load_map,
    parse_line,
    parse_lines,
    to_reading,
)
from edgeagent.cli.main import main

AMS = ZoneInfo("Europe/Amsterdam")


def test_parses_plain_and_labelled_casas_lines() -> None:
    plain = parse_line("2008-02-25 00:22:57.000000 S24_Hall_Bedroom_door ON", 1)
    assert plain == CasasRecord(1, datetime(2008, 2, 25, 0, 22, 57), "S24_Hall_Bedroom_door", "ON")
    labelled = parse_line("2010-11-04 00:03:50.209589 M003 ON Sleeping begin", 7)
    assert isinstance(labelled, CasasRecord)
    assert (labelled.activity, labelled.activity_edge) == ("Sleeping", "begin")
    assert labelled.when.microsecond == 209589
    no_fraction = parse_line("2010-11-04 00:03:50 M003 OFF", 2)
    assert isinstance(no_fraction, CasasRecord) and no_fraction.value == "OFF"
    assert parse_line("   ", 3) is None and parse_line("# comment", 4) is None


@pytest.mark.parametrize("text", [
    "2010-11-04 M003 ON", "2010-13-04 00:03:50 M003 ON", "yesterday 00:03:50 M003 ON",
    "2010-11-04 0:3:50 M003 ON",
])
def test_malformed_lines_are_errors_with_their_number(text: str) -> None:
    error = parse_line(text, 12)
    assert isinstance(error, LineError) and error.line == 12 and error.reason


def test_parse_lines_numbers_from_one_and_keeps_going() -> None:
    items = list(parse_lines(["2010-11-04 00:00:01 M1 ON", "garbage", "",
                              "2010-11-04 00:00:02 M1 OFF"]))
    assert [type(i).__name__ for i in items] == ["CasasRecord", "LineError", "CasasRecord"]
    assert items[1].line == 2 and items[2].line == 4


def test_map_loader_validates_kinds(tmp_path: Path) -> None:
    good = tmp_path / "map.toml"
    good.write_text('[sensors.M1]\nkind = "motion"\nroom = "kitchen"\n'
                    '[sensors.D1]\nkind = "contact"\nroom = "hall"\nrole = "entrance"\n')
    sensors = load_map(good).sensors
    assert sensors["D1"] == SensorSpec(kind="contact", room="hall", role="entrance")
    bad = tmp_path / "bad.toml"
    bad.write_text('[sensors.M1]\nkind = "teleporter"\n')
    with pytest.raises(MapError, match=r"sensors\.M1\.kind"):
        load_map(bad)
    with pytest.raises(MapError, match="cannot read"):
        load_map(tmp_path / "missing.toml")


def test_records_become_the_readings_a_driver_would_emit() -> None:
    record = parse_line("2026-03-29 01:59:59 D1 ON", 5)
    assert isinstance(record, CasasRecord)
    door = to_reading(record, SensorSpec(kind="contact", room="hall", role="entrance"), AMS)
    assert door is not None
    assert (door.sensor, door.value, door.room, door.role) == ("door", "open", "hall", "entrance")
    assert door.wall == datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)  # CET = UTC+1
    assert door.data == {"line": 5}
    bed = to_reading(record, SensorSpec(kind="bed", room="bedroom"), AMS)
    assert bed is not None and (bed.sensor, bed.value) == ("bed", "in_bed")
    off = parse_line("2026-03-29 03:00:01 M1 OFF", 6)
    assert isinstance(off, CasasRecord)
    motion = to_reading(off, SensorSpec(kind="motion", room="kitchen"), AMS)
    assert motion is not None and motion.value is False
    assert motion.wall == datetime(2026, 3, 29, 1, 0, 1, tzinfo=UTC)  # CEST = UTC+2
    assert to_reading(off, SensorSpec(kind="ignore"), AMS) is None
    assert to_reading(off, None, AMS) is None


def test_a_chair_pad_or_radar_is_a_held_occupancy_reading(tmp_path: Path) -> None:
    smap = tmp_path / "map.toml"
    smap.write_text('[sensors.CHAIR]\nkind = "occupancy"\nroom = "Living Room"\nrole = "Chair"\n'
                    '[sensors.FP2]\nkind = "occupancy"\nroom = "living"\nrole = "radar"\n')
    sensors = load_map(smap).sensors
    assert sensors["CHAIR"] == SensorSpec(kind="occupancy", room="living", role="chair")
    for line, value in (("2026-03-02 13:38:00 CHAIR ON", True),
                        ("2026-03-02 16:09:00 CHAIR OFF", False)):
        record = parse_line(line, 1)
        assert isinstance(record, CasasRecord)
        reading = to_reading(record, sensors["CHAIR"], AMS)
        assert reading is not None
        assert (reading.sensor, reading.value, reading.room, reading.role) == (
            "occupancy", value, "living", "chair")
    present = parse_line("2026-03-02 13:38:00 FP2 PRESENT", 2)
    assert isinstance(present, CasasRecord)
    radar = to_reading(present, sensors["FP2"], AMS)
    assert radar is not None and (radar.sensor, radar.value, radar.role) == (
        "occupancy", True, "radar")


LOG = """\
2026-03-02 22:30:00.000000 M_BED ON
2026-03-02 22:30:05.000000 M_BED OFF
2026-03-02 22:31:00.000000 MAT ON
this line is broken
2026-03-03 02:10:00.000000 MAT OFF
2026-03-03 02:11:00.000000 M_BATH ON
2026-03-03 02:11:10.000000 M_BATH OFF Toilet begin
2026-03-03 02:41:00.000000 M_KITCHEN ON
2026-03-03 02:41:05.000000 X9 ON
"""

MAP = """\
[sensors.M_BED]
kind = "motion"
room = "bedroom"
[sensors.M_BATH]
kind = "motion"
room = "bathroom"
[sensors.M_KITCHEN]
kind = "motion"
room = "kitchen"
[sensors.MAT]
kind = "bed"
room = "bedroom"
"""


def write_log(tmp_path: Path) -> tuple[Path, Path]:
    log, sensor_map = tmp_path / "events.txt", tmp_path / "map.toml"
    log.write_text(LOG)
    sensor_map.write_text(MAP)
    return log, sensor_map


def test_replay_json_lists_alerts_and_counts_the_malformed_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, sensor_map = write_log(tmp_path)
    code = main(["replay", str(log), "--format", "casas", "--map", str(sensor_map),
                 "--timezone", "Europe/Amsterdam", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    doc = json.loads(out)
    assert [(a["ts"], a["type"], a["severity"], a["state"]) for a in doc["alerts"]] == [
        ("2026-03-03T01:31:00.000Z", "bed_exit_no_return", "critical", "raised"),
        ("2026-03-03T01:41:00.000Z", "bed_exit_no_return", "critical", "resolved"),
    ]
    first = doc["alerts"][0]
    assert first["alert_id"] == doc["alerts"][1]["alert_id"] == (
        "bed_exit_no_return-20260303T013100Z")
    assert first["reason"] == ("out of bed since 02:10, last seen in bathroom at 02:11, "
                               "no motion anywhere for 20 min")
    assert doc["summary"]["malformed_lines"] == 1
    assert doc["summary"]["unmapped_or_ignored"] == 1
    assert doc["summary"]["alerts_by_type"] == {"bed_exit_no_return": 1}
    assert doc["summary"]["critical_alerts"] == 1
    assert doc["malformed"][0]["line"] == 4
    assert "events.txt:4: skipped malformed line" in err


def test_replay_text_output_and_identical_reruns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, sensor_map = write_log(tmp_path)
    args = ["replay", str(log), "--map", str(sensor_map), "--timezone", "Europe/Amsterdam"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "02:31  critical bed_exit_no_return  (bathroom)  -> 02:41  open 10 min" in text
    assert "resolved: motion in kitchen at 02:41" in text
    assert main([*args, "--json"]) == 0
    once = json.loads(capsys.readouterr().out)
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == once


def test_replay_uses_the_config_heuristics(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    log, sensor_map = write_log(tmp_path)
    config = tmp_path / "edgeagent.toml"
    config.write_text('[home]\ntimezone = "Europe/Amsterdam"\n'
                      '[heuristics]\nbed_exit_no_return_minutes = 10\n')
    assert main(["replay", str(log), "--map", str(sensor_map), "--config", str(config),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["timezone"] == "Europe/Amsterdam"
    assert doc["alerts"][0]["ts"] == "2026-03-03T01:21:00.000Z"


def test_replay_refuses_bad_inputs_with_exit_2(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    log, sensor_map = write_log(tmp_path)
    assert main(["replay", str(log), "--map", str(sensor_map), "--timezone", "Mars/Base"]) == 2
    assert "unknown time zone" in capsys.readouterr().err
    bad_map = tmp_path / "bad.toml"
    bad_map.write_text("[sensors.X]\nkind = 3\n")
    assert main(["replay", str(log), "--map", str(bad_map)]) == 2
    assert "map error" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "nope.txt"), "--map", str(sensor_map)]) == 2


def test_replay_accepts_a_chair_pad_in_the_map(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    log, sensor_map = write_log(tmp_path)
    sensor_map.write_text(MAP + '[sensors.CHAIR]\nkind = "occupancy"\nroom = "living"\n'
                                'role = "chair"\n')
    log.write_text("2026-03-02 13:38:00.000000 CHAIR ON\n2026-03-02 16:09:00.000000 CHAIR OFF\n"
                   + LOG)
    assert main(["replay", str(log), "--map", str(sensor_map), "--timezone",
                 "Europe/Amsterdam", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["unmapped_or_ignored"] == 1  # X9 only: the pad is read
    assert doc["summary"]["readings"] == 9  # the 7 mapped lines of LOG and the pad's 2


def test_replay_walks_through_the_repeated_autumn_hour(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 25 Oct 2026 in Amsterdam: 02:00-03:00 happens twice. A sorted local log
    # reads 02:51 (first pass, CEST = 00:51 UTC) then 02:30 (second pass, CET =
    # 01:30 UTC): 39 real minutes of silence in between, not minus 21.
    log, sensor_map = tmp_path / "events.txt", tmp_path / "map.toml"
    sensor_map.write_text(MAP)
    log.write_text(
        "2026-10-24 22:30:00 M_BED ON\n2026-10-24 22:31:00 MAT ON\n"
        "2026-10-25 02:50:00 MAT OFF\n2026-10-25 02:51:00 M_BATH ON\n"
        "2026-10-25 02:30:00 M_KITCHEN ON\n")
    assert main(["replay", str(log), "--map", str(sensor_map), "--timezone",
                 "Europe/Amsterdam", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(a["ts"], a["local"], a["state"]) for a in doc["alerts"]] == [
        ("2026-10-25T01:11:00.000Z", "2026-10-25T02:11:00+01:00", "raised"),
        ("2026-10-25T01:30:00.000Z", "2026-10-25T02:30:00+01:00", "resolved"),
    ]


def test_replay_prealarm_counts_questions_her_activity_would_have_cancelled(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, sensor_map = write_log(tmp_path)
    args = ["replay", str(log), "--map", str(sensor_map), "--timezone", "Europe/Amsterdam",
            "--json", "--prealarm"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    # Asked at 02:31, nobody answered, the alert went out at 02:33.
    assert doc["summary"]["prealarm_asked"] == 1
    assert doc["summary"]["prealarm_cancelled_by_activity"] == 0
    assert doc["summary"]["critical_alerts"] == 1
    # She walks into the kitchen a minute into the question: it stays home.
    log.write_text(LOG.replace("02:41:00.000000 M_KITCHEN", "02:32:00.000000 M_KITCHEN"))
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["prealarm_cancelled_by_activity"] == 1
    assert doc["summary"]["critical_alerts"] == 0
