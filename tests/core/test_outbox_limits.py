"""Size limits in the outbox: an oversized body is cut to fit (marked inside `data`, counted),
a poison event is quarantined (kept, reported, exportable, not drained), an alert never is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema

from edgeagent.doctor.outbox_reader import OutboxReader
from edgeagent.limits import CUT_ALERT_DATA_BYTES, MAX_EVENT_BYTES, cut_data, json_size
from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox
from edgeagent.schema.generate import event_schema

NOW = datetime(2025, 1, 1, tzinfo=UTC)
VALIDATOR = jsonschema.Draft202012Validator(event_schema())


def reading(data: dict, type_: str = "power") -> Draft:
    return Draft(Kind.READING, type_, Severity.INFO, {"driver": "plug"}, 1.0, NOW, data=data)


def alert(data: dict) -> Draft:
    return Draft(Kind.ALERT, "fall_suspected", Severity.CRITICAL, {"driver": "mat"}, 1.0, NOW,
                 data=data, alert={"id": "a-1", "state": "raised"})


def test_an_oversized_event_is_stored_cut_to_the_limit_marked_and_counted(tmp_path: Path):
    outbox = Outbox(tmp_path / "o.db", "home-1", boot_id="b")
    huge = "\u00e9" * 1_000_000  # two bytes each in UTF-8
    stored = outbox.append([reading({"value": huge, "unit": "W", "topic": "z2m/plug"}),
                            reading({"value": 12.5, "unit": "W"})], synced=True)
    big, small = stored
    assert len(big.body.encode()) <= MAX_EVENT_BYTES
    doc = json.loads(big.body)
    VALIDATOR.validate(doc)  # still a valid v1 event: the marker sits inside `data`
    assert doc["data"]["truncated"] is True
    assert doc["data"]["original_bytes"] > 2_000_000
    assert doc["data"]["unit"] == "W" and doc["data"]["topic"] == "z2m/plug"  # small ones kept
    assert huge.startswith(doc["data"]["value"]) and doc["data"]["value"]  # the head of it
    assert doc["data"]["cut"] == ["value"]
    assert json.loads(small.body)["data"] == {"value": 12.5, "unit": "W"}  # untouched
    assert outbox.stats().truncated == {"stored": 1}
    assert [e.seq for e in outbox.pending(10)] == [1, 2]  # nothing lost


def test_cut_data_keeps_small_fields_and_names_what_it_dropped():
    data = {"big": list(range(10_000)), "room": "bath", "n": 3}
    cut = cut_data(data, 200, 123_456)
    assert cut == {"truncated": True, "original_bytes": 123_456, "room": "bath", "n": 3,
                   "cut": ["big"]}
    assert json_size(cut) <= 200


def test_a_quarantined_event_is_not_drained_but_kept_reported_and_exportable(tmp_path: Path):
    path = tmp_path / "o.db"
    outbox = Outbox(path, "home-1", boot_id="b")
    outbox.append([reading({"value": i}) for i in range(5)], synced=True)
    assert outbox.set_aside(3, 3, "connection lost") == "quarantined"
    assert [e.seq for e in outbox.pending(10)] == [1, 2, 4, 5]
    stats = outbox.stats()
    assert (stats.pending, stats.quarantined, stats.quarantined_seqs) == (4, 1, [3])
    assert [r["seq"] for r in outbox.quarantined()] == [3]
    assert [json.loads(b)["seq"] for b in outbox.export(quarantined=True)] == [3]
    with OutboxReader(path) as reader:  # doctor and `outbox stats|export` see it too
        assert reader.stats()["quarantined"] == 1
        assert reader.stats()["quarantined_seqs"] == [3]
        assert [json.loads(b)["seq"] for b in reader.export(quarantined=True)] == [3]
    outbox.close()
    reopened = Outbox(path, "home-1", boot_id="b2")  # it survives a restart
    assert [e.seq for e in reopened.pending(10)] == [1, 2, 4, 5]


def test_an_alert_is_never_quarantined_but_cut_to_fit_and_sent_again(tmp_path: Path):
    outbox = Outbox(tmp_path / "o.db", "home-1", boot_id="b")
    outbox.append([alert({"room": "bath", "note": "x" * 10_000}), alert({"room": "hall"})],
                  synced=True)
    assert outbox.set_aside(1, 3, "connection lost") == "cut"
    assert outbox.set_aside(1, 6, "connection lost") == "kept"  # already as small as it gets
    assert outbox.set_aside(2, 3, "connection lost") == "kept"  # small: size is not the cause
    pending = outbox.pending(10)
    assert [e.seq for e in pending] == [1, 2]
    doc = json.loads(pending[0].body)
    VALIDATOR.validate(doc)
    assert doc["data"]["truncated"] is True and doc["data"]["room"] == "bath"
    assert json_size(doc["data"]) <= CUT_ALERT_DATA_BYTES
    assert outbox.stats().quarantined == 0
    assert outbox.stats().truncated == {"alerts_after_drops": 1}


def test_a_huge_reading_is_cut_where_it_enters_the_agent(tmp_path: Path):
    """The driver -> heuristics boundary: a 1 MB value is cut before the engine sees it."""
    from edgeagent.limits import MAX_READING_BYTES
    from edgeagent.models import Reading
    from edgeagent.supervisor import Agent
    from tests.conftest import make_config

    agent = Agent(make_config(tmp_path, "mqtt://127.0.0.1:9", heuristics={"enabled": False}),
                  sync_probe=lambda: True)
    huge = Reading(driver="ha", device="hall", sensor="text", value="v" * 1_000_000,
                   mono=1.0, wall=NOW, data={"topic": "esphome/hall", "blob": "b" * 100_000})
    agent.pipeline.emit(huge)
    stored = agent.flush()
    assert agent.counters["readings_capped"] == 1
    assert stored and all(len(e.body.encode()) <= MAX_READING_BYTES + 1024 for e in stored)
    data = json.loads(stored[0].body)["data"]
    assert len(data["value"]) < MAX_READING_BYTES and "v" * 100 in data["value"]  # its head
    assert data["truncated"] is True and data["cut"] == ["blob"]  # the marker rode along
    agent.outbox.close()
