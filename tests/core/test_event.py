"""One typed event, one renderer: `edgeagent.event` writes every event body.

The body is what the model says, for any data a driver may hand over; the
re-renderings of a stored body (`historical`, `corrected`) are valid v1 events
that the platform accepts; and no other module of the agent writes event JSON.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
from edgeagent_platform.contract import schema_errors
from hypothesis import given
from hypothesis import strategies as st

import edgeagent
from edgeagent.event import Event, corrected, from_draft, historical, parse, render
from edgeagent.models import ClockQuality, Draft, Kind, Severity
from edgeagent.outbox import Outbox
from edgeagent.schema.generate import SHIPPED, event_schema

GENERATED = jsonschema.Draft202012Validator(event_schema())
SHIPPED_VALIDATOR = jsonschema.Draft202012Validator(json.loads(SHIPPED.read_text()))
WIRE_ORDER = ["schema", "id", "home", "seq", "ts", "clock", "kind", "type", "severity",
              "source", "data", "alert", "historical"]
WALL = datetime(2026, 11, 23, 4, 5, 6, 789_000, tzinfo=UTC)

# Any JSON value a driver may put in `data`: unicode (beyond the BMP too), ints far
# beyond 64 bits, floats, and nesting.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**64)
    | st.integers(max_value=-2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12)
sources = st.fixed_dictionaries(
    {"driver": st.text(min_size=1, max_size=12)},
    optional={"device": st.none() | st.text(max_size=8), "room": st.none() | st.text(max_size=8),
              "simulated": st.just(True)})
alerts = st.none() | st.fixed_dictionaries({"id": st.text(max_size=8),
                                            "state": st.sampled_from(["raised", "escalated",
                                                                      "resolved"])})
drafts = st.builds(
    Draft, kind=st.sampled_from(list(Kind)), type=st.text(min_size=1, max_size=16),
    severity=st.sampled_from(list(Severity)), source=sources, mono=st.just(1.0),
    wall=st.just(WALL), data=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    alert=alerts)
events = st.builds(
    lambda draft, home, seq, clock, flag: dataclasses.replace(
        from_draft(draft, id="01a23434-328f-7173-b371-6c94f202d7a5", home=home, seq=seq,
                   ts="2026-11-23T04:05:06.789Z", clock=clock), historical=flag),
    drafts, st.text(max_size=12), st.integers(min_value=1, max_value=2**63),
    st.sampled_from(list(ClockQuality)), st.none() | st.just(True))


def fields_of(event: Event) -> dict:
    """The model's fields as the wire carries them: `alert`, `historical` only when set."""
    doc = {"schema": event.schema, "id": event.id, "home": event.home, "seq": event.seq,
           "ts": event.ts, "clock": str(event.clock), "kind": str(event.kind),
           "type": event.type, "severity": str(event.severity), "source": event.source,
           "data": event.data}
    if event.alert is not None:
        doc["alert"] = event.alert
    if event.historical is not None:
        doc["historical"] = event.historical
    return doc


@given(events)
def test_a_rendered_body_reads_back_as_the_models_fields_in_wire_order(event):
    body = render(event)
    doc = json.loads(body)
    assert doc == fields_of(event)
    assert list(doc) == [key for key in WIRE_ORDER if key in doc]
    assert parse(body) == event  # and back into the model


@given(events)
def test_the_historical_rendering_of_a_stored_body_only_adds_the_flag(event):
    stored = render(dataclasses.replace(event, historical=None))
    assert historical(stored) == render(dataclasses.replace(event, historical=True))
    assert json.loads(historical(stored)) == {**json.loads(stored), "historical": True}


@given(events)
def test_the_corrected_rendering_changes_only_ts_and_clock(event):
    stored = render(event)
    doc = json.loads(corrected(stored, "2026-11-23T05:00:00.000Z"))
    assert doc == {**json.loads(stored), "ts": "2026-11-23T05:00:00.000Z", "clock": "corrected"}


def test_historical_and_corrected_bodies_of_real_events_are_valid_v1_events(tmp_path):
    box = Outbox(tmp_path / "o.db", "heim-ü", boot_id="b")
    stored = box.append([
        Draft(Kind.ALERT, "sos", Severity.CRITICAL,
              {"driver": "mock.home", "device": "sos-1", "room": "hall", "simulated": True},
              mono=1.0, wall=WALL, data={"reason": "pressed"},
              alert={"id": "a-1", "state": "raised"}),
        Draft(Kind.READING, "heart_rate", Severity.INFO, {"driver": "ble.vitals"}, mono=2.0,
              wall=WALL, data={"bpm": 61, "big": 2**70, "nested": [{"é": None}]}),
    ], synced=False)
    assert box.correct_clock(10.0, datetime(2026, 11, 23, 6, tzinfo=UTC)) == 2
    corrected_bodies = list(box.export())
    box.close()
    platform_check = schema_errors(fast=False)
    for event, body in zip(stored, corrected_bodies, strict=True):
        assert body == corrected(event.body, json.loads(body)["ts"])  # the outbox used it
        for rendered in (event.body, historical(event.body), body, historical(body)):
            doc = json.loads(rendered)
            GENERATED.validate(doc)
            SHIPPED_VALIDATOR.validate(doc)
            assert platform_check(doc) is None
        assert json.loads(historical(body))["historical"] is True
        assert json.loads(body)["clock"] == "corrected"
    assert json.loads(stored[0].body)["source"]["simulated"] is True


