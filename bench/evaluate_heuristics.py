"""Evaluate the safety heuristics on recorded homes: false alarms, home/away, injected falls.

    python bench/evaluate_heuristics.py /work/shared/data [--timezone Europe/Amsterdam]

For every folder under DATA_DIR holding `events.txt` + `map.toml` (and
optionally the residents' `activities.txt`), with the engine's default
settings (nothing is tuned per recording):

- ordinary life: days, events, alerts raised per type per 30 days, critical
  alerts per 30 days (raised critical or escalated to critical);
- home/away: inferred away spans against annotated `leave_house`, and
  `night_exit` alerts against annotated departures at night;
- the mat-only baseline ("bed empty for 20 min at night, after going to
  bed"), counted the same way;
- an incident injector. Night falls: every annotated `use_toilet` inside a
  `go_to_bed` at night, and every bed-mat exit at night followed within 5 min
  by a sensor outside the bedroom (not a contact chattering while the
  bedroom PIR sees the resident in bed: she cannot be in two places); the
  resident is taken to fall on the way back a minute after reaching the
  first room outside the bedroom (or on reaching the bedroom door, if
  sooner): every event from then on is cut for 4 hours. Daytime falls: each
  day, the first moment after 10:00 at which the resident is at home (not
  annotated as out, not the entrance door), then 4 hours of nothing. We
  report detection rate and minutes from the last activity to the alert
  (critical for night falls, warning or critical for day falls).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edgeagent.casas import (
    LineError,
    SensorMap,
    load_map,
    local_to_utc,
    parse_lines,
    to_reading,
)
from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.localtime import LocalTime
from edgeagent.heuristics.replay import declare_map
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Draft, Kind, Reading, Severity

CUT_SECONDS = 4 * 3600
SILENCE_TYPES = {"inactivity", "fall_suspected", "bed_exit_no_return", "bathroom_overstay",
                 "not_up"}


@dataclass
class Home:
    name: str
    readings: list[Reading]
    activities: list[tuple[float, float, str]]
    bedrooms: frozenset[str]
    sensor_map: SensorMap


def load_home(folder: Path, root: Path, timezone: str, settings: HeuristicsSettings) -> Home:
    zone = ZoneInfo(timezone)
    sensor_map = load_map(folder / "map.toml")
    sensors = sensor_map.sensors
    readings: list[Reading] = []
    with (folder / "events.txt").open(encoding="utf-8") as lines:
        for item in parse_lines(lines):
            if isinstance(item, LineError):
                continue
            reading = to_reading(item, sensors.get(item.sensor), zone)
            if reading is not None:
                readings.append(reading)
    activities: list[tuple[float, float, str]] = []
    annotations = folder / "activities.txt"
    if annotations.exists():
        for line in annotations.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) < 5:
                continue
            start = datetime.strptime(f"{parts[0]} {parts[1][:8]}", "%Y-%m-%d %H:%M:%S")
            end = datetime.strptime(f"{parts[2]} {parts[3][:8]}", "%Y-%m-%d %H:%M:%S")
            activities.append((local_to_utc(start, zone).timestamp(),
                               local_to_utc(end, zone).timestamp(), parts[4]))
    return Home(str(folder.relative_to(root)), readings, activities,
                frozenset(settings.bedroom_rooms), sensor_map)


def is_activity(reading: Reading) -> bool:
    if reading.sensor == "motion":
        return bool(reading.value)
    if reading.sensor == "bed":
        return reading.value == "in_bed"
    return True


CHATTER_TOGGLES = 6      # changes of one contact within ±CHATTER_SECONDS/2: a bouncing switch
CHATTER_SECONDS = 120.0


def chatter_while_in_bedroom(home: Home, stamps: list[float]) -> set[int]:
    """Indices of contact events outside the bedroom that cannot be the resident.

    A contact (a mercury switch in a drawer, say) that toggles many times
    within a minute either side while the bedroom PIR sees the resident in the
    bedroom is noise: she cannot be in two places. Such an event is no "sensor outside the bedroom"
    for the injector (the issue's definition of a trip asks for the resident
    outside the bedroom). Hindsight is fine here: this is the evaluation's
    ground truth, not the engine.
    """
    half = CHATTER_SECONDS / 2
    bedroom_motion = [ts for ts, r in zip(stamps, home.readings, strict=True)
                      if r.sensor == "motion" and r.value and r.room in home.bedrooms]
    by_device: dict[str, list[float]] = {}
    for ts, r in zip(stamps, home.readings, strict=True):
        if r.sensor not in ("motion", "bed") and r.room not in home.bedrooms:
            by_device.setdefault(r.device, []).append(ts)
    noisy: set[int] = set()
    for index, (ts, r) in enumerate(zip(stamps, home.readings, strict=True)):
        if r.sensor in ("motion", "bed") or r.room in home.bedrooms:
            continue
        same = by_device[r.device]
        toggles = bisect_right(same, ts + half) - bisect_left(same, ts - half)
        seen = bisect_right(bedroom_motion, ts + half) - bisect_left(bedroom_motion, ts - half)
        if toggles >= CHATTER_TOGGLES and seen:
            noisy.add(index)
    return noisy


def critical_ids(alerts: list[Draft]) -> set[str]:
    return {a.alert["id"] for a in alerts if a.alert and a.severity is Severity.CRITICAL}


def per_30(count: float, days: float) -> float:
    return round(count * 30 / days, 2) if days else 0.0


# --------------------------------------------------------------------- ordinary life
def ordinary_life(home: Home, settings: HeuristicsSettings, timezone: str,
                  cuts: list[float]) -> tuple[dict[str, Any], dict[float, dict[str, Any]]]:
    """One pass: alerts, inferred away spans, and engine snapshots at each cut time."""
    engine = SafetyEngine(settings, timezone, send_raw_states=False)
    declare_map(engine, home.sensor_map)
    alerts: list[Draft] = []
    away: list[list[float]] = []
    snapshots: dict[float, dict[str, Any]] = {}
    pending = sorted(set(cuts))
    index = 0
    was_away = False
    for reading in home.readings:
        ts = reading.wall.timestamp()
        while index < len(pending) and pending[index] <= ts:
            snapshots[pending[index]] = engine.snapshot()
            index += 1
        alerts.extend(d for d in engine.feed(reading) if d.kind is Kind.ALERT)
        now_away = engine.state.presence == "away"
        if now_away and not was_away:
            away.append([engine.state.away_since or ts, ts])
        if was_away and not now_away:
            away[-1][1] = ts
        was_away = now_away
    first, last = home.readings[0].wall.timestamp(), home.readings[-1].wall.timestamp()
    days = (last - first) / 86400
    raised: dict[str, int] = {}
    for alert in alerts:
        if alert.alert and alert.alert["state"] == "raised":
            raised[alert.type] = raised.get(alert.type, 0) + 1
    zone = ZoneInfo(timezone)
    criticals = sorted(
        {(a.wall.astimezone(zone).isoformat(timespec="minutes"), a.type,
          a.data.get("reason", "")) for a in alerts
         if a.alert and a.severity is Severity.CRITICAL and a.alert["state"] != "resolved"}
    )
    crit_ids = critical_ids(alerts)
    life: dict[str, Any] = {
        "days": round(days, 1),
        "events": len(home.readings),
        "alerts_per_30_days": {k: per_30(v, days) for k, v in sorted(raised.items())},
        "critical_alerts": len(crit_ids),
        "critical_per_30_days": per_30(len(crit_ids), days),
        "critical_list": [f"{t[0]} {t[1]}: {t[2]}" for t in criticals
                          if "escalated" not in t[2] and "open for" not in t[2]],
        "_alerts": alerts,
        "_away": away,
    }
    return life, snapshots


def away_agreement(home: Home, life: dict[str, Any], local: LocalTime,
                   settings: HeuristicsSettings) -> dict[str, Any]:
    leaves = [(s, e) for s, e, name in home.activities if name == "leave_house"]
    has_entrance = any(r.role == "entrance" for r in home.readings)
    if not leaves:
        return {"leave_house": 0}
    inferred: list[list[float]] = life["_away"]
    minimum = settings.away_minutes * 60 + 300

    def overlap(a: tuple[float, float], b: list[float]) -> float:
        return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))

    long_leaves = [lv for lv in leaves if lv[1] - lv[0] >= minimum]
    found = sum(1 for lv in long_leaves
                if sum(overlap(lv, span) for span in inferred) >= 0.5 * (lv[1] - lv[0]))
    away_time = sum(span[1] - span[0] for span in inferred)
    true_away = sum(overlap(lv, span) for lv in leaves for span in inferred)
    night_leaves = [lv for lv in leaves if local.is_night(lv[0])]
    night_exits = [a for a in life["_alerts"]
                   if a.type == "night_exit" and a.alert and a.alert["state"] == "raised"]
    matched = sum(1 for lv in night_leaves
                  if any(abs(a.wall.timestamp() - lv[0]) <= 600 for a in night_exits))
    spurious = sum(1 for a in night_exits
                   if not any(abs(a.wall.timestamp() - lv[0]) <= 600 for lv in leaves))
    return {
        "has_entrance_sensor": has_entrance,
        "leave_house": len(leaves),
        f"leave_house_over_{round(minimum / 60)}_min": len(long_leaves),
        "recognised_as_away": found,
        "away_recall": round(found / len(long_leaves), 3) if long_leaves else None,
        "inferred_away_hours": round(away_time / 3600, 1),
        "inferred_away_precision": round(true_away / away_time, 3) if away_time else None,
        "leave_house_at_night": len(night_leaves),
        "night_exit_alerts": len(night_exits),
        "night_exit_matching_a_departure": matched,
        "night_exit_without_departure": spurious,
    }


# --------------------------------------------------------------------- mat-only baseline
def mat_only_baseline(home: Home, local: LocalTime, minutes: float = 20.0) -> dict[str, Any]:
    mats: dict[str, bool] = {}
    alarms = 0
    empty_since: float | None = None
    fired = False
    bed_night: str | None = None
    for reading in home.readings:
        ts = reading.wall.timestamp()
        if empty_since is not None and not fired and ts - empty_since >= minutes * 60:
            due = empty_since + minutes * 60
            if local.is_night(due) and bed_night == local.night_key(due):
                alarms += 1
            fired = True
        if reading.sensor != "bed":
            continue
        mats[reading.device] = reading.value == "in_bed"
        if any(mats.values()):
            empty_since, fired = None, False
            if local.is_night(ts):
                bed_night = local.night_key(ts)
        elif empty_since is None:
            empty_since, fired = ts, False
    if not mats:
        return {"applicable": False}
    days = (home.readings[-1].wall.timestamp() - home.readings[0].wall.timestamp()) / 86400
    return {"applicable": True, "alarms": alarms, "alarms_per_30_days": per_30(alarms, days)}


# --------------------------------------------------------------------- incident injector
def night_fall_points(home: Home, local: LocalTime) -> list[tuple[float, str]]:
    """(time of the first event outside the bedroom on a night trip, how it was found)."""
    points: list[tuple[float, str]] = []
    stamps = [r.wall.timestamp() for r in home.readings]
    noisy = chatter_while_in_bedroom(home, stamps)
    outside = [(ts, r) for index, (ts, r) in enumerate(zip(stamps, home.readings, strict=True))
               if r.room not in home.bedrooms and is_activity(r) and index not in noisy]
    beds = [(s, e) for s, e, name in home.activities if name == "go_to_bed"]
    for start, end, name in home.activities:
        if name != "use_toilet" or not local.is_night(start):
            continue
        if not any(s <= start <= e for s, e in beds):
            continue
        first = next((ts for ts, _ in outside if start - 60 <= ts <= end + 60), None)
        if first is not None:
            points.append((first, "annotated use_toilet in go_to_bed"))
    mats: dict[str, bool] = {}
    for ts, reading in zip(stamps, home.readings, strict=True):
        if reading.sensor != "bed":
            continue
        was_occupied = any(mats.values())
        mats[reading.device] = reading.value == "in_bed"
        if was_occupied and not any(mats.values()) and local.is_night(ts):
            nxt = next((t for t, r in outside if ts <= t <= ts + 300), None)
            if nxt is not None and not any(abs(nxt - p) < 1800 for p, _ in points):
                # the mat must not be pressed again before the outside event
                back = any(r.sensor == "bed" and r.value == "in_bed" and ts < t < nxt
                           for t, r in zip(stamps, home.readings, strict=True)
                           if ts < t < nxt)
                if not back:
                    points.append((nxt, "bed-mat exit then a sensor outside the bedroom"))
    return sorted(points)


def night_cut(home: Home, first_out: float) -> float:
    """A minute after reaching the first room outside, or on reaching the bedroom, if sooner."""
    cut = first_out + 60
    for reading in home.readings:
        ts = reading.wall.timestamp()
        if ts <= first_out:
            continue
        if ts >= cut:
            break
        if reading.room in home.bedrooms and is_activity(reading):
            return ts
    return cut


def day_fall_points(home: Home, local: LocalTime) -> list[float]:
    """Per local day, the first event after 10:00 with the resident at home."""
    leaves = [(s, e) for s, e, name in home.activities if name == "leave_house"]
    seen: set[str] = set()
    points = []
    for reading in home.readings:
        ts = reading.wall.timestamp()
        moment = local.local(ts)
        day = moment.date().isoformat()
        if day in seen or moment.hour < 10 or moment.hour >= 20:
            continue
        if reading.role == "entrance" or not is_activity(reading):
            continue
        if any(s - 600 <= ts <= e + 600 for s, e in leaves):
            continue
        seen.add(day)
        points.append(ts + 1)
    return points


def inject(home: Home, settings: HeuristicsSettings, timezone: str,
           snapshots: dict[float, dict[str, Any]], cut: float, *, night: bool) -> dict[str, Any]:
    before = [r for r in home.readings if r.wall.timestamp() < cut]
    last = max((r.wall.timestamp() for r in before if is_activity(r)), default=cut)
    engine = SafetyEngine(settings, timezone, send_raw_states=False)
    engine.restore(snapshots[cut])
    for alert in engine.alerts.open.values():
        if alert.severity is Severity.CRITICAL or (not night and alert.type in SILENCE_TYPES):
            # The home was already in alert when the fall happened (e.g. not_up at 13:30).
            return {"detected": True, "type": alert.type, "severity": alert.severity.value,
                    "minutes": 0.0, "last_activity": last, "already_open": True}
    end = cut + CUT_SECONDS
    drafts = engine.tick(end - cut + before[-1].mono if before else end, datetime.fromtimestamp(
        end, ZoneInfo("UTC")))
    wanted = [
        d for d in drafts
        if d.kind is Kind.ALERT and d.alert and d.alert["state"] in ("raised", "escalated")
        and (d.severity is Severity.CRITICAL or (not night and d.type in SILENCE_TYPES))
    ]
    if not wanted:
        return {"detected": False, "last_activity": last}
    first = min(wanted, key=lambda d: d.wall)
    return {
        "detected": True, "type": first.type, "severity": first.severity.value,
        "minutes": round((first.wall.timestamp() - last) / 60, 1), "last_activity": last,
    }


def injection_report(results: list[dict[str, Any]]) -> dict[str, Any]:
    detected = [r for r in results if r["detected"]]
    minutes = [r["minutes"] for r in detected]
    types: dict[str, int] = {}
    for r in detected:
        types[r["type"]] = types.get(r["type"], 0) + 1
    return {
        "injected": len(results),
        "detected": len(detected),
        "detection_rate": round(len(detected) / len(results), 3) if results else None,
        "median_minutes_to_alert": round(statistics.median(minutes), 1) if minutes else None,
        "max_minutes_to_alert": max(minutes) if minutes else None,
        "alert_types": types,
        "alert_already_open": sum(1 for r in detected if r.get("already_open")),
    }


def evaluate_home(home: Home, settings: HeuristicsSettings, timezone: str) -> dict[str, Any]:
    local = LocalTime(timezone, settings.night_start, settings.night_end)
    nights = night_fall_points(home, local)
    night_cuts = [night_cut(home, p) for p, _ in nights]
    day_cuts = day_fall_points(home, local)
    life, snapshots = ordinary_life(home, settings, timezone, night_cuts + day_cuts)
    night_results = [inject(home, settings, timezone, snapshots, c, night=True)
                     for c in night_cuts]
    day_results = [inject(home, settings, timezone, snapshots, c, night=False) for c in day_cuts]
    missed = [
        {"at": local.local(r["last_activity"]).isoformat(timespec="minutes"), "how": how}
        for r, (_, how) in zip(night_results, nights, strict=True) if not r["detected"]
    ]
    report = {k: v for k, v in life.items() if not k.startswith("_")}
    report["home_away"] = away_agreement(home, life, local, settings)
    report["mat_only_baseline"] = mat_only_baseline(home, local)
    report["night_falls"] = injection_report(night_results) | {"missed": missed}
    report["day_falls"] = injection_report(day_results) | {"missed": [
        local.local(r["last_activity"]).isoformat(timespec="minutes")
        for r in day_results if not r["detected"]]}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--timezone", default="Europe/Amsterdam")
    args = parser.parse_args(argv)
    settings = HeuristicsSettings()
    homes = sorted(p.parent for p in args.data_dir.rglob("events.txt")
                   if (p.parent / "map.toml").exists())
    if not homes:
        print(f"no events.txt + map.toml under {args.data_dir}", file=sys.stderr)
        return 2
    out: dict[str, Any] = {"timezone": args.timezone, "settings": "defaults", "homes": {}}
    for folder in homes:
        home = load_home(folder, args.data_dir, args.timezone, settings)
        if home.readings:
            out["homes"][home.name] = evaluate_home(home, settings, args.timezone)
    print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
