"""Downlink commands are hostile input: fuzzed with hypothesis, they never raise, never run
a command that is not on the allow-list, never run a replayed id twice, and refuse big ones."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeagent.downlink import MAX_PAYLOAD, CommandRouter
from edgeagent.replay_window import ReplayWindow
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
    # The rejected one took a slot of the limit; past it, one error reply per window, then none.
    replies = [handle(r, "care/home-1/cmd/ping", b"{}") for _ in range(5)]
    answers = [json.loads(reply[1]) if reply else None for reply in replies]
    assert [a and a["ok"] for a in answers] == [True, True, False, None, None]
    assert "rate limit of 3" in answers[2]["error"]
    assert r.counters["rate_limited"] == 3 and r.counters["unanswered"] == 2
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



def test_deeply_nested_payload_is_rejected_without_a_traceback(caplog):
    """`[` * 2000: json raises RecursionError, which used to escape with a 22-line traceback."""
    r, rec = router()
    nested = b"[" * 2000 + b"]" * 2000
    assert len(nested) <= MAX_PAYLOAD
    with caplog.at_level("DEBUG"):
        answers = [json.loads(handle(r, "care/home-1/cmd/ping", nested)[1]) for _ in range(50)]
    assert all(a["ok"] is False and "not JSON" in a["error"] for a in answers)
    assert rec.calls == [] and r.counters["rejected"] == 50
    assert not any(rec_.exc_info for rec_ in caplog.records)
    assert len(caplog.records) == 1  # the first rejection; the rest go into the summary


def test_flood_of_unknown_commands_is_rate_limited_with_a_bounded_log(caplog):
    """1 000 unknown 60 KB commands: replies and log lines stay bounded; one summary a minute."""
    clock = [0.0]
    r, rec = router(rate=10, clock=clock)
    name = "x" * 200
    payload = b"y" * 60_000
    with caplog.at_level("DEBUG", logger="edgeagent"):
        replies = [handle(r, f"care/home-1/cmd/{name}", payload) for _ in range(1000)]
        answered = [reply for reply in replies if reply is not None]
        assert len(answered) == 11  # 10 within the limit, one "rate limit" reply per window
        assert sum(len(body) for _t, body, _c in answered) < 11 * 400  # no payload echoed
        assert len(caplog.records) == 1
        clock[0] += 61
        r.tick()
    assert r.counters["rejected"] == 1000 and r.counters["rate_limited"] == 990
    assert r.counters["unanswered"] == 989
    lines = [rec_.getMessage() for rec_ in caplog.records]
    assert len(lines) == 2 and "999 more commands rejected" in lines[1]
    assert "rate 990" in lines[1] and "unknown 9" in lines[1]
    assert all(len(line) < 600 for line in lines)
    # A new window: the limit is free again and a valid command runs.
    assert json.loads(handle(r, "care/home-1/cmd/ping", b"{}")[1])["ok"] is True
    assert rec.calls == [("ping", {})]


def test_response_topic_may_not_point_at_event_or_status_topics():
    r, _rec = router()
    r.reply_prefix = "care/home-1/replies"
    hostile = ["care/home-1/events/alert/sos", "care/home-1/status", "care/home-1/status/x",
               "care/home-1/cmd/ping", "care/home-1/cmd/other/reply", "care/home-1/replies/+",
               "care/home-1/replies/a\x00b", "care/home-1/replies", "care/home-2/cmd/ping/reply",
               "elsewhere/steal"]
    for topic in hostile:
        reply = handle(r, "care/home-1/cmd/ping", b"{}", {"ResponseTopic": topic})
        assert reply is not None and reply[0] == "care/home-1/cmd/ping/reply", topic
    assert r.counters["reply_topic_refused"] == len(hostile)
    for topic in ("care/home-1/cmd/ping/reply", "care/home-1/replies/tech-7"):
        assert handle(r, "care/home-1/cmd/ping", b"{}", {"ResponseTopic": topic})[0] == topic
    r.reply_prefix = None  # without a configured prefix only the command's own reply topic
    reply = handle(r, "care/home-1/cmd/ping", b"{}",
                   {"ResponseTopic": "care/home-1/replies/tech-7"})
    assert reply[0] == "care/home-1/cmd/ping/reply"


def test_diagnostics_commands_need_allow_diagnostics():
    r = CommandRouter(TOPICS)
    rec = Recorder()
    r.register("doctor", rec.handler("doctor"), discloses=True)
    r.register("bundle", rec.handler("bundle"), discloses=True)
    r.allow_changes = True  # not enough: disclosing is its own switch
    for name in ("doctor", "bundle"):
        answer = json.loads(handle(r, f"care/home-1/cmd/{name}", b"{}")[1])
        assert answer["ok"] is False and "commands.allow_diagnostics" in answer["error"]
    assert rec.calls == []
    r.allow_diagnostics = True
    assert json.loads(handle(r, "care/home-1/cmd/doctor", b"{}")[1])["ok"] is True
    assert rec.calls == [("doctor", {})]


def test_future_ts_is_refused_and_a_small_skew_accepted():
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    r = CommandRouter(TOPICS, wall=lambda: now, max_future_s=120)
    rec = Recorder()
    r.register("ping", rec.handler("ping"))
    answer = json.loads(handle(r, "care/home-1/cmd/ping",
                               b'{"id": "f-1", "ts": "2099-01-01T00:00:00Z"}')[1])
    assert answer["ok"] is False and "ahead of this kit's clock" in answer["error"]
    skewed = (now + timedelta(seconds=30)).isoformat()
    answer = json.loads(handle(r, "care/home-1/cmd/ping",
                               json.dumps({"id": "f-2", "ts": skewed}).encode())[1])
    assert answer["ok"] is True
    assert len(rec.calls) == 1


def test_unsynced_clock_needs_an_id_new_in_the_persisted_window():
    """While unsynced the ts cannot be judged: a replayed id is refused even after a restart."""
    stored: dict[str, str] = {}

    def make() -> tuple[CommandRouter, Recorder]:
        window = ReplayWindow(load=lambda: stored.get("ids"),
                              save=lambda raw: stored.__setitem__("ids", raw))
        r = CommandRouter(TOPICS, wall=lambda: None, replay=window)  # unsynced
        rec = Recorder()
        r.register("ping", rec.handler("ping"))
        return r, rec

    r, rec = make()
    old = b'{"id": "c-2020", "ts": "2020-03-01T00:00:00Z"}'
    assert json.loads(handle(r, "care/home-1/cmd/ping", old)[1])["ok"] is True
    no_id = json.loads(handle(r, "care/home-1/cmd/ping", b"{}")[1])
    assert no_id["ok"] is False and "needs an id" in no_id["error"]
    r, rec = make()  # the agent restarted, its clock still unsynced
    again = json.loads(handle(r, "care/home-1/cmd/ping", old)[1])
    assert again["ok"] is False and "replay" in again["error"]
    assert rec.calls == []
    fresh = json.loads(handle(r, "care/home-1/cmd/ping", b'{"id": "c-new"}')[1])
    assert fresh["ok"] is True
