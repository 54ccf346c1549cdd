"""Fuzz targets shared by the bounded CI run (tests/security/test_config_fuzz.py and
friends) and the long run (bench/fuzz.py). Each target is a plain function of
hypothesis-drawn input that raises only on a real bug: unexpected exception types,
non-finite numbers, a command run that is not allowed."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from edgeagent_drivers.ble import parsers as ble
from edgeagent_drivers.serial.framing import LineStateFraming, NmeaBedFraming
from hypothesis import strategies as st

from edgeagent.config import parse_config
from edgeagent.downlink import MAX_PAYLOAD, CommandRouter
from edgeagent.errors import ConfigError
from edgeagent.topics import Topics

# -- config files -----------------------------------------------------------------------

_scalars = (st.none() | st.booleans() | st.integers(-10**12, 10**12) |
            st.floats(allow_nan=True) | st.text(max_size=30))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) |
                       st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=10)
_known = {
    "home": st.fixed_dictionaries({}, optional={"id": _values, "timezone": _values,
                                                "x": _values}),
    "mqtt": st.fixed_dictionaries({}, optional={
        "urls": st.lists(st.text(max_size=30) | st.just("mqtt://h:1"), max_size=3) | _values,
        "keepalive": _values, "protocol": st.sampled_from(["5", "3.1.1", "4", 5]),
        "max_inflight": _values, "topic_prefix": _values}),
    "outbox": st.fixed_dictionaries({}, optional={"path": _values, "max_bytes": _values}),
    "drivers": st.lists(st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["mock.stress", "gpio.pir", "nope", ""]) | _values,
        "name": _values, "pin": _values, "rate_hz": _values}), max_size=3) | _values,
}
config_docs = st.fixed_dictionaries({}, optional=_known) | st.dictionaries(
    st.text(max_size=10), _values, max_size=4)


def config_target(doc: dict[str, Any]) -> None:
    """Any document is either a valid config or a ConfigError naming a key: never a crash."""
    try:
        parse_config(doc, "<fuzz>")
    except ConfigError as exc:
        assert exc.reason, exc


# -- BLE payloads -----------------------------------------------------------------------

ble_inputs = st.tuples(st.sampled_from(sorted(ble.PARSERS)), st.binary(max_size=48))


def ble_target(item: tuple[str, bytes]) -> None:
    uuid, payload = item
    try:
        result = ble.decode(uuid, payload)
    except ble.GattPayloadError as exc:
        assert exc.reason
        return
    for name in getattr(result, "__dataclass_fields__", {}):
        value = getattr(result, name)
        if isinstance(value, float):
            assert math.isfinite(value), name


# -- serial frames ----------------------------------------------------------------------

serial_inputs = st.lists(st.binary(max_size=64) | st.sampled_from(
    [b"$BED,IN,612*71\r\n", b"$BED,OUT,8*35\r\n", b"$BED,", b"*", b"\r\n", b"IN\n", b"OUT\n",
     b"FAULT", b"FLT"]), max_size=40)


def serial_target(chunks: list[bytes]) -> None:
    for framing in (NmeaBedFraming(), LineStateFraming()):
        for chunk in chunks:
            for frame in framing.feed(chunk):
                assert frame.state in ("in_bed", "out_of_bed", "fault"), frame


# -- downlink ---------------------------------------------------------------------------

TOPICS = Topics("care", "home-1")
ALLOWED = ("ping", "outbox-stats", "reboot")
_names = st.sampled_from([*ALLOWED, "shell", "", "+", "#", "ping/reply"]) | st.text(max_size=12)
downlink_inputs = st.tuples(
    st.text(max_size=40) | _names.map(lambda n: f"care/home-1/cmd/{n}"),
    st.binary(max_size=300) | st.dictionaries(st.sampled_from(["id", "args"]), _values,
                                              max_size=2).map(lambda d: json.dumps(d).encode()),
)
_LOOP = asyncio.new_event_loop()


def downlink_target(item: tuple[str, bytes]) -> None:
    topic, payload = item
    calls: list[str] = []
    router = CommandRouter(TOPICS, rate_per_minute=10**6)

    def handler(name: str) -> Any:
        async def run(args: Any) -> dict[str, Any]:
            calls.append(name)
            return {}
        return run

    for name in ALLOWED:
        router.register(name, handler(name), changes_state=(name == "reboot"))
    reply = _LOOP.run_until_complete(router.handle(topic, payload, {}))
    name = TOPICS.command_name(topic)
    if name is None:
        assert reply is None and not calls
        return
    assert reply is not None and reply[0].startswith(TOPICS.base + "/")
    assert all(c == name and c in ALLOWED and c != "reboot" for c in calls)
    if len(payload) > MAX_PAYLOAD:
        assert not calls


TARGETS = {
    "config": (config_docs, config_target),
    "ble": (ble_inputs, ble_target),
    "serial": (serial_inputs, serial_target),
    "downlink": (downlink_inputs, downlink_target),
}
