"""A hand-built home of six nights whose injected falls are known to the millisecond.

Bedroom (bed mat, PIR, and a dresser contact), kitchen (PIR, a drawer
contact that bounces one night), bathroom (PIR), a living-room seat mat
mapped as a pad, a front door, and a sensor mapped `ignore`. She goes to bed
at 23:05 (annotated `go_to_bed` 23:00-07:00) and gets up at 07:00. Each night
and day exercises one rule of the fall injection; `NIGHT_FALLS` and
`DAY_FALLS` are where the reference evaluation puts the falls.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from edgeagent.casas import CasasRecord, SensorMap, parse_map
from edgeagent.evaluation import Activity

MAP = {
    "BED": {"kind": "bed", "room": "bedroom"},
    "PIR_BED": {"kind": "motion", "room": "bedroom"},
    "DRESSER": {"kind": "contact", "room": "bedroom"},
    "PIR_KITCHEN": {"kind": "motion", "room": "kitchen"},
    "DRAWER": {"kind": "contact", "room": "kitchen"},
    "PIR_BATH": {"kind": "motion", "room": "bathroom"},
    "SEAT": {"kind": "bed", "room": "living"},
    "FRONT": {"kind": "contact", "room": "hall", "role": "entrance"},
    "UNKNOWN": {"kind": "ignore"},
}
FIRST = date(2026, 3, 2)


def at(day: int, hhmmss: str) -> datetime:
    """`day` 0 is 2 March 2026; "02:00:40" or "02:00:40.5"."""
    return datetime.fromisoformat(f"{FIRST + timedelta(days=day)} {hhmmss}")


def _pir(events: list[tuple[datetime, str, str]], sensor: str, when: datetime) -> None:
    events += [(when, sensor, "ON"), (when + timedelta(seconds=5), sensor, "OFF")]


def _events() -> list[tuple[datetime, str, str]]:
    ev: list[tuple[datetime, str, str]] = [(at(0, "20:00:00"), "PIR_KITCHEN", "ON")]
    for day in range(6):
        _pir(ev, "PIR_BED", at(day, "22:50:00"))
        ev.append((at(day, "23:05:00"), "BED", "ON"))
        ev.append((at(day + 1, "07:00:00"), "BED", "OFF"))
        _pir(ev, "PIR_KITCHEN", at(day + 1, "07:01:00"))
        if day + 1 != 3:                   # 5 March: nothing after 10:00 until 16:30
            _pir(ev, "PIR_KITCHEN", at(day + 1, "12:00:00"))
            _pir(ev, "PIR_KITCHEN", at(day + 1, "18:00:00"))
    # Night to 3 March: bed exit at 02:00, bedroom PIR, kitchen at 02:00:40 -> fall at 02:01:40.
    # A second trip at 04:00 is the same night: not a second fall.
    ev += [(at(1, "02:00:00"), "BED", "OFF"), (at(1, "02:00:20"), "PIR_BED", "ON"),
           (at(1, "02:00:40"), "PIR_KITCHEN", "ON"), (at(1, "02:05:00"), "PIR_BED", "ON"),
           (at(1, "02:05:30"), "BED", "ON"),
           (at(1, "04:00:00"), "BED", "OFF"), (at(1, "04:00:30"), "PIR_BATH", "ON"),
           (at(1, "04:03:00"), "BED", "ON")]
    # Night to 4 March: bathroom at 01:30:10, back in the bedroom at 01:30:50 -> 1 ms before.
    ev += [(at(2, "01:30:00"), "BED", "OFF"), (at(2, "01:30:10"), "PIR_BATH", "ON"),
           (at(2, "01:30:50"), "PIR_BED", "ON"), (at(2, "01:32:00"), "BED", "ON")]
    # Night to 5 March: the kitchen drawer bounces 6 times in 25 s (not her), kitchen PIR at 03:02.
    ev += [(at(3, "03:00:00"), "BED", "OFF")]
    ev += [(at(3, f"03:00:{s:02d}"), "DRAWER", "ON" if s % 10 else "OFF")
           for s in range(5, 35, 5)]
    ev += [(at(3, "03:02:00"), "PIR_KITCHEN", "ON"), (at(3, "03:10:00"), "BED", "ON")]
    # Night to 6 March: a bed exit at 05:45 and an annotated toilet visit at 06:10: too late.
    ev += [(at(4, "05:45:00"), "BED", "OFF"), (at(4, "05:46:00"), "PIR_KITCHEN", "ON"),
           (at(4, "05:50:00"), "BED", "ON"), (at(4, "06:11:00"), "PIR_BATH", "ON")]
    # 5 March: nothing after 10:00 until 16:30: no day fall.
    _pir(ev, "PIR_KITCHEN", at(3, "16:30:00"))
    # Night to 7 March: annotated use_toilet at 03:00; she sits on the seat mat (a pad being
    # pressed is not a place to fall), bathroom PIR at 03:00:30 -> fall at 03:01:30.
    ev += [(at(5, "02:59:50"), "BED", "OFF"), (at(5, "03:00:10"), "SEAT", "ON"),
           (at(5, "03:00:30"), "PIR_BATH", "ON"), (at(5, "03:00:40"), "SEAT", "OFF"),
           (at(5, "03:06:00"), "BED", "ON")]
    # 7 March, evening: an annotated night_toilet_trip at 22:30 -> fall at 22:32:00; the bed
    # exit at 02:00 that night reaches the kitchen only after 10 min 30 s: no trip.
    _pir(ev, "PIR_BATH", at(5, "22:31:00"))
    ev += [(at(6, "02:00:00"), "BED", "OFF"), (at(6, "02:03:00"), "PIR_BED", "ON"),
           (at(6, "02:10:30"), "PIR_KITCHEN", "ON"), (at(6, "02:15:00"), "BED", "ON")]
    # Days: 3 March the bed pad (pressed), the front door and an ignored sensor come first.
    ev += [(at(1, "10:05:00"), "BED", "ON"), (at(1, "10:20:00"), "BED", "OFF"),
           (at(1, "10:06:00"), "FRONT", "ON"), (at(1, "10:06:30"), "UNKNOWN", "ON")]
    _pir(ev, "PIR_KITCHEN", at(1, "10:07:00"))
    # 4 March: out 09:30-11:00 (kitchen PIR at 10:30 and at 11:05 is within the outing margin).
    _pir(ev, "PIR_KITCHEN", at(2, "10:30:00"))
    _pir(ev, "PIR_KITCHEN", at(2, "11:05:00"))
    _pir(ev, "PIR_KITCHEN", at(2, "11:20:00"))
    ev.append((at(7, "09:00:00"), "PIR_KITCHEN", "ON"))  # the recording ends
    return sorted(ev)


NIGHT_FALLS = [at(1, "02:01:40"), at(2, "01:30:49.999"), at(3, "03:03:00"),
               at(5, "03:01:30"), at(5, "22:32:00")]
DAY_FALLS = [at(1, "10:07:01"), at(2, "11:20:01"), at(4, "12:00:01"), at(5, "12:00:01"),
             at(6, "12:00:01")]


def records() -> list[CasasRecord]:
    return [CasasRecord(n, when, sensor, value)
            for n, (when, sensor, value) in enumerate(_events(), start=1)]


def sensor_map() -> SensorMap:
    return parse_map({"sensors": MAP})


def activities() -> list[Activity]:
    acts = [Activity(at(day, "23:00:00"), at(day + 1, "07:00:00"), "go_to_bed")
            for day in range(6)]
    acts += [Activity(at(2, "09:30:00"), at(2, "11:00:00"), "leave_house"),
             Activity(at(4, "06:10:00"), at(4, "06:15:00"), "use_toilet"),
             Activity(at(5, "03:00:00"), at(5, "03:05:00"), "use_toilet"),
             Activity(at(5, "22:30:00"), at(5, "22:35:00"), "night_toilet_trip")]
    return sorted(acts, key=lambda a: a.start)


def write(folder: Path) -> tuple[Path, Path, Path]:
    """The home as the three files `edgeagent evaluate` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    events, smap, acts = folder / "events.txt", folder / "map.toml", folder / "activities.txt"
    events.write_text("".join(f"{r.when:%Y-%m-%d %H:%M:%S.%f} {r.sensor} {r.value}\n"
                              for r in records()), encoding="utf-8")
    smap.write_text("".join(
        f"[sensors.{sid}]\n" + "".join(f'{k} = "{v}"\n' for k, v in spec.items())
        for sid, spec in MAP.items()), encoding="utf-8")
    acts.write_text("".join(f"{a.start:%Y-%m-%d %H:%M:%S.%f} {a.end:%Y-%m-%d %H:%M:%S.%f} "
                            f"{a.name}\n" for a in activities()), encoding="utf-8")
    return events, smap, acts