def test_the_generated_schema_is_the_shipped_one_and_accepts_both_flags():
    assert event_schema() == json.loads(SHIPPED.read_text())
    properties = event_schema()["properties"]
    assert {"alert", "historical", "clock"} <= properties.keys()
    assert "corrected" in event_schema()["$defs"]["ClockQuality"]["enum"]
    assert event_schema()["$defs"]["Source"]["additionalProperties"] is True


# Bodies as earlier releases stored them (outboxes in the field hold such rows).
FIELD_BODIES = [
    '{"schema":"edgeagent.event/1","id":"01a23434-328f-7173-b371-6c94f202d7a5","home":"heim-ü",'
    '"seq":1,"ts":"2026-11-23T04:05:06.789Z","clock":"unsynced","kind":"alert","type":"sos",'
    '"severity":"critical","source":{"driver":"mock.home","device":"sos-1","room":"hall",'
    '"simulated":true},"data":{"reason":"pressed","\u2113":[1,2.5,null,{"é":"ü"}]},'
    '"alert":{"id":"a-1","state":"raised"}}',
    '{"schema":"edgeagent.event/1","id":"01a23434-328f-7174-95ed-e0c9153a4937","home":"heim-ü",'
    '"seq":2,"ts":"2026-11-23T04:05:06.789Z","clock":"unsynced","kind":"reading",'
    '"type":"heart_rate","severity":"info","source":{"driver":"ble.vitals"},'
    '"data":{"bpm":61,"big":1180591620717411303424,"nan":NaN,"t":"\\u00fc"}}',
]


def test_bodies_stored_by_earlier_releases_get_the_same_flag_as_before():
    typical, odd = FIELD_BODIES
    assert historical(typical) == typical[:-1] + ',"historical":true}'  # byte for byte

    def read(text: str) -> dict:
        return json.loads(text, parse_constant=str)  # NaN compares as text

    assert read(historical(odd)) == {**read(odd), "historical": True}
    assert read(historical(odd))["data"]["big"] == 2**70  # not read as a float
    assert read(corrected(odd, "2026-11-23T05:00:00.000Z"))["data"]["big"] == 2**70


def test_a_stored_body_that_is_not_an_event_is_still_sent_unflagged():
    for body in ('{"not":"an event"}', "[1,2]", '{"schema":"edgeagent.event/1"'):
        assert historical(body) == body


# -- exactly one place writes event bodies ---------------------------------------------

# JSON fragments of an event body, and the keys only an event carries.
BODY_FRAGMENTS = ('"schema":', '"historical":', '"clock":', '"severity":', '"home":')
EVENT_ONLY_KEYS = {"schema", "historical"}
SET_KEYS = {"schema", "historical", "clock", "ts", "severity", "seq"}
ALLOWED = {"event.py", "models.py", "schema/generate.py"}


def body_writers(source: str) -> list[str]:
    """What in one module's source looks like building event JSON, by line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [f"{line}: fragment {f}" for f in BODY_FRAGMENTS if f in node.value]
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if keys & EVENT_ONLY_KEYS and ("seq" in keys or "historical" in keys):
                found.append(f"{line}: event document {sorted(keys)}")
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            key = node.slice
            if isinstance(key, ast.Constant) and key.value in SET_KEYS:
                found.append(f"{line}: sets [{key.value!r}]")
        elif isinstance(node, ast.Name | ast.alias) and "SCHEMA_ID" in (
                getattr(node, "id", None), getattr(node, "name", None)):
            found.append(f"{line}: SCHEMA_ID")
    return found


def test_no_module_but_the_event_module_writes_event_json():
    root = Path(edgeagent.__file__).parent
    offenders = {}
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name not in ALLOWED and (found := body_writers(path.read_text())):
            offenders[name] = found
    assert offenders == {}


def test_the_check_finds_each_way_a_body_used_to_be_written():
    assert body_writers("payload = payload[:-1] + ',\"historical\":true}'")
    assert body_writers("doc['clock'] = 'corrected'")
    assert body_writers("doc['ts'] = ts")
    assert body_writers("head = f'{{\"schema\":{x},\"id\":\"'")
    assert body_writers("from edgeagent.models import SCHEMA_ID")
    assert body_writers("doc = {'schema': s, 'id': i, 'seq': n}")
    assert body_writers("doc = {**old, 'historical': True}")
    assert not body_writers("status = {'seq': 1, 'kind': 'alert', 'id': 'x'}")
