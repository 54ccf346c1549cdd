"""Downlink commands are hostile input: fuzzed with hypothesis, they never raise, never run
a command that is not on the allow-list, never run a replayed id twice, and refuse big ones."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeagent.commands import MAX_PAYLOAD, CommandRouter
from edgeagent.topics import Topics

TOPICS = Topics("care", "home-1")
ALLOWED = ("ping", "outbox-stats", "reboot")  # reboot changes the kit: disabled by config
LOOP = asyncio.new_event_loop()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def handler(self, name: str):
        async def run(args: dict[str, Any]) -> dict[str, Any]:
            self.calls.append((name, args))
            if args.get("explode"):
                raise RuntimeError("handler bug")
            return {"ok": name}
        return run


def router(rate: int = 1_000_000, clock: list[float] | None = None) -> tuple[CommandRouter,
                                                                               Recorder]:
    now = clock if clock is not None else [0.0]
    r = CommandRouter(TOPICS, rate_per_minute=rate, monotonic=lambda: now[0])
    rec = Recorder()
    for name in ALLOWED:
        r.register(name, rec.handler(name), changes_state=(name == "reboot"))
    return r, rec


def handle(r: CommandRouter, topic: str, payload: bytes,
           props: dict[str, Any] | None = None) -> tuple[str, bytes, Any] | None:
    return LOOP.run_until_complete(r.handle(topic, payload, props or {}))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
command_names = st.sampled_from([*ALLOWED, "shell", "", "ping/reply", "+", "#", "../ping",
                                 "PING", "ping\x00"]) | st.text(max_size=12)
topics = st.one_of(
    st.text(max_size=40),
    command_names.map(lambda n: f"care/home-1/cmd/{n}"),
    command_names.map(lambda n: f"care/home-2/cmd/{n}"),
    command_names.map(lambda n: f"care/home-1/cmd/{n}/reply"),
)
payloads = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.sampled_from(["id", "args", "x"]), json_values, max_size=3).map(
        lambda d: json.dumps(d).encode()),
    st.builds(lambda n: b'{"args": {"pad": "' + b"x" * n + b'"}}',
              st.integers(MAX_PAYLOAD - 20, MAX_PAYLOAD + 50)),
)
props = st.fixed_dictionaries({}, optional={
    "ResponseTopic": st.text(max_size=40) | st.just("care/home-1/cmd/ping/reply") |
    st.just("care/home-2/steal"),
    "CorrelationData": st.binary(max_size=16),
    "MessageExpiryInterval": st.integers(0, 2**32 - 1)})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=topics, payload=payloads, properties=props)
def test_fuzzed_downlink_never_raises_and_runs_only_allowed(topic, payload, properties):
    r, rec = router()
    reply = handle(r, topic, payload, properties)
    name = TOPICS.command_name(topic)
    if name is None:
        assert reply is None  # not a command topic (or our own reply): silence, no loop
        assert rec.calls == []
        return
    assert reply is not None
    reply_topic, body, _corr = reply
    assert reply_topic.startswith("care/home-1/"), "a reply may never leave this home's topics"
    answer = json.loads(body)
    assert answer["command"] == name
    for called, _args in rec.calls:
        assert called == name
        assert called in ALLOWED and called != "reboot"
    if name not in ALLOWED or name == "reboot" or len(payload) > MAX_PAYLOAD:
        assert rec.calls == []
        assert answer["ok"] is False
    assert len(rec.calls) <= 1


@settings(max_examples=100, deadline=None)
@given(command_id=st.text(min_size=1, max_size=64), n=st.integers(2, 5))
def test_replayed_command_id_runs_once(command_id, n):
    r, rec = router()
    payload = json.dumps({"id": command_id, "args": {}}).encode()
    answers = [json.loads(handle(r, "care/home-1/cmd/ping", payload)[1]) for _ in range(n)]
    assert len(rec.calls) == 1
    assert answers[0]["ok"] is True
    assert all(a["ok"] is False and "replay" in a["error"] for a in answers[1:])


def test_size_limit_and_rate_limit():
    clock = [0.0]
    r, rec = router(rate=3, clock=clock)
    big = json.dumps({"args": {"pad": "x" * MAX_PAYLOAD}}).encode()
    answer = json.loads(handle(r, "care/home-1/cmd/ping", big)[1])
    assert answer["ok"] is False and "exceeds" in answer["error"] and rec.calls == []
    results = [json.loads(handle(r, "care/home-1/cmd/ping", b"{}")[1])["ok"] for _ in range(5)]
    assert results == [True, True, True, False, False]
    clock[0] += 61
    assert json.loads(handle(r, "care/home-1/cmd/ping", b"{}")[1])["ok"] is True


def test_handler_that_raises_is_answered_not_propagated():
    r, _rec = router()
    answer = json.loads(handle(r, "care/home-1/cmd/ping", b'{"args": {"explode": true}}')[1])
    assert answer["ok"] is False and "handler bug" in answer["error"]
    assert r.counters["rejected"] == 1


def test_response_topic_cannot_point_at_a_command_topic():
    r, _rec = router()
    reply = handle(r, "care/home-1/cmd/ping", b"{}",
                   {"ResponseTopic": "care/home-1/cmd/outbox-stats"})
    assert reply is not None
    assert TOPICS.command_name(reply[0]) is None


def test_rejected_command_reply_echoes_its_id():
    r, _rec = router()
    answer = json.loads(handle(r, "care/home-1/cmd/self-destruct", b'{"id": "c-17"}')[1])
    assert answer["ok"] is False and answer["id"] == "c-17"
    assert "unknown command" in answer["error"]


def test_args_must_be_an_object():
    r, _rec = router()
    answer = json.loads(handle(r, "care/home-1/cmd/ping", b'{"args": [1, 2]}')[1])
    assert answer["ok"] is False and "args must be a JSON object" in answer["error"]


def test_old_command_by_its_ts_is_ignored_and_fresh_one_runs():
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    r = CommandRouter(TOPICS, wall=lambda: now, max_age_s=600)
    rec = Recorder()
    r.register("ping", rec.handler("ping"))
    old = (now - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    answer = json.loads(handle(r, "care/home-1/cmd/ping",
                               json.dumps({"id": "a", "ts": old}).encode())[1])
    assert answer["ok"] is False and "older than 600 s" in answer["error"]
    fresh = (now - timedelta(seconds=5)).isoformat()
    answer = json.loads(handle(r, "care/home-1/cmd/ping",
                               json.dumps({"id": "b", "ts": fresh}).encode())[1])
    assert answer["ok"] is True
    assert [name for name, _ in rec.calls] == ["ping"]
    bad = json.loads(handle(r, "care/home-1/cmd/ping", b'{"ts": "yesterday"}')[1])
    assert bad["ok"] is False and "RFC 3339" in bad["error"]

