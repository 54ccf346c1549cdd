"""Commissioning lint: names that would switch rules off, placeholder kits, simulated drivers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edgeagent.casas import MapError, parse_map
from edgeagent.cli.main import main
from edgeagent.config import parse_config
from edgeagent.config_lint import lint
from edgeagent.doctor.config_checks import check_config
from edgeagent.models import Reading
from edgeagent.reading_gate import ReadingGate

CONTACT = {"type": "gpio.contact", "name": "front", "pin": 5, "room": "hall",
           "role": "entrance"}


def _reading(room: str | None, role: str | None, sensor: str = "door",
             data: dict[str, Any] | None = None, value: Any = "open") -> Reading:
    return Reading(driver="d", device="d", sensor=sensor, value=value, mono=1.0,
                   wall=datetime(2026, 1, 1, tzinfo=UTC), room=room, role=role,
                   data=data or {})


@pytest.mark.parametrize(("typed", "canonical"), [
    ("卫生间", "bathroom"), ("厕所", "toilet"), ("浴室", "bathroom"), ("卧室", "bedroom"),
    ("厨房", "kitchen"), ("客厅", "living"), ("门厅", "hall"), ("玄关", "hall"),
    ("Bathroom", "bathroom"), (" BEDROOM ", "bedroom"), ("Living Room", "living"),
    ("主卫", "bathroom"),  # declared in home.room_aliases
])
def test_room_names_reach_the_heuristics_canonical(typed: str, canonical: str) -> None:
    config = parse_config({"home": {"room_aliases": {"主卫": "Bathroom"}}})
    gate = ReadingGate(lambda: config)
    assert gate.canonical(_reading(typed, None)).room == canonical


def test_roles_are_canonical_at_the_reading_boundary() -> None:
    config = parse_config({})
    gate = ReadingGate(lambda: config)
    assert gate.canonical(_reading("hall", "bathroom-door")).role == "bathroom_door"
    assert gate.canonical(_reading("hall", "Entrance")).role == "entrance"
    assert gate.canonical(_reading("hall", "my_heater")).role == "my_heater"  # custom: kept


def test_alarm_inputs_are_never_a_baseline() -> None:
    gate = ReadingGate(lambda: parse_config({}))
    assert gate.is_baseline(_reading("hall", "entrance", data={"initial": True}))
    assert not gate.is_baseline(_reading("hall", "entrance"))
    for sensor in ("sos", "smoke", "gas", "co"):
        assert not gate.is_baseline(_reading("hall", None, sensor, {"initial": True}))


def test_a_bed_found_occupied_is_fed_but_found_empty_is_a_baseline() -> None:
    gate = ReadingGate(lambda: parse_config({}))
    for value in ("in_bed", True):
        assert not gate.is_baseline(_reading("bedroom", None, "bed", {"initial": True},
                                             value=value))
    for value in ("out_of_bed", False):
        assert gate.is_baseline(_reading("bedroom", None, "bed", {"initial": True},
                                         value=value))


def test_the_heuristics_room_lists_follow_the_same_aliases() -> None:
    config = parse_config({"heuristics": {"bathroom_rooms": ["卫生间", "Shower"],
                                          "daily_checks": [{"name": "tea", "by": "10:00",
                                                            "rooms": ["厨房"]}]}})
    assert config.heuristics.bathroom_rooms == ["bathroom", "shower"]
    assert config.heuristics.daily_checks[0].rooms == ["kitchen"]


def test_a_near_miss_role_is_a_config_error_naming_the_key_and_the_roles(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kit.toml"
    path.write_text('[home]\nid = "test-home-01"\n[[drivers]]\ntype = "gpio.contact"\n'
                    'name = "front"\npin = 5\nroom = "hall"\nrole = "entrnce"\n',
                    encoding="utf-8")
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "drivers[0].role" in err and "'entrance'" in err and "bathroom_door" in err


def test_custom_appliance_roles_stay_valid() -> None:
    config = parse_config({"drivers": [{**CONTACT, "role": "tv"},
                                       {**CONTACT, "name": "b", "pin": 6, "role": "rice_cooker"}]})
    assert [f for f in lint(config, None, "Asia/Shanghai") if f.level != "warning"] == []


def test_replay_map_rooms_and_roles_are_canonical_and_typos_refused() -> None:
    sensors = parse_map({"sensors": {"M1": {"kind": "motion", "room": "卫生间"},
                                     "D1": {"kind": "contact", "room": "Hall",
                                            "role": "bathroom-door"}}}).sensors
    assert sensors["M1"].room == "bathroom"
    assert (sensors["D1"].room, sensors["D1"].role) == ("hall", "bathroom_door")
    with pytest.raises(MapError, match=r"sensors\.D1\.role.*'entrance'"):
        parse_map({"sensors": {"D1": {"kind": "contact", "role": "entrnce"}}})


def test_config_check_warns_on_a_placeholder_kit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kit.toml"
    path.write_text('[home]\nid = "CHANGE-ME"\n', encoding="utf-8")
    assert main(["config", "check", "-c", str(path), "--json"]) == 0   # warnings only
    doc = json.loads(capsys.readouterr().out)
    assert {w["key"] for w in doc["warnings"]} >= {"home.id", "drivers"}


def test_no_bathroom_or_bedroom_and_a_foreign_zone_are_warned() -> None:
    config = parse_config({"home": {"id": "h1", "timezone": "Asia/Shanghai"},
                           "drivers": [CONTACT]})
    found = {(f.key, f.message.split(" ")[0]) for f in lint(config, None, "Europe/Paris")}
    messages = " | ".join(f.message for f in lint(config, None, "Europe/Paris"))
    assert "counts as bathroom" in messages and "counts as bedroom" in messages
    assert ("home.timezone", "Asia/Shanghai") in found
    assert "home.timezone" not in {f.key for f in lint(config, None, "Asia/Shanghai")}


def test_simulated_drivers_fail_on_a_real_install_and_warn_elsewhere() -> None:
    config = parse_config({"home": {"id": "h1"}, "drivers": [
        {**CONTACT, "pin_factory": "mock"}, {"type": "mock.home", "name": "sim"}]})
    real = {f.key: f.level for f in lint(config, "/etc/edgeagent/edgeagent.toml", "")}
    assert real["drivers[0].pin_factory"] == "fail" and real["drivers[1].type"] == "fail"
    lab = {f.key: f.level for f in lint(config, "/tmp/kit.toml", "")}
    assert lab["drivers[0].pin_factory"] == "warning"


def test_doctor_shows_the_lint(tmp_path: Path) -> None:
    path = tmp_path / "kit.toml"
    path.write_text('[home]\nid = "CHANGE-ME"\n', encoding="utf-8")
    results, config = check_config(str(path))
    assert config is not None
    lint_checks = {r.name: str(r.status) for r in results if r.name.startswith("config.lint")}
    assert lint_checks["config.lint[home.id]"] == "warn"
    assert lint_checks["config.lint[drivers]"] == "warn"


def test_the_mock_pin_factory_from_the_environment_fails_a_real_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config({"home": {"id": "h1"}, "drivers": [CONTACT]})
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    real = {f.key: f.level for f in lint(config, "/etc/edgeagent/edgeagent.toml", "")}
    assert real["drivers[0]"] == "fail"
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "lgpio")
    assert "drivers[0]" not in {f.key for f in lint(config, "/etc/edgeagent/e.toml", "")}
