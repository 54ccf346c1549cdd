"""Downlink commands: `<prefix>/<home>/cmd/<name>` -> allow-listed handlers -> `.../reply`.

Everything from the network is hostile until checked. Every message on a
command topic first takes a slot of the rate limit (rejected ones too), then
the name must be on the allow-list (and enabled: commands that change the kit
need `allow_changes`, commands that disclose config and logs need
`allow_diagnostics`), the payload a small JSON object, its `ts` neither too
old nor in the future, and its id new (a replayed message is ignored; while
the clock is unsynced an id is required, checked against a window that
survives restarts). A bad command gets an error reply; past the rate limit
only one reply per minute is sent. Rejections are logged as one line, then
summarised once a minute. Nothing here raises into the agent.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from edgeagent.errors import EdgeAgentError
from edgeagent.replay_window import ReplayWindow
from edgeagent.topics import Topics

log = logging.getLogger(__name__)

MAX_PAYLOAD = 4096
MAX_AGE_S = 600.0  # a command older than this (by its `ts`) is not run
MAX_FUTURE_S = 120.0  # nor one whose `ts` is further ahead of our (synced) clock
RATE_WINDOW_S = 60.0
LOG_WINDOW_S = 60.0
MAX_REPLY_TOPIC = 256
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
# A handler whose work outlives the reply (update, config-set) and reports it as
# events: it gets the command's `id` too (None when the command had none), so
# those events name the command they answer.
IdHandler = Callable[[dict[str, Any], str | None], Awaitable[dict[str, Any]]]


def _shown(text: str, limit: int = 64) -> str:
    """A hostile string for a message: repr'd (no control characters), cut to `limit`."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


class CommandArgsError(EdgeAgentError, ValueError):
    """A handler's refusal of its `args` (bad shape, too much asked): an error reply naming
    why, counted as a rejection, with no traceback in the log (the input is hostile)."""


