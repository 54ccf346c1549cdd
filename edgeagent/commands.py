"""Downlink commands: `<prefix>/<home>/cmd/<name>` -> allow-listed handlers -> `.../reply`.

Everything from the network is hostile until checked: the name must be on
the allow-list, the payload a small JSON object, the rate under the limit,
and a command id seen before (a replayed message) is ignored. A bad command
gets an error reply and a log line; nothing here raises into the agent.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from edgeagent.topics import Topics

log = logging.getLogger(__name__)

MAX_PAYLOAD = 4096
MAX_AGE_S = 600.0  # a command older than this (by its `ts`) is not run
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class CommandRouter:
    """Validates and dispatches downlink commands; `handlers` is the allow-list."""

    def __init__(self, topics: Topics, *, rate_per_minute: int = 10,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime | None] = lambda: datetime.now(UTC),
                 max_age_s: float = MAX_AGE_S) -> None:
        self.topics = topics
        self._wall = wall
        self.max_age_s = max_age_s
        self.handlers: dict[str, Handler] = {}
        self.changing: set[str] = set()
        self.allow_changes = False
        self.rate_per_minute = rate_per_minute
        self._monotonic = monotonic
        self._recent: deque[float] = deque()
        self._seen_ids: OrderedDict[str, None] = OrderedDict()
        self.counters: dict[str, int] = {"accepted": 0, "rejected": 0}

    def register(self, name: str, handler: Handler, *, changes_state: bool = False) -> None:
        self.handlers[name] = handler
        if changes_state:
            self.changing.add(name)

    def _reject(self, why: str) -> dict[str, Any]:
        self.counters["rejected"] += 1
        log.warning("downlink command rejected: %s", why)
        return {"ok": False, "error": why}

    def _check(self, name: str | None, payload: bytes) -> tuple[dict[str, Any] | None, str]:
        if name is None:
            return None, "not a command topic"
        if name not in self.handlers:
            return None, f"unknown command {name!r}"
        if name in self.changing and not self.allow_changes:
            return None, f"command {name!r} changes the kit and is disabled in config"
        if len(payload) > MAX_PAYLOAD:
            return None, f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}"
        try:
            body = json.loads(payload.decode("utf-8")) if payload.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return None, f"payload is not JSON: {exc}"
        if not isinstance(body, dict):
            return None, "payload must be a JSON object"
        if not isinstance(body.get("args", {}), dict):
            return None, "args must be a JSON object"
        stale = self._stale(body.get("ts"))
        if stale:
            return None, stale
        command_id = body.get("id")
        if command_id is not None:
            if not isinstance(command_id, str) or len(command_id) > 64:
                return None, "id must be a string of at most 64 characters"
            if command_id in self._seen_ids:
                return None, f"command id {command_id!r} already handled (replay ignored)"
        now = self._monotonic()
        while self._recent and now - self._recent[0] > 60:
            self._recent.popleft()
        if len(self._recent) >= self.rate_per_minute:
            return None, f"rate limit of {self.rate_per_minute} commands per minute"
        self._recent.append(now)
        if command_id is not None:
            self._seen_ids[command_id] = None
            while len(self._seen_ids) > 1000:
                self._seen_ids.popitem(last=False)
        return body, ""

    def _stale(self, ts: Any) -> str:
        """An old command (queued in a session, or replayed) is refused: say why, or ''."""
        if ts is None:
            return ""
        if not isinstance(ts, str):
            return "ts must be an RFC 3339 time string"
        try:
            sent = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            return f"ts {ts[:40]!r} is not an RFC 3339 time"
        if sent.tzinfo is None:
            return "ts must carry a time zone (e.g. Z)"
        now = self._wall()
        if now is None:  # our clock is not synced: cannot judge age, rely on ids
            return ""
        age = (now - sent).total_seconds()
        if age > self.max_age_s:
            return f"command sent {age:.0f} s ago, older than {self.max_age_s:g} s (ignored)"
        return ""

    def _safe_reply_topic(self, topic: str) -> bool:
        """Inside this home's tree, no wildcards, and never a command topic (no reply loops)."""
        return (topic.startswith(self.topics.base + "/") and "+" not in topic
                and "#" not in topic and self.topics.command_name(topic) is None)

    async def handle(self, topic: str, payload: bytes,
                     props: dict[str, Any]) -> tuple[str, bytes, Any] | None:
        name = self.topics.command_name(topic)
        if name is None:
            return None  # our own reply topic or noise: never answer (no loops)
        body, why = self._check(name, payload)
        if body is None:
            answer = self._reject(why)
            command_id = _peek_id(payload)
            if command_id is not None:
                answer["id"] = command_id
        else:
            try:
                answer = {"ok": True, "result": await self.handlers[name](body.get("args") or {})}
                self.counters["accepted"] += 1
            except Exception as exc:
                log.exception("downlink command %s failed", name)
                answer = self._reject(f"{name} failed: {type(exc).__name__}: {exc}")
            if "id" in body:
                answer["id"] = body["id"]
        answer["command"] = name
        reply_topic = str(props.get("ResponseTopic") or self.topics.reply(name))
        if not self._safe_reply_topic(reply_topic):
            reply_topic = self.topics.reply(name)
        return str(reply_topic), json.dumps(answer, default=str).encode(), props.get(
            "CorrelationData")


def _peek_id(payload: bytes) -> str | None:
    """The command id of a rejected payload, if it has a sane one, so the reply can echo it."""
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    command_id = body.get("id") if isinstance(body, dict) else None
    return command_id if isinstance(command_id, str) and len(command_id) <= 64 else None
