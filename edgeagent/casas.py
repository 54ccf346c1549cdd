"""CASAS-style recorded sensor logs: parse lines, load the sensor map, make Readings.

A line is `YYYY-MM-DD HH:MM:SS[.ffffff] SENSOR VALUE [activity begin|end]`
(the CASAS shape; the van Kasteren recordings use it without labels). Times
are the home's local wall time. The map file (TOML) says what each sensor
is::

    [sensors.M003]
    kind = "motion"      # motion | contact | bed | occupancy | ignore
    room = "bedroom"
    role = "entrance"    # optional: entrance, bathroom_door, fridge, window, door, ...

`occupancy` is a sensor that holds a state for as long as she is there (a
chair or sofa pad, a presence radar; role `chair`, `sofa` or `radar`).

Everything here is pure apart from `load_map`, which reads one file.
Stable API (the replay driver and `edgeagent replay` use it):
`parse_line`, `parse_lines`, `CasasRecord`, `LineError`, `SensorMap`,
`SensorSpec`, `load_map`, `parse_map`, `to_reading`, `local_to_utc`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeagent.errors import EdgeAgentError
from edgeagent.models import Reading
from edgeagent.names import canonical_role, canonical_room, known_roles, near_rule_role

DRIVER = "replay"
ON_VALUES = frozenset({"ON", "OPEN", "PRESENT", "1", "TRUE", "ACTIVE"})
OFF_VALUES = frozenset({"OFF", "CLOSE", "CLOSED", "ABSENT", "0", "FALSE", "INACTIVE"})


@dataclass(frozen=True, slots=True)
class CasasRecord:
    """One parsed log line. `when` is naive local wall time of the home."""

    line: int
    when: datetime
    sensor: str
    value: str
    activity: str | None = None
    activity_edge: Literal["begin", "end"] | None = None


@dataclass(frozen=True, slots=True)
class LineError:
    """A line that could not be parsed: reported with its number, skipped, counted."""

    line: int
    text: str
    reason: str


def _parse_time(date_text: str, time_text: str) -> datetime:
    # fromisoformat is C-fast; the shape check keeps it to exactly our two forms.
    if len(date_text) != 10 or date_text[4] != "-" or date_text[7] != "-":
        raise ValueError(date_text)
    if len(time_text) < 8 or time_text[2] != ":" or time_text[5] != ":" or (
            len(time_text) > 8 and time_text[8] != "."):
        raise ValueError(time_text)
    return datetime.fromisoformat(f"{date_text} {time_text}")


def parse_line(text: str, line: int) -> CasasRecord | LineError | None:
    """Parse one line; None for a blank line or a `#` comment."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    parts = stripped.split()
    if len(parts) < 4:
        return LineError(line, stripped, "expected 'DATE TIME SENSOR VALUE'")
    try:
        when = _parse_time(parts[0], parts[1])
    except ValueError:
        return LineError(line, stripped, f"bad timestamp {parts[0]} {parts[1]!r}")
    activity: str | None = None
    edge: Literal["begin", "end"] | None = None
    if len(parts) > 4:
        label = parts[4:]
        last = label[-1].lower()
        if last in ("begin", "end") and len(label) >= 2:
            activity, edge = " ".join(label[:-1]), ("begin" if last == "begin" else "end")
        else:
            activity = " ".join(label)
    return CasasRecord(line, when, parts[2], parts[3], activity, edge)


def parse_lines(lines: Iterable[str]) -> Iterator[CasasRecord | LineError]:
    """Parse a log, numbering lines from 1; blank lines and comments are skipped."""
    for number, text in enumerate(lines, start=1):
        parsed = parse_line(text, number)
        if parsed is not None:
            yield parsed


class SensorSpec(BaseModel):
    """What one sensor of the recording is."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["motion", "contact", "bed", "occupancy", "ignore"]
    room: str | None = None
    role: str | None = None


class SensorMap(BaseModel):
    model_config = ConfigDict(extra="allow")
    sensors: dict[str, SensorSpec] = Field(default_factory=dict)


class MapError(EdgeAgentError, ValueError):
    """The map file is unreadable or invalid; the message names the file and key."""


def parse_map(data: dict[str, Any], source: str = "<map>") -> SensorMap:
    """Validate a map; rooms and roles in the heuristics' spelling (`卫生间` -> `bathroom`)."""
    try:
        parsed = SensorMap.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise MapError(f"{source}: {key}: {err['msg']}") from None
    sensors: dict[str, SensorSpec] = {}
    for sensor_id, spec in parsed.sensors.items():
        role = canonical_role(spec.role)
        near = near_rule_role(role) if role is not None else None
        if near is not None:
            raise MapError(f"{source}: sensors.{sensor_id}.role: unknown role {spec.role!r} "
                           f"(did you mean {near!r}?); roles: {', '.join(known_roles())}")
        sensors[sensor_id] = spec.model_copy(
            update={"room": canonical_room(spec.room), "role": role})
    parsed.sensors = sensors
    return parsed


def load_map(path: str | Path) -> SensorMap:
    """Read a `[sensors.ID]` TOML map (the format of shared/data/README.md)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MapError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MapError(f"{path}: not valid TOML: {exc}") from None
    return parse_map(data, str(path))


def local_to_utc(when: datetime, zone: tzinfo, fold: int = 0) -> datetime:
    """A naive local wall time in `zone` as an aware UTC datetime.

    In the repeated hour of a DST change `fold=0` is the first pass, `fold=1`
    the second (a sorted log that steps back in UTC has entered the second).
    """
    return when.replace(tzinfo=zone, fold=fold).astimezone(UTC)


def _state(value: str) -> bool | None:
    upper = value.upper()
    if upper in ON_VALUES:
        return True
    if upper in OFF_VALUES:
        return False
    return None


def to_reading(record: CasasRecord, spec: SensorSpec | None, zone: tzinfo,
               mono: float | None = None, fold: int = 0) -> Reading | None:
    """The Reading a live driver would have emitted for this line, or None.

    None for an unmapped or `ignore` sensor, or a value that is not ON/OFF.
    Motion ON/OFF -> `motion` True/False; contact ON -> `door` "open" (OFF
    "closed"), role from the map; bed ON -> `bed` "in_bed" (OFF
    "out_of_bed"); occupancy ON/OFF -> `occupancy` True/False, a held state.
    `mono` defaults to the UTC epoch seconds of the line; `fold` picks the
    second pass through a repeated DST hour.
    """
    if spec is None or spec.kind == "ignore":
        return None
    state = _state(record.value)
    if state is None:
        return None
    wall = local_to_utc(record.when, zone, fold)
    data: dict[str, Any] = {"line": record.line}
    if record.activity:
        data["activity"] = record.activity
        if record.activity_edge:
            data["activity_edge"] = record.activity_edge
    value: Any
    if spec.kind == "motion":
        sensor, value = "motion", state
    elif spec.kind == "contact":
        sensor, value = "door", "open" if state else "closed"
    elif spec.kind == "occupancy":
        sensor, value = "occupancy", state
    else:
        sensor, value = "bed", "in_bed" if state else "out_of_bed"
    return Reading(
        driver=DRIVER, device=record.sensor, sensor=sensor, value=value,
        mono=wall.timestamp() if mono is None else mono, wall=wall,
        room=spec.room, role=spec.role, data=data,
    )