class _Rejected(Exception):
    """A command refused for `why`; `kind` is its counter in the log summary."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind
        self.why = why


class RejectionLog:
    """The first rejection after a quiet minute is logged; later ones are counted and
    summarised in one line per `window` seconds, so hostile traffic cannot flood the log."""

    def __init__(self, monotonic: Callable[[], float], window: float = LOG_WINDOW_S) -> None:
        self._monotonic = monotonic
        self.window = window
        self._started: float | None = None
        self._counts: Counter[str] = Counter()
        self._last = ""

    def record(self, kind: str, why: str) -> None:
        now = self._monotonic()
        self.flush(now)
        if self._started is None:
            self._started = now
            log.warning("downlink command rejected: %s (more rejections are summarised once "
                        "a minute)", why)
            return
        self._counts[kind] += 1
        self._last = why

    def flush(self, now: float | None = None) -> None:
        """Write the summary line once the window is over (the agent calls this each tick)."""
        if self._started is None:
            return
        now = self._monotonic() if now is None else now
        if now - self._started < self.window:
            return
        if not self._counts:
            self._started = None  # quiet again: the next rejection is logged at once
            return
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(self._counts.items()))
        log.warning("downlink: %d more commands rejected in %.0f s (%s); last: %s",
                    sum(self._counts.values()), now - self._started, counts, self._last)
        self._started = now
        self._counts.clear()


class CommandRouter:
    """Validates and dispatches downlink commands; `handlers` is the allow-list."""

    def __init__(self, topics: Topics, *, rate_per_minute: int = 10,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime | None] = lambda: datetime.now(UTC),
                 max_age_s: float = MAX_AGE_S, max_future_s: float = MAX_FUTURE_S,
                 replay: ReplayWindow | None = None, reply_prefix: str | None = None) -> None:
        self.topics = topics
        self._wall = wall
        self.max_age_s = max_age_s
        self.max_future_s = max_future_s
        self.handlers: dict[str, IdHandler] = {}
        self.payload_limits: dict[str, int] = {}  # commands allowed more than MAX_PAYLOAD
        self.changing: set[str] = set()
        self.disclosing: set[str] = set()
        self.allow_changes = False
        self.allow_diagnostics = False
        self.reply_prefix = reply_prefix
        self.rate_per_minute = rate_per_minute
        self._monotonic = monotonic
        self._recent: deque[float] = deque()
        self._rate_replied_at: float | None = None
        self.replay = replay if replay is not None else ReplayWindow()
        self.rejections = RejectionLog(monotonic)
        self.counters: dict[str, int] = {"accepted": 0, "rejected": 0, "rate_limited": 0,
                                         "unanswered": 0, "reply_topic_refused": 0}


    def configure(self, *, allow_changes: bool, allow_diagnostics: bool,
                  reply_prefix: str | None) -> None:
        """The `[commands]` switches, at start and on a reload."""
        self.allow_changes = allow_changes
        self.allow_diagnostics = allow_diagnostics
        self.reply_prefix = reply_prefix
    def register(self, name: str, handler: Handler, *, changes_state: bool = False,
                 discloses: bool = False, max_payload: int = MAX_PAYLOAD) -> None:
        async def without_id(args: dict[str, Any], _command_id: str | None) -> dict[str, Any]:
            return await handler(args)

        self.register_with_id(name, without_id, changes_state=changes_state,
                              discloses=discloses, max_payload=max_payload)

    def register_with_id(self, name: str, handler: IdHandler, *, changes_state: bool = False,
                         discloses: bool = False, max_payload: int = MAX_PAYLOAD) -> None:
        """Like `register`; the handler is called with `(args, command id)`."""
        self.handlers[name] = handler
        if max_payload != MAX_PAYLOAD:
            self.payload_limits[name] = max_payload
        if changes_state:
            self.changing.add(name)
        if discloses:
            self.disclosing.add(name)

    def tick(self) -> None:
        """Periodic: write the rejection summary when its minute is over."""
        self.rejections.flush()

    def _reject(self, kind: str, why: str) -> dict[str, Any]:
        self.counters["rejected"] += 1
        self.rejections.record(kind, why)
        return {"ok": False, "error": why}

    def _take_rate_slot(self) -> bool:
        now = self._monotonic()
        while self._recent and now - self._recent[0] > RATE_WINDOW_S:
            self._recent.popleft()
        if len(self._recent) >= self.rate_per_minute:
            return False
        self._recent.append(now)
        return True

    def _rate_limited(self) -> dict[str, Any] | None:
        """Over the limit: one error reply per rate window, silence for the rest."""
        self.counters["rate_limited"] += 1
        answer = self._reject("rate", f"rate limit of {self.rate_per_minute} commands per "
                                      "minute; further commands this minute get no reply")
        now = self._monotonic()
        if self._rate_replied_at is not None and now - self._rate_replied_at < RATE_WINDOW_S:
            self.counters["unanswered"] += 1
            return None
        self._rate_replied_at = now
        return answer

    def _check_name(self, name: str) -> None:
        """Raise _Rejected unless `name` is on the allow-list and enabled."""
        if name not in self.handlers:
            raise _Rejected("unknown", f"unknown command {_shown(name)}")
        if name in self.changing and not self.allow_changes:
            raise _Rejected("disabled", f"command {name!r} changes the kit and is disabled "
                                        "in config (commands.allow_changes)")
        if name in self.disclosing and not self.allow_diagnostics:
            raise _Rejected("disabled", f"command {name!r} discloses config and logs and is "
                                        "disabled in config (commands.allow_diagnostics)")

    def _check(self, body: Any) -> dict[str, Any]:
        """The parsed payload if the command may run; raises _Rejected saying why not."""
        if not isinstance(body, dict):
            raise _Rejected("shape", "payload must be a JSON object")
        if not isinstance(body.get("args", {}), dict):
            raise _Rejected("shape", "args must be a JSON object")
        command_id = body.get("id")
        if command_id is not None and (not isinstance(command_id, str) or len(command_id) > 64):
            raise _Rejected("shape", "id must be a string of at most 64 characters")
        synced = self._check_ts(body.get("ts"))
        if command_id is None:
            if not synced:
                raise _Rejected("unsynced", "this kit's clock is not synced: a command needs "
                                            "an id (checked against replays) to run")
        elif command_id in self.replay:
            raise _Rejected("replay", f"command id {command_id!r} already handled (replay "
                                      "ignored)")
        else:
            self.replay.add(command_id)
        return body

    def _check_ts(self, ts: Any) -> bool:
        """Refuse a `ts` too old or in the future; False when our clock cannot judge it."""
        now = self._wall()
        if ts is None:
            return now is not None
        if not isinstance(ts, str):
            raise _Rejected("stale", "ts must be an RFC 3339 time string")
        try:
            sent = datetime.fromisoformat(ts[:64].replace("Z", "+00:00"))
        except ValueError:
            raise _Rejected("stale", f"ts {_shown(ts, 40)} is not an RFC 3339 time") from None
        if sent.tzinfo is None:
            raise _Rejected("stale", "ts must carry a time zone (e.g. Z)")
        if now is None:  # our clock is not synced: cannot judge the time, rely on ids
            return False
        age = (now - sent).total_seconds()
        if age > self.max_age_s:
            raise _Rejected("stale", f"command sent {age:.0f} s ago, older than "
                                     f"{self.max_age_s:g} s (ignored)")
        if -age > self.max_future_s:
            raise _Rejected("stale", f"command ts is {-age:.0f} s ahead of this kit's clock, "
                                     f"more than {self.max_future_s:g} s (ignored)")
        return True

    def _reply_topic(self, name: str, requested: Any) -> str:
        """The command's own reply topic, or an MQTT 5 response topic under the configured
        `reply_prefix`, never a topic the agent publishes events or status on."""
        default = self.topics.reply(name)
        if requested is None or requested == default:
            return default
        topic = str(requested)
        if self._allowed_reply_topic(topic):
            return topic
        self.counters["reply_topic_refused"] += 1
        return default

    def _allowed_reply_topic(self, topic: str) -> bool:
        prefix = self.reply_prefix
        if not prefix or not topic.startswith(prefix + "/") or len(topic) > MAX_REPLY_TOPIC:
            return False
        if any(ch in topic for ch in "+#") or any(ord(ch) < 0x20 for ch in topic):
            return False
        base = self.topics.base
        agent_own = (self.topics.status + "/", base + "/events/", base + "/cmd/")
        return topic != self.topics.status and not topic.startswith(agent_own)

    async def handle(self, topic: str, payload: bytes,
                     props: dict[str, Any]) -> tuple[str, bytes, Any] | None:
        """The reply `(topic, payload, correlation)` to publish, or None. Never raises."""
        try:
            return await self._handle(topic, payload, props)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: count, never raise
            self._reject("internal", f"command handling failed: {type(exc).__name__}")
            return None

    async def _handle(self, topic: str, payload: bytes,
                      props: dict[str, Any]) -> tuple[str, bytes, Any] | None:
        name = self.topics.command_name(topic)
        if name is None:
            return None  # our own reply topic or noise: never answer (no loops)
        body: Any = None
        if not self._take_rate_slot():
            answer = self._rate_limited()
            if answer is None:
                return None
        elif len(payload) > (limit := self.payload_limits.get(name, MAX_PAYLOAD)):
            kind = "size" if name in self.handlers else "unknown"
            answer = self._reject(kind, f"payload of {len(payload)} bytes exceeds {limit}"
                                  if kind == "size" else f"unknown command {_shown(name)}")
        else:
            try:
                body = json.loads(payload.decode("utf-8")) if payload.strip() else {}
            except (ValueError, RecursionError) as exc:
                answer = self._refused_name(name) or self._reject(
                    "json", f"payload is not JSON: {str(exc)[:80]}")
            else:
                answer = self._refused_name(name) or await self._run(name, body)
        command_id = body.get("id") if isinstance(body, dict) else None
        if isinstance(command_id, str) and len(command_id) <= 64:
            answer["id"] = command_id
        answer["command"] = name[:64]
        reply_topic = self._reply_topic(name, props.get("ResponseTopic"))
        return reply_topic, json.dumps(answer, default=str).encode(), props.get(
            "CorrelationData")

    def _refused_name(self, name: str) -> dict[str, Any] | None:
        try:
            self._check_name(name)
        except _Rejected as rejected:
            return self._reject(rejected.kind, rejected.why)
        return None

    async def _run(self, name: str, body: Any) -> dict[str, Any]:
        try:
            checked = self._check(body)
        except _Rejected as rejected:
            return self._reject(rejected.kind, rejected.why)
        try:
            result = await self.handlers[name](checked.get("args") or {}, checked.get("id"))
        except CommandArgsError as exc:
            return self._reject("args", f"{name}: {exc}")
        except Exception as exc:
            log.exception("downlink command %s failed", name)
            return self._reject("failed", f"{name} failed: {type(exc).__name__}: {exc}")
        self.counters["accepted"] += 1
        return {"ok": True, "result": result}
