"""`edgeagent-platform status`: per home what a call centre needs to trust the feed."""

from __future__ import annotations

import json
from typing import Any

from edgeagent_platform.store import Store

OPEN_ALERT_STATES = ("raised", "escalated")


def home_report(store: Store) -> list[dict[str, Any]]:
    """Online, last event, watermark, open gaps, lost ranges and open alerts per home."""
    homes = store.query(
        "SELECT h.home, h.online, h.status_at, h.watermark, e.ts, e.received_at, "
        "h.known_last_seq FROM homes h LEFT JOIN events e ON e.id = (SELECT id FROM events x "
        "WHERE x.home = h.home ORDER BY x.seq DESC LIMIT 1) ORDER BY h.home")
    report = []
    for home, online, status_at, watermark, last_ts, last_at, known_last in homes:
        alerts: dict[str, tuple[int, str, str]] = {}
        for alert_id, state, seq, type_ in store.query(
                "SELECT alert_id, alert_state, seq, type FROM events WHERE home = ? AND "
                "alert_id IS NOT NULL ORDER BY seq", (home,)):
            alerts[str(alert_id)] = (int(seq), str(state), str(type_))
        report.append({
            "home": home,
            "online": None if online is None else bool(online),
            "status_at": status_at,
            "last_event_ts": last_ts,
            "last_event_received_at": last_at,
            "watermark": int(watermark),
            "max_seq": store.max_seq(home),
            "agent_last_seq": int(known_last),
            "open_gaps": [[int(a), int(b)] for a, b, *_ in store.gap_rows(home)],
            "lost": [list(r) for r in store.lost_ranges(home)],
            "open_alerts": [{"id": aid, "type": t, "state": st, "seq": s}
                            for aid, (s, st, t) in sorted(alerts.items())
                            if st in OPEN_ALERT_STATES],
        })
    return report


def counters(store: Store) -> dict[str, int]:
    """Totals over all workers (each keeps its own rows, `<counter>@<worker>`)."""
    totals: dict[str, int] = {}
    for name, value in store.query("SELECT name, value FROM counters"):
        key = str(name).split("@", 1)[0]
        totals[key] = totals.get(key, 0) + int(value)
    return totals


def render(report: list[dict[str, Any]], totals: dict[str, int]) -> str:
    lines = [f"{len(report)} homes; stored {totals.get('stored', 0)}, duplicates "
             f"{totals.get('duplicates', 0)}, invalid {totals.get('invalid', 0)}"]
    for h in report:
        online = {True: "online", False: "OFFLINE", None: "unknown"}[h["online"]]
        gaps = ", ".join(f"{a}-{b}" for a, b in h["open_gaps"]) or "none"
        lost = ", ".join(f"{a}-{b}" for a, b in h["lost"]) or "none"
        alerts = ", ".join(f"{a['type']} ({a['state']})" for a in h["open_alerts"]) or "none"
        lines.append(f"{h['home']}: {online}; last event {h['last_event_ts'] or '-'}; "
                     f"watermark {h['watermark']} (max {h['max_seq']}); open gaps {gaps}; "
                     f"lost {lost}; open alerts {alerts}")
    return "\n".join(lines)


def as_json(report: list[dict[str, Any]], totals: dict[str, int]) -> str:
    return json.dumps({"homes": report, "counters": totals}, indent=2, sort_keys=True)
