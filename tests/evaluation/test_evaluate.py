"""`edgeagent evaluate`: where falls are injected, how alerts are scored, the CLI and docs table."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from edgeagent.casas import CasasRecord, parse_map
from edgeagent.cli.main import main
from edgeagent.evaluation import day_falls, evaluate_home, night_falls
from edgeagent.evaluation.report import BlockError, replace_block
from edgeagent.models import Draft, Kind, Reading, Severity
from tests.evaluation import small_home as home
from tests.evaluation.small_home import DAY_FALLS, NIGHT_FALLS, at

REFERENCE_KEYS = {"days", "events", "critical_alerts", "critical_per_30d", "injected_falls",
                  "detected", "median_minutes", "max_minutes", "day_falls", "day_detected",
                  "day_median_minutes"}
ROOT = Path(__file__).resolve().parents[2]


class SilenceAlarm:
    """A stand-in engine: one alert `limit` after any silence that long, stamped at the deadline."""

    def __init__(self, severity: Severity = Severity.CRITICAL, type_: str = "fall_suspected",
                 limit: timedelta = timedelta(minutes=20)) -> None:
        self.severity, self.type, self.limit = severity, type_, limit
        self.last: datetime | None = None

    def _due(self, now: datetime) -> list[Draft]:
        if self.last is None or now - self.last < self.limit:
            return []
        due = self.last + self.limit
        self.last = None
        return [Draft(Kind.ALERT, self.type, self.severity, {}, due.timestamp(), due,
                      {"reason": "silent"}, {"state": "raised", "id": f"{self.type}-{due}"})]

    def feed(self, reading: Reading) -> list[Draft]:
        out = self._due(reading.wall)
        self.last = reading.wall
        return out

    def tick(self, mono: float, wall: datetime) -> list[Draft]:
        return self._due(wall)

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None


class Silent(SilenceAlarm):
    def feed(self, reading: Reading) -> list[Draft]:
        return []


def _last_before(moment: datetime) -> datetime:
    return max(r.when for r in home.records() if r.when <= moment)


# --------------------------------------------------------------- where falls are injected
def test_night_falls_follow_the_trip_rules_to_the_millisecond() -> None:
    falls = night_falls(home.records(), home.sensor_map(), home.activities())
    # 3 Mar: kitchen 60 s after the bed exit (the 04:00 trip is the same night: dropped);
    # 4 Mar: back in the bedroom 40 s after the bathroom: 1 ms before that; 5 Mar: the
    # bouncing drawer skipped; 6 Mar: 05:45 and 06:10 are after 05:30; 7 Mar: annotated
    # use_toilet, the seat mat being pressed skipped; 22:30 annotated night_toilet_trip;
    # 8 Mar: the kitchen 10 min 30 s after the bed exit is no trip.
    assert [f.at for f in falls] == NIGHT_FALLS
    assert [f.trip_start for f in falls] == [
        at(1, "02:00:00"), at(2, "01:30:00"), at(3, "03:00:00"), at(5, "03:00:00"),
        at(5, "22:30:00")]


def test_a_contact_changing_six_times_a_minute_is_a_bouncing_switch_five_is_her() -> None:
    records = home.records()
    assert at(3, "03:03:00") in [f.at for f in night_falls(records, home.sensor_map(),
                                                           home.activities())]
    fewer = [r for r in records if not (r.sensor == "DRAWER" and r.when == at(3, "03:00:30"))]
    falls = [f.at for f in night_falls(fewer, home.sensor_map(), home.activities())]
    assert at(3, "03:01:05") in falls and at(3, "03:03:00") not in falls


def test_a_pad_being_pressed_is_not_where_she_falls() -> None:
    as_motion = parse_map({"sensors": home.MAP | {"SEAT": {"kind": "motion", "room": "living"}}})
    falls = [f.at for f in night_falls(home.records(), as_motion, home.activities())]
    assert at(5, "03:01:10") in falls and at(5, "03:01:30") not in falls


def test_a_chair_pad_mapped_as_occupancy_is_a_pad_like_the_bed() -> None:
    as_chair = parse_map({"sensors": home.MAP | {"SEAT": {"kind": "occupancy", "room": "living",
                                                          "role": "chair"}}})
    assert [f.at for f in night_falls(home.records(), as_chair, home.activities())] == NIGHT_FALLS
    assert [f.at for f in day_falls(home.records(), as_chair, home.activities())] == DAY_FALLS
    # 4 Mar at home all day: she sits down at 10:10; the first activity is still 10:30.
    sits = CasasRecord(0, at(2, "10:10:00"), "SEAT", "ON")
    records = sorted([*home.records(), sits], key=lambda r: r.when)
    home_all_day = [a for a in home.activities() if a.name != "leave_house"]
    assert day_falls(records, as_chair, home_all_day)[1].at == at(2, "10:30:01")
    as_motion = parse_map({"sensors": home.MAP | {"SEAT": {"kind": "motion", "room": "living"}}})
    assert day_falls(records, as_motion, home_all_day)[1].at == at(2, "10:10:01")


def test_day_falls_skip_pads_the_front_door_ignored_sensors_and_outings() -> None:
    falls = day_falls(home.records(), home.sensor_map(), home.activities())
    # 2 Mar: first event after 10:00 is at 20:00 (after 16:00); 5 Mar: 16:30; 9 Mar: the
    # recording ends. 3 Mar: bed pad, front door, ignored sensor skipped; 4 Mar: out 09:30-11:00.
    assert [f.at for f in falls] == DAY_FALLS
    home_all_day = [a for a in home.activities() if a.name != "leave_house"]
    falls = day_falls(home.records(), home.sensor_map(), home_all_day)
    assert [f.at for f in falls][1] == at(2, "10:30:01")


# --------------------------------------------------------------- how alerts are scored
def test_an_engine_that_raises_nothing_detects_no_fall() -> None:
    result = evaluate_home(home.records(), home.sensor_map(), home.activities(),
                           engine_factory=Silent)
    s = result.summary()
    assert (s["injected_falls"], s["detected"], s["median_minutes"]) == (5, 0, None)
    assert (s["day_falls"], s["day_detected"], s["critical_alerts"]) == (5, 0, 0)
    assert not any(f.followed for f in result.night + result.day)


def test_minutes_are_counted_from_the_fall_to_the_first_fall_alert() -> None:
    result = evaluate_home(home.records(), home.sensor_map(), home.activities(),
                           engine_factory=SilenceAlarm)
    for fall in result.night + result.day:
        alarm = _last_before(fall.at) + timedelta(minutes=20)
        assert fall.minutes == pytest.approx((alarm - fall.at).total_seconds() / 60)
    assert result.summary()["detected"] == 5
    assert result.summary()["median_minutes"] == 19.1  # 19.0, 19.35, 19.0, 19.17, 19.08
    # Ordinary life: one critical alert per silence of 20 minutes or more.
    times = sorted(r.when for r in home.records())
    gaps = sum(1 for a, b in pairwise(times) if b - a >= timedelta(minutes=20))
    assert result.summary()["critical_alerts"] == gaps


def test_nights_need_a_critical_alert_days_a_warning_and_only_fall_types_count() -> None:
    def warning() -> SilenceAlarm:
        return SilenceAlarm(Severity.WARNING)

    def night_exit() -> SilenceAlarm:
        return SilenceAlarm(type_="night_exit")

    warned = evaluate_home(home.records(), home.sensor_map(), home.activities(),
                           engine_factory=warning).summary()
    assert (warned["detected"], warned["day_detected"], warned["critical_alerts"]) == (0, 5, 0)
    other = evaluate_home(home.records(), home.sensor_map(), home.activities(),
                          engine_factory=night_exit).summary()
    assert (other["detected"], other["day_detected"]) == (0, 0)
    assert other["critical_alerts"] > 0


def test_the_copied_engine_gives_what_a_fresh_replay_of_each_cut_log_gives() -> None:
    copied = evaluate_home(home.records(), home.sensor_map(), home.activities())
    fresh = evaluate_home(home.records(), home.sensor_map(), home.activities(),
                          fresh_replays=True)
    assert (copied.replays, fresh.replays) == ("forked", "fresh")
    assert copied.night and copied.to_json() | {"replays": ""} == fresh.to_json() | {"replays": ""}


def test_a_log_out_of_time_order_is_replayed_fresh_for_every_fall() -> None:
    records = home.records()
    swapped = [*records[:10], records[11], records[10], *records[12:]]
    assert swapped[10].when > swapped[11].when
    result = evaluate_home(swapped, home.sensor_map(), home.activities(),
                           engine_factory=SilenceAlarm)
    assert result.replays == "fresh"
    assert result.summary()["detected"] == 5


# --------------------------------------------------------------- CLI
def test_cli_json_carries_the_reference_keys_and_each_fall(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, smap, acts = home.write(tmp_path / "home")
    args = ["evaluate", str(events), "--map", str(smap), "--activities", str(acts)]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out.keys() >= REFERENCE_KEYS
    assert (out["injected_falls"], out["day_falls"], out["events"]) == (5, 5, len(home.records()))
    assert [f["at"] for f in out["night_fall_list"]] == [
        t.isoformat(sep=" ", timespec="milliseconds") for t in NIGHT_FALLS]
    assert {"day_max_minutes", "critical_list", "day_fall_list"} <= out.keys()
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "night falls: " in text and "2026-03-04 01:30:49" in text


def test_cli_names_the_bad_activities_line_and_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, smap, acts = home.write(tmp_path / "home")
    acts.write_text(acts.read_text() + "2026-03-04 nonsense\n")
    code = main(["evaluate", str(events), "--map", str(smap), "--activities", str(acts)])
    assert code == 2
    assert f"{acts}:{len(home.activities()) + 1}:" in capsys.readouterr().err


def test_an_evaluation_is_deterministic_for_shifted_records() -> None:
    # Same home a week later, records built by hand as a generator would: same figures.
    week = timedelta(days=7)
    records = [replace(r, when=r.when + week) for r in home.records()]
    acts = [replace(a, start=a.start + week, end=a.end + week) for a in home.activities()]
    later = evaluate_home(records, home.sensor_map(), acts, engine_factory=SilenceAlarm)
    now = evaluate_home(home.records(), home.sensor_map(), home.activities(),
                        engine_factory=SilenceAlarm)
    assert later.summary() == now.summary()
    assert isinstance(records[0], CasasRecord)


# --------------------------------------------------------------- docs table
def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("evaluate_homes",
                                                  ROOT / "bench" / "evaluate_homes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_block_is_rewritten_between_its_markers_only(tmp_path: Path) -> None:
    home.write(tmp_path / "data" / "small")
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- evaluation:begin -->\nold\n<!-- evaluation:end -->\noutro\n"
                   "<!-- synthetic:begin -->\nkept\n<!-- synthetic:end -->\n")
    assert _bench().main([str(tmp_path / "data"), "--write-docs", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("intro\n<!-- evaluation:begin -->\n| home |")
    assert "| small | 6.5 | " in text and "old" not in text
    assert text.endswith("outro\n<!-- synthetic:begin -->\nkept\n<!-- synthetic:end -->\n")


def test_a_document_without_the_markers_is_refused() -> None:
    with pytest.raises(BlockError):
        replace_block("no markers here", "evaluation", "table")


def test_cli_config_gives_its_heuristics_and_zone_only_when_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    events, smap, acts = home.write(tmp_path / "home")
    config = tmp_path / "kit.toml"
    config.write_text('[home]\nid = "h"\ntimezone = "Asia/Shanghai"\n'
                      "[heuristics]\nbed_exit_no_return_minutes = 60\n")
    args = ["evaluate", str(events), "--map", str(smap), "--activities", str(acts), "--json"]

    def run(*extra: str) -> dict[str, Any]:
        assert main([*args, *extra]) == 0
        doc: dict[str, Any] = json.loads(capsys.readouterr().out)
        return doc

    monkeypatch.setenv("EDGEAGENT_CONFIG", str(config))  # the machine's config: not read
    plain = run()
    assert (plain["timezone"], plain["median_minutes"]) == ("UTC", 19.0)
    tuned = run("-c", str(config))
    assert (tuned["timezone"], tuned["median_minutes"]) == ("Asia/Shanghai", 59.0)
    assert run("--config", str(config), "--timezone", "UTC")["timezone"] == "UTC"
    config.write_text("[home]\nidd = 1\n")
    assert main([*args, "-c", str(config)]) == 2
    assert "home.idd" in capsys.readouterr().err
