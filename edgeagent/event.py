"""The event: the one typed model of what the agent sends the platform, and its one renderer.

`Event` is the v1 wire format (docs/architecture.md, "The event"). Every event
body the agent stores or sends is `render(event)`: the outbox renders new events
with it, the clock correction and the `historical` flag re-render a stored body
through it (`corrected`, `historical`), and the JSON Schema (`edgeagent schema`,
shipped as `edgeagent/schema/event-v1.schema.json`) is generated from `Event`.

A stored body is sent as it is stored; it is rendered again only for those two
changes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Required, cast

import orjson
from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict

from edgeagent.models import SCHEMA_ID, AlertState, ClockQuality, Kind, Severity

if TYPE_CHECKING:
    from edgeagent.models import Draft

log = logging.getLogger(__name__)
_HUGE = float(2**63)
_CONTAINERS_AND_FLOAT = (dict, list, float)  # exact types: JSON decoding makes no subclasses


# Where an event comes from. Drivers may add keys: a mock's events carry `"simulated": true`.
# (Comments, not docstrings: a docstring would become a description in the JSON Schema.)
@with_config(ConfigDict(extra="allow"))
class Source(TypedDict, total=False):
    driver: Required[str]
    device: Annotated[str | None, Field(default=None)]
    room: Annotated[str | None, Field(default=None)]


@with_config(ConfigDict(extra="ignore"))
class AlertInfo(TypedDict):
    id: Annotated[str, Field(description="Stable id of one alert across raised/escalated/resolved")]
    state: AlertState


@dataclass(slots=True, kw_only=True)
class Event:
    """One message to the platform. `id` is the dedup key; `seq` is gap-free per home."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    # The fields in wire order: `render` writes them in this order.
    schema: Literal["edgeagent.event/1"] = SCHEMA_ID
    id: Annotated[str, Field(description="UUIDv7, the dedup key")]
    home: str
    seq: Annotated[int, Field(ge=1, description="Per-home sequence, +1 per event, survives "
                                                 "restarts")]
    ts: Annotated[str, Field(description="UTC wall time, RFC 3339 with milliseconds")]
    clock: ClockQuality
    kind: Kind
    type: str
    severity: Severity
    source: Source
    data: dict[str, Any] = field(default_factory=dict)
    alert: AlertInfo | None = None
    historical: Annotated[bool | None, Field(
        description="True when sent from the backlog after an outage (Sparkplug idea)")] = None


# The enums of a stored body by their text (a lookup; an unknown text is a KeyError).
_CLOCKS = {member.value: member for member in ClockQuality}
_KINDS = {member.value: member for member in Kind}
_SEVERITIES = {member.value: member for member in Severity}


def render(event: Event) -> str:
    """The event's body: compact JSON, keys in field order, `alert` and `historical` only when set.

    The one function that writes an event body.
    """
    doc: dict[str, Any] = {
        "schema": event.schema, "id": event.id, "home": event.home, "seq": event.seq,
        "ts": event.ts, "clock": event.clock, "kind": event.kind, "type": event.type,
        "severity": event.severity, "source": event.source, "data": event.data,
    }
    if event.alert is not None:
        doc["alert"] = event.alert
    if event.historical is not None:
        doc["historical"] = event.historical
    return _dumps(doc)


def from_draft(draft: Draft, *, id: str, home: str, seq: int, ts: str,  # noqa: A002 - the wire field's name
               clock: ClockQuality) -> Event:
    """The event a draft becomes once the outbox has numbered and stamped it."""
    return Event(id=id, home=home, seq=seq, ts=ts, clock=clock, kind=draft.kind,
                 type=draft.type, severity=draft.severity, source=cast(Source, draft.source),
                 data=draft.data, alert=cast(AlertInfo | None, draft.alert))


def parse(body: str) -> Event:
    """The event of a stored body. Raises ValueError (or TypeError) when it is not one."""
    return Event(**_fields(body))


def corrected(body: str, ts: str) -> str:
    """A stored body with its wall time corrected after the clock synced."""
    return render(Event(**{**_fields(body), "ts": ts, "clock": ClockQuality.CORRECTED}))


def historical(body: str) -> str:
    """A stored body as sent from the backlog after an outage: flagged `historical`.

    A stored body that is not an event (damaged on disk, say) is sent as it is,
    unflagged, rather than not at all.
    """
    try:
        return render(Event(**_fields(body), historical=True))
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("a stored body is not an event (%s); sent without the historical flag",
                    exc)
        return body


def _fields(body: str) -> dict[str, Any]:
    """The fields of a stored body, by name, their enums as enums."""
    doc = _loads(body)
    if not isinstance(doc, dict):
        raise TypeError(f"an event body is a JSON object, not {type(doc).__name__}")
    doc["clock"] = _CLOCKS[doc["clock"]]
    doc["kind"] = _KINDS[doc["kind"]]
    doc["severity"] = _SEVERITIES[doc["severity"]]
    return doc


def _dumps(doc: dict[str, Any]) -> str:
    """Compact JSON via orjson; what orjson refuses (an int beyond 64 bits, an exotic
    key) goes to the standard library, so a driver's odd value never costs its event."""
    try:
        return orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(doc, separators=(",", ":"), default=str)


def _loads(body: str) -> Any:
    """The JSON of a stored body, every number as it was written.

    orjson reads an int beyond 64 bits as a float (and refuses NaN): a body in
    which orjson finds a float that large, or that orjson refuses, is read again
    by the standard library, which keeps such ints exact.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)
    if isinstance(doc, dict) and (_huge_float(doc.get("source")) or _huge_float(doc.get("data"))
                                  or _huge_float(doc.get("alert"))):
        return json.loads(body)
    return doc


def _huge_float(value: Any) -> bool:
    """Whether a float of 2**63 or more (what orjson makes of a longer int) is in `value`."""
    if type(value) is float:
        return abs(value) >= _HUGE
    if type(value) is dict:
        value = value.values()
    elif type(value) is not list:
        return False
    return any(_huge_float(item) for item in value if type(item) in _CONTAINERS_AND_FLOAT)
