"""`edgeagent status`: one screen, like `systemctl status`, from the running daemon.

Running or not, uptime, broker link, outbox depth and oldest pending, each
driver's health, open alerts, the last event. Fast: it reads only
`control.socket` from the config (no validation) and asks the control socket.
Exit 0 running, 3 not running (as systemctl), 1 when it cannot tell.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from edgeagent.config_path import CONFIG_HELP, control_socket, resolve_config_path
from edgeagent.i18n import _, display_width, localize

EXIT_NOT_RUNNING = 3
EXIT_UNKNOWN = 1


def _ago(ts: str | None, now: datetime) -> str:
    if not ts:
        return "-"
    try:
        then = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ts
    return _("{ts} ({duration} ago)").format(ts=ts,
                                             duration=duration((now - then).total_seconds()))


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}min"
    if hours:
        return f"{hours}h {minutes}min"
    return f"{minutes}min {secs}s" if minutes else f"{secs}s"


def summary(status: dict[str, Any]) -> dict[str, Any]:
    """The `--json` document: what the screen shows, stable names."""
    outbox = status.get("outbox") or {}
    mqtt = status.get("mqtt") or {}
    drivers = status.get("drivers") or {}
    return {
        "running": True,
        "home": status.get("home"),
        "version": status.get("version"),
        "pid": status.get("pid"),
        "uptime_s": status.get("uptime_s"),
        "clock": status.get("clock"),
        "broker": {"state": mqtt.get("state"), "broker": mqtt.get("broker"),
                   "last_error": mqtt.get("last_error", "")},
        "outbox": {"pending": outbox.get("pending"),
                   "oldest_pending_ts": outbox.get("oldest_pending_ts"),
                   "last_seq": outbox.get("last_seq"),
                   "last_acked_seq": outbox.get("last_delivered_seq")},
        "drivers": {name: {"type": h.get("type"), "state": h.get("state"),
                           "reason": h.get("reason", ""), "restarts": h.get("restarts", 0)}
                    for name, h in drivers.items()},
        "outputs": {name: {"type": h.get("type"), "state": h.get("state"),
                           "reason": h.get("reason", "")}
                    for name, h in (status.get("outputs") or {}).items()},
        "open_alerts": status.get("open_alerts") or [],
        "last_event": status.get("last_event"),
        "warnings": status.get("warnings") or [],
    }


def _label(text: str) -> str:
    """'    Version:' — a translated label right-aligned to the usual 12 columns."""
    label = text + ":"
    return " " * max(1, 12 - display_width(label)) + label


def render(doc: dict[str, Any], now: datetime) -> str:
    uptime = doc.get("uptime_s")
    since = (_("; up {duration}").format(duration=duration(uptime))
             if isinstance(uptime, int | float) else "")
    lines = [_("● edgeagent — home {home}: active (running){since}").format(
                 home=doc["home"], since=since),
             _label(_("Version")) + " " + _("{version} (pid {pid}), clock {clock}").format(
                 version=doc["version"], pid=doc["pid"], clock=doc["clock"])]
    broker = doc["broker"]
    link = f"{broker['state']} {broker['broker']}".strip()
    if broker["last_error"]:
        link += f" — {broker['last_error']}"
    lines.append(f"{_label(_('Broker'))} {link}")
    box = doc["outbox"]
    lines.append(_label(_("Outbox")) + " " + _(
        "{pending} pending, oldest {oldest}; last seq {seq}, acked {acked}").format(
        pending=box["pending"], oldest=_ago(box["oldest_pending_ts"], now),
        seq=box["last_seq"], acked=box["last_acked_seq"]))
    lines.append(f"{_label(_('Drivers'))} {len(doc['drivers'])}")
    for name, health in sorted(doc["drivers"].items()):
        reason = f": {health['reason']}" if health["reason"] else ""
        lines.append(f"      {health['state']:<9} {name} ({health['type']}){reason}")
    if doc["outputs"]:
        lines.append(f"{_label(_('Outputs'))} {len(doc['outputs'])}")
        for name, health in sorted(doc["outputs"].items()):
            reason = f": {health['reason']}" if health["reason"] else ""
            lines.append(f"      {health['state']:<9} {name} ({health['type']}){reason}")
    alerts = doc["open_alerts"]
    lines.append(_label(_("Alerts")) + " " + _("{count} open").format(count=len(alerts)))
    for alert in alerts:
        reason = f" — {alert['reason']}" if alert.get("reason") else ""
        lines.append(f"      {alert.get('severity') or '-':<9} " + _(
            "{type} since {since}").format(type=alert.get("type"),
                                           since=alert.get("since") or "-") + reason)
    last = doc["last_event"]
    if last:
        lines.append(_label(_("Last event")) + " " + _("#{seq} {what} at {ago}").format(
            seq=last["seq"], what=f"{last['kind']}/{last['type']} {last.get('severity') or ''}",
            ago=_ago(last.get("ts"), now)))
    else:
        lines.append(_label(_("Last event")) + " " + _("none since start"))
    lines.extend(f"{_label(_('Warning'))} {w}" for w in doc["warnings"])
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    from edgeagent.control import ControlClient  # noqa: PLC0415
    from edgeagent.errors import DaemonUnreachable  # noqa: PLC0415

    path = args.socket or str(control_socket(resolve_config_path(args.config)))
    try:
        status = ControlClient(path, timeout=args.timeout).request({"cmd": "status"})
    except DaemonUnreachable as exc:
        code = EXIT_UNKNOWN if exc.denied else EXIT_NOT_RUNNING
        state = _("unknown") if exc.denied else _("inactive (not running)")
        if args.json:
            print(json.dumps({"running": False if not exc.denied else None,
                              "socket": path, "reason": exc.reason}))
        else:
            print(f"○ edgeagent: {state} — {path}: {localize(exc.reason)}")
        return code
    except (OSError, RuntimeError, ValueError) as exc:
        if args.json:
            print(json.dumps({"running": None, "socket": path, "reason": str(exc)}))
        else:
            print("edgeagent: " + _("{socket}: no usable answer: {error}").format(
                socket=path, error=exc), file=sys.stderr)
        return EXIT_UNKNOWN
    doc = summary(status)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        print(render(doc, datetime.now(UTC)))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser(
        "status", help=_("is the agent running: uptime, broker, outbox, drivers, alerts"),
        description=_("One screen from the running daemon, like systemctl status. Exit 0 "
                      "running, 3 not running, 1 when it cannot tell (e.g. permission denied)."))
    status.add_argument("--config", "-c", help=_(CONFIG_HELP))
    status.add_argument("--socket",
                        help=_("control socket (default: control.socket in the config)"))
    status.add_argument("--json", action="store_true", help=_("one JSON document on stdout"))
    status.add_argument("--timeout", type=float, default=3.0,
                        help=_("seconds to wait for the daemon's answer"))
    status.set_defaults(func=cmd_status)
