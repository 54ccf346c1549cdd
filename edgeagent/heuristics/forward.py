"""Which readings leave the home as events, and in what shape (kind, type, severity)."""

from __future__ import annotations

from typing import Any

from edgeagent.models import Draft, Kind, Reading, Severity

RAW_STATE_SENSORS = frozenset({"motion", "door", "bed", "contact", "power", "appliance"})


def source_of(reading: Reading) -> dict[str, Any]:
    source: dict[str, Any] = {"driver": reading.driver, "device": reading.device}
    if reading.room:
        source["room"] = reading.room
    if reading.role:
        source["role"] = reading.role
    return source


def reading_draft(reading: Reading, *, send_raw_states: bool = True) -> Draft | None:
    """The `reading`/`state` event a reading becomes, or None if it stays in the home."""
    kind = Kind.STATE if reading.sensor in RAW_STATE_SENSORS else Kind.READING
    if kind is Kind.STATE and not send_raw_states:
        return None
    data: dict[str, Any] = {"value": reading.value}
    data.update(reading.data)
    return Draft(
        kind=kind,
        type=reading.sensor,
        severity=Severity.INFO,
        source=source_of(reading),
        mono=reading.mono,
        wall=reading.wall,
        data=data,
    )
