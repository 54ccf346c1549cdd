"""Events per second through the full safety engine vs a parse-only loop.

    python bench/replay_throughput.py /work/shared/data [--timezone Europe/Amsterdam]

Takes the longest recording under DATA_DIR (most lines), then:
- parse only: CASAS lines -> Readings, nothing else;
- full engine: the same lines through `edgeagent replay`'s code path
  (parse, map, engine with timers, summaries, alerts);
- a year: the recording repeated back to back (dates shifted) until it
  spans 365 days, replayed through the full engine: the issue's
  "year-long single-home log in well under a minute".
Prints one JSON object. Timings are CPU process time (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from edgeagent.casas import LineError, load_map, parse_lines, to_reading
from edgeagent.heuristics.replay import replay_lines


def parse_only(lines: list[str], sensor_map_path: Path, timezone: str) -> int:
    sensors = load_map(sensor_map_path).sensors
    zone = ZoneInfo(timezone)
    count = 0
    for item in parse_lines(lines):
        if isinstance(item, LineError):
            continue
        if to_reading(item, sensors.get(item.sensor), zone) is not None:
            count += 1
    return count


def year_of(lines: list[str]) -> list[str]:
    """The recording repeated with shifted dates until it spans a year."""
    first = datetime.fromisoformat(lines[0][:19])
    last = datetime.fromisoformat(lines[-1][:19])
    span = timedelta(days=(last - first).days + 1)
    out: list[str] = []
    shift = timedelta(0)
    while not out or datetime.fromisoformat(out[-1][:19]) - first < timedelta(days=365):
        for line in lines:
            when = datetime.fromisoformat(line[:19]) + shift
            out.append(when.strftime("%Y-%m-%d %H:%M:%S") + line[19:])
        shift += span
    return out


def timed(func, *args):  # type: ignore[no-untyped-def]
    start = time.process_time()
    result = func(*args)
    return result, time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--timezone", default="Europe/Amsterdam")
    args = parser.parse_args(argv)
    logs = [p for p in args.data_dir.rglob("events.txt") if (p.parent / "map.toml").exists()]
    if not logs:
        print(f"no events.txt + map.toml under {args.data_dir}", file=sys.stderr)
        return 2
    longest = max(logs, key=lambda p: sum(1 for _ in p.open(encoding="utf-8")))
    map_path = longest.parent / "map.toml"
    lines = longest.read_text(encoding="utf-8").splitlines()
    sensor_map = load_map(map_path)

    readings, parse_s = timed(parse_only, lines, map_path, args.timezone)
    result, full_s = timed(replay_lines, lines, sensor_map, args.timezone)
    year_lines = year_of(lines)
    year, year_s = timed(replay_lines, year_lines, sensor_map, args.timezone)
    out = {
        "recording": str(longest.relative_to(args.data_dir)),
        "lines": len(lines),
        "readings": readings,
        "days": round(result.days, 1),
        "parse_only_events_per_s": round(len(lines) / parse_s),
        "full_engine_events_per_s": round(len(lines) / full_s),
        "full_engine_seconds": round(full_s, 2),
        "year": {
            "lines": len(year_lines),
            "days": round(year.days, 1),
            "seconds": round(year_s, 1),
            "events_per_s": round(len(year_lines) / year_s),
            "alerts": len(year.alerts),
            "daily_summaries": len(year.summaries),
        },
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
