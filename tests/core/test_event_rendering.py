"""What the outbox's write path stamps on each event: ids, timestamps, the JSON body.

RFC 9562 UUIDv7 order, the schema's `ts` form, and a body that is the event,
byte for byte as orjson encodes the document, whatever a driver put in `data`.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given
from hypothesis import strategies as st

from edgeagent import ids
from edgeagent.clock import iso_utc
from edgeagent.models import SCHEMA_ID, Draft, Kind, Severity
from edgeagent.outbox import Outbox


def encoded(doc: dict) -> str:
    """The document as orjson encodes it compactly (int keys allowed)."""
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode()


def test_ids_are_valid_uuid7_ordered_and_unique():
    minted = [ids.uuid7_str() for _ in range(5000)] + [str(ids.uuid7())]
    assert minted == sorted(minted)
    assert len(set(minted)) == len(minted)
    for text in minted:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_ids_carry_the_current_millisecond_and_borrow_when_the_counter_runs_out(monkeypatch):
    monkeypatch.setattr(ids, "_last_ms", 0)
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_700_000_000_123_000_000)
    minted = [ids.uuid7_str() for _ in range(5000)]  # > 4096 - 1024: the counter must overflow
    stamps = [int(uuid.UUID(t).hex[:12], 16) for t in minted]
    assert stamps[0] == 1_700_000_000_123
    assert stamps[-1] == 1_700_000_000_124  # borrowed the next millisecond, still ordered
    assert minted == sorted(minted)


def test_an_id_after_the_last_counter_value_moves_on_to_the_next_millisecond(monkeypatch):
    monkeypatch.setattr(ids, "_last_ms", 1_700_000_000_123)
    monkeypatch.setattr(ids, "_counter", 0xFFD)
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_700_000_000_123_000_000)
    minted = [ids.uuid7_str() for _ in range(4)]
    fields = [(int(uuid.UUID(t).hex[:12], 16), int(uuid.UUID(t).hex[13:16], 16)) for t in minted]
    assert fields == [(1_700_000_000_123, 0xFFE), (1_700_000_000_123, 0xFFF),
                      (1_700_000_000_124, 0), (1_700_000_000_124, 1)]
    assert all(uuid.UUID(t).variant == uuid.RFC_4122 for t in minted)


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)),
                                               timezone(timedelta(hours=-5, minutes=-30))])))
def test_iso_utc_is_rfc3339_utc_milliseconds(when):
    expected = (when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{when.microsecond // 1000:03d}Z")
    assert iso_utc(when) == expected


@given(st.lists(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                             timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])),
                max_size=20))
def test_each_time_is_stamped_alone(walls):
    # Times out of order, across seconds and in other zones each get their own stamp.
    walls += [walls[0] + timedelta(milliseconds=999)] if walls else []
    assert [iso_utc(w) for w in walls] == [
        w.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{w.microsecond // 1000:03d}Z"
        for w in walls]


def test_stamps_at_the_ends_of_the_calendar_do_not_overflow():
    last = datetime.max.replace(tzinfo=UTC)
    assert [iso_utc(w) for w in (last, last, datetime.min.replace(tzinfo=UTC))] == [
        "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z"]


def test_every_body_of_a_mixed_batch_is_byte_for_byte_the_encoded_event(tmp_path):
    wall = datetime(2026, 11, 23, 4, 59, 59, 999_000, tzinfo=UTC)
    drafts = [
        Draft(Kind.STATE, "motion", Severity.INFO, {"driver": "pir", "room": "hall"}, mono=1.0,
              wall=wall, data={"value": True}),
        Draft(Kind.ALERT, "sos", Severity.CRITICAL, {"driver": "gpio"}, mono=2.0,
              wall=wall + timedelta(milliseconds=1), data={"reason": "pressed"},
              alert={"id": "a1", "state": "raised"}),
        Draft(Kind.READING, 'weird "type" ü', Severity.WARNING, {"driver": "ble"}, mono=3.0,
              wall=wall + timedelta(seconds=2), data={1: "int key", "nan": float("nan")}),
        Draft(Kind.STATE, "motion", Severity.INFO, {"driver": "pir", "room": "hall"}, mono=4.0,
              wall=wall.astimezone(timezone(timedelta(hours=8))), data={"value": False}),
    ]
    box = Outbox(tmp_path / "o.db", 'home "ü"', boot_id="b")
    stored = box.append(drafts, synced=False)
    rows = box._conn.execute("SELECT body, ts, kind, priority, size FROM events ORDER BY seq")
    for event, draft, (body, ts, kind, priority, size) in zip(stored, drafts, rows, strict=True):
        doc = {"schema": SCHEMA_ID, "id": event.id, "home": 'home "ü"', "seq": event.seq,
               "ts": iso_utc(draft.wall), "clock": "unsynced", "kind": str(draft.kind),
               "type": draft.type, "severity": str(draft.severity), "source": draft.source,
               "data": draft.data}
        if draft.alert is not None:
            doc["alert"] = draft.alert
        assert body == event.body == encoded(doc)
        assert (ts, kind, priority) == (doc["ts"], doc["kind"], int(draft.priority))
        assert size == len(body) + 96
        assert type(event.priority) is int and type(event.kind) is str
    assert [e.seq for e in stored] == [1, 2, 3, 4]
    box.close()


def _stored_doc(tmp_path, data: dict, type_: str = "motion") -> dict:
    box = Outbox(tmp_path / "o.db", "home-ü", boot_id="b")
    draft = Draft(Kind.STATE, type_, Severity.INFO, {"driver": "d"}, mono=1.0,
                  wall=datetime(2026, 11, 23, 3, 0, tzinfo=UTC), data=data)
    (stored,) = box.append([draft], synced=True)
    (row,) = box._conn.execute("SELECT body FROM events").fetchall()
    box.close()
    assert row[0] == stored.body  # what we publish is what we kept
    return json.loads(stored.body)


def test_body_keeps_values_orjson_refuses_instead_of_losing_the_event(tmp_path):
    doc = _stored_doc(tmp_path, {"big": 2**70, "when": datetime(2026, 1, 1, tzinfo=UTC)})
    assert doc["data"]["big"] == 2**70
    assert doc["data"]["when"].startswith("2026-01-01")
    assert doc["seq"] == 1


@given(st.dictionaries(st.text(max_size=8),
                       st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1),
                                 st.floats(allow_nan=False, allow_infinity=False),
                                 st.text(max_size=20)), max_size=5),
       st.text(min_size=1, max_size=12))
def test_body_is_the_event_for_any_driver_data(tmp_path_factory, data, type_):
    doc = _stored_doc(tmp_path_factory.mktemp("o"), data, type_)
    assert doc["data"] == data
    assert doc["type"] == type_
    assert doc["home"] == "home-ü"
    assert doc["ts"] == "2026-11-23T03:00:00.000Z"
    assert uuid.UUID(doc["id"]).version == 7


@given(st.text(max_size=10), st.text(min_size=1, max_size=10),
       st.sampled_from(list(Kind)), st.sampled_from(list(Severity)),
       st.dictionaries(st.text(max_size=5), st.text(max_size=8), max_size=3),
       st.one_of(st.none(), st.fixed_dictionaries({"id": st.text(max_size=8),
                                                   "state": st.sampled_from(["raised"])})),
       st.booleans())
def test_stored_body_is_byte_for_byte_the_encoded_document(tmp_path_factory, home, type_, kind,
                                                          severity, source, alert, synced):
    wall = datetime(2026, 11, 23, tzinfo=UTC)
    draft = Draft(kind, type_, severity, source, mono=1.0, wall=wall, data={"v": 1.5},
                  alert=alert)
    box = Outbox(tmp_path_factory.mktemp("o") / "o.db", home, boot_id="b")
    (event,) = box.append([draft], synced=synced)
    box.close()
    doc = {"schema": SCHEMA_ID, "id": event.id, "home": home, "seq": 1,
           "ts": "2026-11-23T00:00:00.000Z", "clock": "synced" if synced else "unsynced",
           "kind": str(kind), "type": type_, "severity": str(severity), "source": source,
           "data": {"v": 1.5}}
    if alert is not None:
        doc["alert"] = alert
    assert event.body == encoded(doc)
    assert json.loads(event.body) == doc


def test_types_that_compare_equal_keep_their_own_json(tmp_path):
    # 1 == True == 1.0, but their JSON differs.
    box = Outbox(tmp_path / "o.db", "h", boot_id="b")
    wall = datetime(2026, 11, 23, tzinfo=UTC)
    odd = [Draft(Kind.STATE, t, Severity.INFO, {}, mono=1.0, wall=wall)  # type: ignore[arg-type]
           for t in (1, True, 1.0)]
    types = [json.loads(e.body)["type"] for e in box.append(odd, synced=True)]
    box.close()
    assert [(t, type(t)) for t in types] == [(1, int), (True, bool), (1.0, float)]
