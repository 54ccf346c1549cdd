"""The reference ingest against a real mosquitto, SQLite and a private PostgreSQL:
schema check and quarantine, dedup by id, the retained status, gap -> resend -> repaired,
`lost` only on the agent's `unavailable`, and `edgeagent-platform status`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from edgeagent_platform.contract import EventValidator
from edgeagent_platform.gaps import advance, limit_ask, next_ask_delay
from edgeagent_platform.report import counters as totals
from edgeagent_platform.report import home_report
from edgeagent_platform.store import Store
from edgeagent_platform.worker import WorkerConfig
from paho.mqtt.enums import CallbackAPIVersion

from edgeagent.models import Kind, Severity
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.core.test_resend import draft
from tests.platform_ingest.conftest import WorkerThread
from tests.support.waiting import until, wait_until


def event(home: str, seq: int, **over: Any) -> dict[str, Any]:
    doc = {"schema": "edgeagent.event/1", "id": str(uuid.uuid4()), "home": home, "seq": seq,
           "ts": "2026-03-01T08:00:00.000Z", "clock": "synced", "kind": "state",
           "type": "motion", "severity": "info", "source": {"driver": "t"}, "data": {}}
    doc.update(over)
    return doc


def fast(mosquitto, db: str, **over: Any) -> WorkerConfig:
    cfg = WorkerConfig(broker=mosquitto.url, prefix="care", db=db, gap_grace_s=0.3, tick_s=0.05)
    for key, value in over.items():
        setattr(cfg, key, value)
    return cfg


def report(db: str) -> dict[str, dict[str, Any]]:
    store = Store(db)
    try:
        return {h["home"]: h for h in home_report(store)}
    finally:
        store.close()


def counters(db: str) -> dict[str, int]:
    store = Store(db)
    try:
        return totals(store)
    finally:
        store.close()


def test_gap_bookkeeping_is_pure_and_bounded():
    assert advance(0, [1, 2, 3, 5, 6, 9], []) == (3, [(4, 4), (7, 8)])
    assert advance(0, [2, 3], []) == (0, [(1, 1)])
    assert advance(0, [1, 2, 5], [(3, 4)]) == (5, [])  # lost ranges settle the watermark
    assert advance(3, [5, 9], [(6, 7)]) == (3, [(4, 4), (8, 8)])
    assert advance(7, [], []) == (7, [])
    assert limit_ask([(1, 6000), (7000, 12000)]) == [(1, 6000), (7000, 10999)]
    assert [next_ask_delay(30, n) for n in (0, 1, 2)] == [30, 60, 120]


def test_fast_and_pure_python_schema_checks_agree():
    fast, pure = EventValidator(fast=True), EventValidator(fast=False)
    missing = event("h1", 1)
    del missing["source"]
    text_seq = event("h1", 1)
    text_seq["seq"] = "1"
    samples = [event("h1", 1), event("h1", 0), event("h1", 1, extra=1), missing,
               event("h1", 1, kind="gossip"), text_seq, [1, 2]]
    for doc in samples:
        payload = json.dumps(doc).encode()
        verdicts = [v.check("h1", "care/h1/events/state/motion", payload)[0] is None
                    for v in (fast, pure)]
        assert verdicts[0] == verdicts[1], doc
    assert [fast.check("h1", "care/h1/events/state/motion", json.dumps(d).encode())[0]
            is not None for d in samples] == [True] + [False] * 6


def test_events_are_validated_deduplicated_and_stored_once(tmp_path, mosquitto):
    db = f"sqlite:///{tmp_path / 'p.db'}"
    ingest = WorkerThread(fast(mosquitto, db)).start()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        good = [event("h1", n) for n in (1, 2, 3)]
        for doc in [*good, good[1]]:  # seq 2 twice: a QoS 1 redelivery
            client.publish("care/h1/events/state/motion", json.dumps(doc), qos=1).wait_for_publish()
        bad = [("care/h1/events/state/motion", b"{not json"),
               ("care/h1/events/state/motion", json.dumps(event("h1", 0)).encode()),
               ("care/h2/events/state/motion", json.dumps(event("h1", 5)).encode()),
               ("care/h1/events/state/motion", json.dumps(event("h1", 6, extra=1)).encode())]
        for topic, payload in bad:
            client.publish(topic, payload, qos=1).wait_for_publish()
        # Hostile replies and statuses (anyone allowed on those topics can send them) are
        # ignored or taken for what they say; they never stop the worker.
        hostile = [b"[[[[" * 5000, b'{"ok": true, "result": {"unavailable": [1, [2], ["a", 3], '
                   b'[5, 4], [true, 2], [1, 99999999999999999999]], "last_seq": 1e400}}',
                   b'{"ok": true, "result": {"last_seq": 99999999999999999999999}}', b"\xff"]
        for payload in hostile:
            client.publish("care/h1/cmd/resend/reply", payload, qos=1).wait_for_publish()
            client.publish("care/h1/status", payload, qos=1).wait_for_publish()
        after = event("h1", 4)
        client.publish("care/h1/events/state/motion", json.dumps(after), qos=1).wait_for_publish()
        wait_until(lambda: counters(db).get("invalid", 0) == 4, 10, "quarantined")
        wait_until(lambda: counters(db).get("stored", 0) == 4, 10, "stored")
        assert counters(db)["duplicates"] == 1
        store = Store(db)
        reasons = [r[0] for r in store.query("SELECT reason FROM quarantine ORDER BY rowid")]
        rows = store.query("SELECT seq, id FROM events ORDER BY seq")
        store.close()
        assert reasons[0].startswith("not JSON")
        assert "schema: seq" in reasons[1]
        assert "in the body" in reasons[2]  # a home publishing as another
        assert "Additional properties" in reasons[3]
        assert rows == [(n, [*good, after][n - 1]["id"]) for n in (1, 2, 3, 4)]
        assert ingest.thread.is_alive()
        home = report(db)["h1"]
        assert home["lost"] == [] and home["agent_last_seq"] == 0  # nothing taken from junk
        wait_until(lambda: report(db)["h1"]["watermark"] == 4, 10, "watermark")
    finally:
        client.loop_stop()
        client.disconnect()
        ingest.stop()


async def test_missed_events_are_asked_for_and_unavailable_ones_marked_lost(
        tmp_path, mosquitto, db_url):
    agent = Agent(make_config(tmp_path, mosquitto.url), sync_probe=lambda: True,
                  tick_interval=0.05)
    outbox = agent.outbox
    outbox.append([draft(n) for n in range(1, 11)], synced=True)
    outbox.append([draft(11, Kind.ALERT, "sos", Severity.CRITICAL)], synced=True)
    # 1-5 went out long ago and are past the agent's retention: it cannot answer for them.
    outbox.mark_delivered([1, 2, 3, 4, 5], when=time.time() - 100 * 3600)
    outbox.prune_delivered()
    ingest: WorkerThread | None = None
    try:
        async with RunningAgent(agent):
            # 6-11 are delivered while no ingest listens: the broker drops them all.
            await until(lambda: outbox.stats().pending == 0, 15, "delivered to the broker")
            ingest = await asyncio.to_thread(lambda: WorkerThread(fast(mosquitto, db_url)).start())
            # Only the retained status tells the platform there is anything (last_seq 11).
            await until(lambda: report(db_url).get("home-1", {}).get("watermark") == 11, 20,
                        "gap repaired")
            home = report(db_url)["home-1"]
            assert home["online"] is True
            assert home["lost"] == [[1, 5]]  # the agent said unavailable: only then lost
            assert home["open_gaps"] == []
            assert [a["type"] for a in home["open_alerts"]] == ["sos"]
            store = Store(db_url)
            rows = store.query("SELECT seq, resent, body FROM events ORDER BY seq")
            store.close()
            assert [r[0] for r in rows] == list(range(6, 12))  # each exactly once
            assert all(r[1] == 1 for r in rows)  # they came as resends
            stored = {e.seq: e.body for e in outbox.stored_events(range(6, 12))}
            assert all(r[2] == stored[r[0]] for r in rows)
            assert outbox.stats().last_delivered_seq == 11  # resend changed nothing there
        await until(lambda: report(db_url)["home-1"]["online"] is False, 10, "offline seen")
        cli = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "edgeagent_platform.cli", "status", "--db",
                             db_url, "--json"], capture_output=True, text=True, timeout=30)
        assert cli.returncode == 0, cli.stderr
        shown = json.loads(cli.stdout)["homes"][0]
        assert (shown["home"], shown["online"], shown["watermark"], shown["lost"]) == (
            "home-1", False, 11, [[1, 5]])
        text = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "edgeagent_platform.cli", "status", "--db",
                             db_url], capture_output=True, text=True, timeout=30)
        assert "home-1: OFFLINE" in text.stdout and "lost 1-5" in text.stdout
    finally:
        if ingest is not None:
            await asyncio.to_thread(ingest.stop)


def test_status_refuses_an_unknown_database_scheme():
    cli = subprocess.run([sys.executable, "-m", "edgeagent_platform.cli", "status", "--db",
                          "mysql://x/y"], capture_output=True, text=True, timeout=30)
    assert cli.returncode == 2 and "sqlite:///path or postgresql://" in cli.stderr
