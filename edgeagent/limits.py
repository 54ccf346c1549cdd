"""Size limits on what flows through the agent, and the one way data is cut to fit them.

One oversized value must never cost more than its own detail: a 1 MB string
from a home-automation broker, stored as one 1 MB event, made the platform
broker drop the connection on every attempt and blocked every event behind
it. So readings are capped where they enter (the driver -> heuristics
boundary) and event bodies where they are numbered (the outbox). Cutting
keeps the small fields, shortens long strings, drops what still does not fit
and says so inside `data` (the v1 schema allows no new top-level field):
`"truncated": true, "original_bytes": N, "cut": [keys]`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import orjson

from edgeagent.models import Reading

# A stored event body (UTF-8 JSON) above this is stored with its `data` cut to fit.
MAX_EVENT_BYTES = 16 * 1024
# A reading's value and data together (JSON) above this are cut at the boundary.
MAX_READING_BYTES = 4 * 1024
# The data budget of an alert the broker kept dropping: re-rendered this small, it fits
# any broker's packet limit (the whole event stays under 1 KiB).
CUT_ALERT_DATA_BYTES = 512
# `cmd/config-set` carries a whole config file: its payload may be this large. Every
# other command stays at the router's 4 KiB (edgeagent/downlink.py MAX_PAYLOAD).
MAX_CONFIG_PAYLOAD_BYTES = 64 * 1024
# The largest packet the agent accepts from the platform broker (MQTT 5 CONNECT
# `MaximumPacketSize`; the broker drops anything larger before it is sent): the largest
# command payload plus room for its fixed header, topic and properties (response topic,
# correlation data, user properties). A 1 MB downlink still never reaches the agent.
MAX_INBOUND_PACKET_BYTES = MAX_CONFIG_PAYLOAD_BYTES + 8 * 1024
_MARKER_KEYS = ("truncated", "original_bytes", "cut")
_MAX_CUT_KEYS = 20  # keys named in `cut`; more are counted only by the marker being there


def json_size(value: Any) -> int:
    """UTF-8 bytes of `value` as compact JSON (the wire form)."""
    try:
        return len(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:  # an int beyond 64 bits, an exotic key: the standard library copes
        return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def cut_data(data: dict[str, Any], budget: int, original_bytes: int) -> dict[str, Any]:
    """`data` within `budget` JSON bytes, with the marker; keys keep their order.

    Small values stay whole, a long string keeps its head, anything else that
    does not fit is dropped and named in `cut`.
    """
    marker: dict[str, Any] = {"truncated": True, "original_bytes": original_bytes}
    room = budget - json_size(marker) - 32  # room for the `cut` list's own brackets
    sizes = {key: json_size({str(key): value}) + 1 for key, value in data.items()
             if key not in _MARKER_KEYS}
    kept: dict[Any, Any] = {}
    for key in sorted(sizes, key=sizes.__getitem__):  # the small ones first: they say most
        if sizes[key] <= room:
            kept[key] = data[key]
            room -= sizes[key]
    cut = [str(key) for key in sizes if key not in kept][:_MAX_CUT_KEYS]
    room -= sum(json_size(name) + 1 for name in cut)
    for key in sizes:  # what room is left goes to the heads of long strings
        value = data[key]
        if key not in kept and isinstance(value, str):
            head = _head_within(value, room - json_size({str(key): ""}) - 1)
            if head:
                kept[key] = head
                room -= json_size({str(key): head}) + 1
    out = {**marker, **{key: kept[key] for key in sizes if key in kept}}
    if cut:
        out["cut"] = cut
    return out


def _head_within(text: str, budget: int) -> str:
    """The longest prefix of `text` whose JSON string encoding fits `budget` bytes."""
    if budget <= 2:
        return ""
    low, high = 0, min(len(text), budget)
    while low < high:  # binary search: escapes and multi-byte characters vary in size
        mid = (low + high + 1) // 2
        if json_size(text[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    return text[:low]


def cap_reading(reading: Reading, limit: int = MAX_READING_BYTES) -> Reading | None:
    """The reading cut to `limit` bytes, or None when it is within it already.

    A long string value keeps its head; `data` is cut like an event's.
    """
    value_size = json_size(reading.value)
    data_size = json_size(reading.data) if reading.data else 2
    if value_size + data_size <= limit:
        return None
    original = value_size + data_size
    value = reading.value
    if value_size > limit // 2:
        value = _head_within(value, limit // 2) if isinstance(value, str) else None
    data_budget = limit - json_size(value)
    return replace(reading, value=value, data=cut_data(reading.data, data_budget, original))
