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

import contextlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Required, cast

import orjson
from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict

from edgeagent.models import SCHEMA_ID, AlertState, ClockQuality, Kind, Severity

if TYPE_CHECKING:
    from edgeagent.models import Draft

log = logging.getLogger(__name__)
_LONG_DIGITS = re.compile(r"\d{19}")


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
    doc["clock"] = ClockQuality(doc["clock"])
    doc["kind"] = Kind(doc["kind"])
    doc["severity"] = Severity(doc["severity"])
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

    orjson reads an int beyond 64 bits as a float, so a body with a run of 19 or
    more digits anywhere (rare: only then can there be such an int) goes to the
    standard library, as does anything else orjson refuses (NaN).
    """
    if _LONG_DIGITS.search(body) is None:
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(body)
    return json.loads(body)
