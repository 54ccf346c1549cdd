"""The agent's wire contract as the platform sees it: topics and the v1 event schema.

Only the JSON Schema file shipped with the agent is read (as package data); none of
the agent's code is imported.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

SCHEMA_PACKAGE = "edgeagent.schema"
SCHEMA_FILE = "event-v1.schema.json"
MAX_EVENT_BYTES = 64 * 1024  # the agent's MQTT 5 packet limit; anything bigger is not ours


def load_schema() -> dict[str, Any]:
    """The shipped `edgeagent.event/1` JSON Schema."""
    text = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True, slots=True)
class Topics:
    """`<prefix>/<home>/events/<kind>/<type>`, `.../status`, `.../cmd/<name>[/reply]`."""

    prefix: str

    def events_filter(self, group: str | None) -> str:
        plain = f"{self.prefix}/+/events/#"
        return f"$share/{group}/{plain}" if group else plain

    def replies_filter(self, group: str | None) -> str:
        plain = f"{self.prefix}/+/cmd/resend/reply"
        return f"$share/{group}/{plain}" if group else plain

    @property
    def status_filter(self) -> str:
        return f"{self.prefix}/+/status"

    def resend(self, home: str) -> str:
        return f"{self.prefix}/{home}/cmd/resend"

    def parse(self, topic: str) -> tuple[str, str] | None:
        """`(home, what)` where what is "events", "status" or "reply"; None if not ours."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head):].split("/")
        if len(parts) == 4 and parts[1] == "events" and all(parts):
            return parts[0], "events"
        if len(parts) == 2 and parts[1] == "status" and parts[0]:
            return parts[0], "status"
        if parts[1:] == ["cmd", "resend", "reply"] and parts[0]:
            return parts[0], "reply"
        return None


def schema_errors(fast: bool = True) -> Callable[[Any], str | None]:
    """A check of one decoded event against the schema: None, or the first error.

    jsonschema-rs (compiled, ~4 us an event) when installed, else the pure-Python
    jsonschema (~200 us an event, which alone caps a worker near 5 000 events/s);
    both implement JSON Schema 2020-12 and give the same verdicts.
    """
    schema = load_schema()
    if fast and importlib.util.find_spec("jsonschema_rs") is not None:
        import jsonschema_rs  # noqa: PLC0415 - optional, the fast path

        compiled = jsonschema_rs.validator_for(schema)

        def check_rs(doc: Any) -> str | None:
            if compiled.is_valid(doc):
                return None
            error = next(iter(compiled.iter_errors(doc)))
            where = "/".join(str(p) for p in error.instance_path) or "(root)"
            return f"{where}: {error.message[:200]}"
        return check_rs
    from jsonschema import Draft202012Validator  # noqa: PLC0415

    validator = Draft202012Validator(schema)

    def check_py(doc: Any) -> str | None:
        error = next(iter(validator.iter_errors(doc)), None)
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"{where}: {error.message[:200]}"
    return check_py


class EventValidator:
    """Schema and topic checks for one event message: the event, or why it is refused."""

    def __init__(self, fast: bool = True) -> None:
        self._schema_error = schema_errors(fast)

    def check(self, home: str, topic: str, payload: bytes) -> tuple[dict[str, Any] | None, str]:
        if len(payload) > MAX_EVENT_BYTES:
            return None, f"payload of {len(payload)} bytes exceeds {MAX_EVENT_BYTES}"
        try:
            event = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            return None, f"not JSON: {str(exc)[:120]}"
        error = self._schema_error(event)
        if error is not None:
            return None, f"schema: {error}"
        if event["home"] != home:
            return None, f"home {event['home']!r} in the body, {home!r} in the topic"
        if not topic.endswith(f"/events/{event['kind']}/{event['type']}"):
            return None, "topic does not match the body's kind/type"
        return event, ""
