"""Open alerts and the last stored event, for `edgeagent status` (an agent listener).

The heuristics' open alerts survive a restart in their saved state; alerts seen
stored since start (test alerts included) are tracked here, so the two together
are what the platform currently has open.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

MAX_TRACKED = 500  # a runaway alert source must not grow the daemon's memory


def _body(payload: dict[str, Any]) -> dict[str, Any]:
    body = payload.get("body") or {}
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return {}
    return body if isinstance(body, dict) else {}


def _iso(alert: Any) -> str | None:
    raised = getattr(alert, "raised_at", None)
    if not isinstance(raised, int | float):
        return None
    return datetime.fromtimestamp(raised, UTC).isoformat().replace("+00:00", "Z")


class LiveStatus:
    def __init__(self) -> None:
        self.open: dict[str, dict[str, Any]] = {}
        self.resolved: set[str] = set()
        self.last_event: dict[str, Any] | None = None

    def observe(self, what: str, payload: dict[str, Any]) -> None:
        """Listener: every stored event passes here."""
        if what != "event":
            return
        body = _body(payload)
        self.last_event = {"seq": payload.get("seq"), "kind": payload.get("kind"),
                           "type": payload.get("type"), "ts": body.get("ts"),
                           "severity": body.get("severity")}
        alert = body.get("alert")
        if payload.get("kind") != "alert" or not isinstance(alert, dict):
            return
        alert_id = alert.get("id")
        if not isinstance(alert_id, str):
            return
        if alert.get("state") == "resolved":
            self.open.pop(alert_id, None)
            if len(self.resolved) < MAX_TRACKED:
                self.resolved.add(alert_id)
            return
        if alert_id in self.open or len(self.open) < MAX_TRACKED:
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            self.open[alert_id] = {"id": alert_id, "type": payload.get("type"),
                                   "severity": body.get("severity"),
                                   "state": alert.get("state"), "since": body.get("ts"),
                                   "reason": (data or {}).get("reason", "")}

    def open_alerts(self, engine: Any) -> list[dict[str, Any]]:
        """Open alerts: the engine's (if it keeps an alert book) and those stored since start."""
        out = dict(self.open)
        book = getattr(getattr(engine, "alerts", None), "open", None)
        if isinstance(book, dict):
            for alert in book.values():
                alert_id = getattr(alert, "id", None)
                if isinstance(alert_id, str) and alert_id not in out \
                        and alert_id not in self.resolved:
                    out[alert_id] = {"id": alert_id, "type": getattr(alert, "type", None),
                                     "severity": str(getattr(alert, "severity", "")),
                                     "state": "raised", "since": _iso(alert), "reason": ""}
        return sorted(out.values(), key=lambda a: str(a["id"]))
