"""The acceptance report a technician hands over: JSON (machines), text and a PNG (people).

The JSON keeps language-neutral keys and codes; the text follows `--lang`.
The PNG is drawn with matplotlib when it is installed; without it the report
says the image was skipped rather than adding a plotting library to every kit.
"""

from __future__ import annotations

import importlib
import json
import socket
from pathlib import Path
from typing import Any

from edgeagent import __version__
from edgeagent.i18n import _, localize

REPORT_SCHEMA = "edgeagent.walk-test/1"
SEVERITIES = ("info", "warning", "critical")


def ble_health(status: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """`driver/device` -> signal and battery, from the daemon's driver health where it has them."""
    out: dict[str, dict[str, Any]] = {}
    for name, health in ((status or {}).get("drivers") or {}).items():
        details = health.get("details") if isinstance(health, dict) else None
        for device, info in (details or {}).items():
            if isinstance(info, dict) and ("rssi" in info or "battery_pct" in info):
                out[f"{name}/{device}"] = {"rssi_dbm": info.get("rssi"),
                                           "battery_pct": info.get("battery_pct"),
                                           "connected": info.get("connected")}
    return out


def verdict(snapshot: dict[str, Any], *, wait: bool) -> str:
    """`fail`: a test alarm not acknowledged (or resolved); `warn`: a sensor stayed silent, or
    (with --wait) the platform did not reply; `pass` otherwise."""
    alarms = snapshot["alarms"]
    if len(alarms) < len(SEVERITIES) or any(a["stage"] != "resolved" for a in alarms):
        return "fail"
    if snapshot["silent"] or not any(s["enabled"] for s in snapshot["sensors"]):
        return "warn"
    if wait and any(a["platform_reply"] is None for a in alarms):
        return "warn"
    return "pass"


def build_report(snapshot: dict[str, Any], status: dict[str, Any] | None, *,
                 config_path: str | None, broker: str, wait: bool) -> dict[str, Any]:
    health = ble_health(status)
    sensors = []
    for sensor in snapshot["sensors"]:
        entry = dict(sensor)
        entry.update(health.get(sensor["key"], {}))
        drivers = (status or {}).get("drivers") or {}
        entry["health"] = (drivers.get(sensor["driver"]) or {}).get("state")
        sensors.append(entry)
    return {
        "report": REPORT_SCHEMA,
        "result": verdict(snapshot, wait=wait),
        "home": snapshot["home"],
        "timezone": snapshot["timezone"],
        "started": snapshot["started"],
        "finished": snapshot["finished"],
        "kit": {"hostname": socket.gethostname(), "cli_version": __version__,
                "agent_version": (status or {}).get("version"), "config": config_path,
                "broker": broker, "sensors": len(sensors)},
        "sensors": sensors,
        "silent": snapshot["silent"],
        "alarms": snapshot["alarms"],
        "notes": snapshot["notes"],
    }


def _signal(sensor: dict[str, Any]) -> str:
    parts = []
    if sensor.get("rssi_dbm") is not None:
        parts.append(f"{sensor['rssi_dbm']} dBm")
    if sensor.get("battery_pct") is not None:
        parts.append(_("battery {pct}%").format(pct=sensor["battery_pct"]))
    return ", ".join(parts)




def render_text(report: dict[str, Any]) -> str:
    words = {"pass": _("PASS"), "warn": _("WARN"), "fail": _("FAIL")}
    kit = report["kit"]
    lines = [
        _("Walk test — home {home}: {result}").format(home=report["home"],
                                                      result=words[report["result"]]),
        _("Time zone {tz}; from {start} to {end}").format(
            tz=report["timezone"], start=report["started"], end=report["finished"] or "-"),
        _("Kit {host}: agent {agent}, broker {broker}, config {config}").format(
            host=kit["hostname"], agent=kit["agent_version"] or "-", broker=kit["broker"],
            config=kit["config"] or "-"),
        "",
        _("Sensors ({fired} of {total} fired):").format(
            fired=sum(1 for s in report["sensors"] if s["fired"]),
            total=sum(1 for s in report["sensors"] if s["enabled"])),
    ]
    for sensor in report["sensors"]:
        if not sensor["enabled"]:
            mark, when = "-", _("disabled")
        elif sensor["fired"]:
            mark, when = "✓", _("fired at {time} ({count} readings)").format(
                time=sensor["fired_at"], count=sensor["count"])
        else:
            mark, when = "✗", _("SILENT: check it, its wiring or its pairing")
        room = sensor["room"] or "-"
        signal = _signal(sensor)
        lines.append(f"  {mark} {sensor['key']:<24} {sensor['type']:<14} {room:<12} {when}"
                     + (f"  [{signal}]" if signal else ""))
    lines += ["", _("Test alarms (type test, raised then resolved):")]
    for alarm in report["alarms"]:
        if alarm["stage"] == "resolved":
            state = _("acknowledged by the broker and resolved (event #{seq}, #{resolved})").format(
                seq=alarm["seq"], resolved=alarm["resolved_seq"])
        else:
            state = _("NOT confirmed ({stage}): {error}").format(stage=alarm["stage"],
                                                                 error=localize(
                                                                     alarm["error"] or "-"))
        lines.append(f"  {alarm['severity']:<9} {state}")
        if alarm.get("platform_reply") is not None:
            lines.append("            " + _("platform replied: {reply}").format(
                reply=json.dumps(alarm["platform_reply"], ensure_ascii=False)))
    for note in report["notes"]:
        lines.append(f"  ! {note}")
    return "\n".join(lines) + "\n"


# Fonts with Chinese characters, as Debian packages them (fonts-noto-cjk, fonts-wqy-*).
CJK_FONTS = ("Noto Sans Mono CJK SC", "Noto Sans CJK SC", "WenQuanYi Zen Hei Mono",
             "WenQuanYi Micro Hei Mono", "WenQuanYi Zen Hei", "Droid Sans Fallback")


def font_for(text: str, font_manager: Any) -> str | None:
    """A font family that can draw `text`: monospace for ASCII, else an installed CJK font."""
    if text.isascii() or all(ord(c) < 0x2E80 for c in text):
        return "monospace"
    for family in CJK_FONTS:
        try:
            font_manager.findfont(family, fallback_to_default=False)
        except ValueError:
            continue
        return family
    return None


def render_png(report: dict[str, Any], path: Path) -> str | None:
    """Draw the report as a one-page PNG; the reason when it cannot (no matplotlib, or no
    font for the report's language: an image of empty boxes is worse than none)."""
    try:  # optional and heavy: imported by name, only for the image
        matplotlib = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        pyplot = importlib.import_module("matplotlib.pyplot")
        font_manager = importlib.import_module("matplotlib.font_manager")
    except ImportError:
        return _("no PNG: matplotlib is not installed (the text and JSON reports are complete)")
    text = render_text(report)
    family = font_for(text, font_manager)
    if family is None:
        return _("no PNG: no font with Chinese characters (apt install fonts-noto-cjk); the "
                 "text and JSON reports are complete")
    height = 1.0 + 0.22 * text.count("\n")
    figure = pyplot.figure(figsize=(11.0, height), dpi=110)
    try:
        figure.text(0.01, 0.99, text, family=family, fontsize=9, va="top")
        figure.savefig(path)
    finally:
        pyplot.close(figure)
    return None


def write_reports(report: dict[str, Any], stem: Path) -> tuple[list[Path], str | None]:
    """`stem`.json, `stem`.txt and, when it can be drawn, `stem`.png; the files and why no PNG."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, text_path = Path(f"{stem}.json"), Path(f"{stem}.txt")
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n",
                         encoding="utf-8")
    text_path.write_text(render_text(report), encoding="utf-8")
    written = [json_path, text_path]
    png = Path(f"{stem}.png")
    skipped = render_png(report, png)
    if skipped is None:
        written.append(png)
    return written, skipped
