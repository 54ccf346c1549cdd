"""Read a recorded home from files: events log, sensor map, annotated activities.

`activities.txt` holds one span a line, `START_DATE START_TIME END_DATE
END_TIME NAME` (local wall time, as the events). A bad line is an error
naming the file and line: a silently dropped `go_to_bed` would change which
falls are injected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edgeagent.casas import CasasRecord, LineError, SensorMap, load_map, parse_lines
from edgeagent.errors import EdgeAgentError
from edgeagent.evaluation.falls import Activity


class HomeFileError(EdgeAgentError, ValueError):
    """A home's file is unreadable or malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class HomeFiles:
    records: list[CasasRecord]
    malformed: list[LineError]
    sensor_map: SensorMap
    activities: list[Activity]


def parse_activities(lines: Iterable[str], source: str = "<activities>") -> list[Activity]:
    out: list[Activity] = []
    for number, text in enumerate(lines, start=1):
        parts = text.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) < 5:
            raise HomeFileError(
                f"{source}:{number}: expected 'START END NAME', got {text.strip()!r}")
        try:
            start = datetime.fromisoformat(f"{parts[0]} {parts[1]}")
            end = datetime.fromisoformat(f"{parts[2]} {parts[3]}")
        except ValueError:
            raise HomeFileError(f"{source}:{number}: bad time in {text.strip()!r}") from None
        out.append(Activity(start, end, parts[4]))
    return out


def load_activities(path: str | Path) -> list[Activity]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise HomeFileError(f"{path}: cannot read: {exc}") from None
    return parse_activities(text.splitlines(), str(path))


def load_home(events: str | Path, sensor_map: str | Path,
              activities: str | Path | None) -> HomeFiles:
    """Parse the three files; malformed event lines are kept aside, as `replay` skips them.

    Raises `HomeFileError` (or `casas.MapError`) for an unreadable file.
    """
    smap = load_map(sensor_map)
    acts = load_activities(activities) if activities is not None else []
    records: list[CasasRecord] = []
    malformed: list[LineError] = []
    try:
        with Path(events).open(encoding="utf-8", errors="replace") as lines:
            for item in parse_lines(lines):
                if isinstance(item, LineError):
                    malformed.append(item)
                else:
                    records.append(item)
    except OSError as exc:
        raise HomeFileError(f"{events}: cannot read: {exc}") from None
    return HomeFiles(records, malformed, smap, acts)
