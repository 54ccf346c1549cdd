"""`edgeagent replay`: run the real safety engine over a recorded log (backtesting).

Care providers tune thresholds with it: the log's own times drive the
engine (taken as local wall time in `--timezone`), nothing waits, and the
output lists the days with each alert, how long it stayed open and why,
the gaps in the recording, and how many alerts a month the settings would
have raised; `--plot` draws the same days as a picture.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from edgeagent.casas import MapError, load_map
from edgeagent.cli.replay_days import by_day, render_days
from edgeagent.clock import iso_utc
from edgeagent.config import load_config
from edgeagent.errors import ConfigError
from edgeagent.heuristics.localtime import LocalTime, zone_exists
from edgeagent.heuristics.replay import ReplayResult, replay_lines
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.i18n import _, current_language
from edgeagent.models import Severity

EXIT_USAGE = 2
DEFAULT_GAP_HOURS = 6.0


def _alert_rows(result: ReplayResult, local: LocalTime) -> list[dict[str, Any]]:
    rows = []
    for draft in result.alerts:
        info = draft.alert or {}
        ts = draft.wall.timestamp()
        rows.append({
            "ts": iso_utc(draft.wall),
            "local": local.local(ts).isoformat(timespec="seconds"),
            "type": draft.type,
            "severity": draft.severity.value,
            "state": info.get("state", ""),
            "alert_id": info.get("id", ""),
            "reason": str(draft.data.get("reason", "")),
        })
    return rows


def _nights(result: ReplayResult, local: LocalTime) -> int:
    if result.first is None or result.last is None:
        return 0
    first = local.local(result.first).date()
    last = local.local(result.last).date()
    return max(1, (last - first).days)


def summarise(result: ReplayResult, local: LocalTime) -> dict[str, Any]:
    """Counts of raised alerts per type, per 30 days and per night; critical alerts."""
    days = result.days
    nights = _nights(result, local)
    raised: dict[str, int] = {}
    critical: set[str] = set()
    for draft in result.alerts:
        info = draft.alert or {}
        if info.get("state") == "raised":
            raised[draft.type] = raised.get(draft.type, 0) + 1
        if draft.severity is Severity.CRITICAL:
            critical.add(str(info.get("id")))
    per_30 = 30 / days if days > 0 else 0.0
    return {
        "lines_parsed": result.records,
        "malformed_lines": len(result.errors),
        "unmapped_or_ignored": result.unmapped,
        "readings": result.readings,
        "days": round(days, 2),
        "nights": nights,
        "alerts_raised": sum(raised.values()),
        "alerts_by_type": dict(sorted(raised.items())),
        "alerts_per_30_days": {k: round(v * per_30, 2) for k, v in sorted(raised.items())},
        "alerts_per_night": {k: round(v / nights, 3) for k, v in sorted(raised.items())},
        "critical_alerts": len(critical),
        "critical_per_30_days": round(len(critical) * per_30, 2),
        "daily_summaries": len(result.summaries),
    }


def config_settings(args: argparse.Namespace, command: str
                    ) -> tuple[HeuristicsSettings, str] | None:
    """`[heuristics]` and the zone for `replay`/`evaluate`: `--timezone`, else the config's.

    A config is read only when `-c` names one (never the machine's default chain),
    so the same log gives the same result on every machine; without one the
    defaults run in UTC. None after printing why the config cannot be used.
    """
    settings, zone = HeuristicsSettings(), "UTC"
    if args.config:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(f"edgeagent {command}: " + _("config error: {reason}").format(reason=exc),
                  file=sys.stderr)
            return None
        settings, zone = config.heuristics, config.home.timezone
    return settings, args.timezone or zone


def cmd_replay(args: argparse.Namespace) -> int:  # noqa: C901 - one branch per output option of the command
    chosen = config_settings(args, "replay")
    if chosen is None:
        return EXIT_USAGE
    settings, zone = chosen
    if not zone_exists(zone):
        print("edgeagent replay: " + _("unknown time zone {zone!r}").format(zone=zone),
              file=sys.stderr)
        return EXIT_USAGE
    try:
        sensor_map = load_map(args.map)
    except MapError as exc:
        print("edgeagent replay: " + _("map error: {reason}").format(reason=exc),
              file=sys.stderr)
        return EXIT_USAGE
    log = Path(args.log)
    started = time.perf_counter()
    try:
        with log.open(encoding="utf-8", errors="replace") as lines:
            result = replay_lines(lines, sensor_map, zone, settings, prealarm=args.prealarm)
    except OSError as exc:
        print("edgeagent replay: " + _("cannot read {path}: {reason}").format(
            path=log, reason=exc.strerror or exc), file=sys.stderr)
        return EXIT_USAGE
    elapsed = time.perf_counter() - started
    local = LocalTime(zone, settings.night_start, settings.night_end)
    for error in result.errors:
        print(f"{log}:{error.line}: " + _("skipped malformed line: {reason}").format(
            reason=error.reason), file=sys.stderr)
    rows = _alert_rows(result, local)
    summary = summarise(result, local)
    if args.prealarm:
        asked = [d for d in result.prealarms if d.data.get("state") == "asking"]
        cancelled = [d for d in result.prealarms if d.data.get("state") == "cancelled"]
        summary["prealarm_asked"] = len(asked)
        summary["prealarm_cancelled_by_activity"] = len(cancelled)
    if args.json:
        if args.plot and (code := _plot(result, local, args)):
            return code
        out = {
            "log": str(log), "format": args.format, "timezone": zone,
            "alerts": rows, "summary": summary,
            "malformed": [{"line": e.line, "reason": e.reason} for e in result.errors],
        }
        print(json.dumps(out, ensure_ascii=False))
        return 0
    if args.plot:
        code = _plot(result, local, args)
        if code:
            return code
    days = by_day(result, local, args.gap_hours, current_language())
    for line in [*render_days(days, args.gap_hours), "", *summary_lines(summary, elapsed)]:
        print(line)
    return 0


def summary_lines(summary: dict[str, Any], elapsed: float) -> list[str]:
    """The figures under the days: readings, critical alerts, pre-alarm, alerts per type."""
    rate = summary["readings"] / elapsed if elapsed > 0 else 0
    lines = [
        _("{readings} readings over {days} days ({nights} nights), {malformed} malformed lines "
          "skipped, {rate:,.0f} readings/s").format(
            readings=summary["readings"], days=summary["days"], nights=summary["nights"],
            malformed=summary["malformed_lines"], rate=rate),
        _("critical alerts: {count} ({per_30} per 30 days)").format(
            count=summary["critical_alerts"], per_30=summary["critical_per_30_days"])]
    if "prealarm_asked" in summary:
        lines.append(_("pre-alarm: {asked} questions, {cancelled} cancelled by her activity")
                     .format(asked=summary["prealarm_asked"],
                             cancelled=summary["prealarm_cancelled_by_activity"]))
    for name, count in summary["alerts_by_type"].items():
        lines.append(f"  {name:<20} " + _(
            "{count:>4} raised  {per_30:>7} / 30 days  {per_night:>6} / night").format(
            count=count, per_30=summary["alerts_per_30_days"][name],
            per_night=summary["alerts_per_night"][name]))
    return lines


def _plot(result: ReplayResult, local: LocalTime, args: argparse.Namespace) -> int:
    """Draw `--plot`; 0, or EXIT_USAGE with the reason when it cannot be drawn."""
    from edgeagent.cli.replay_plot import PlotUnavailable, plot_days  # noqa: PLC0415

    try:
        plot_days(by_day(result, local, args.gap_hours), result, local, Path(args.plot))
    except PlotUnavailable as exc:
        print(f"edgeagent replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print("edgeagent replay: " + _("cannot write {path}: {reason}").format(
            path=args.plot, reason=exc.strerror or exc), file=sys.stderr)
        return EXIT_USAGE
    print(_("wrote {path}").format(path=args.plot), file=sys.stderr)
    return 0


def _hours(value: str) -> float:
    """`--gap-hours`: a number of hours from 1 to 720 (a month), else a usage error."""
    try:
        hours = float(value)
    except ValueError:
        hours = float("nan")
    if not 1 <= hours <= 24 * 30:
        raise argparse.ArgumentTypeError(_("give hours from 1 to 720 (got {value!r})").format(
            value=value))
    return hours


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "replay", help=_("run the safety heuristics over a recorded sensor log"),
        description=_("run the real safety engine over a recorded log (backtesting): days, "
                      "alerts with how long they stayed open and why, recording gaps, alerts "
                      "a month"),
    )
    parser.add_argument("log", help=_("the recorded log (CASAS lines)"))
    parser.add_argument("--format", choices=["casas"], default="casas",
                        help=_("the log's format: CASAS lines (date time sensor value)"))
    parser.add_argument("--map", required=True,
                        help=_("TOML sensor map: [sensors.ID] kind, room, role"))
    parser.add_argument("--timezone", default=None,
                        help=_("the home's zone; log times are its local wall time "
                               "(default: the config's home.timezone, else UTC)"))
    parser.add_argument("--config", "-c", default=None,
                        help=_("agent config whose [heuristics] settings to use"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object"))
    parser.add_argument("--gap-hours", type=_hours, default=DEFAULT_GAP_HOURS, metavar="N",
                        help=_("flag a recording gap where no event arrived for more than N "
                               "hours (default {hours:g})").format(hours=DEFAULT_GAP_HOURS))
    parser.add_argument("--plot", metavar="FILE.png",
                        help=_("also draw the days as a PNG: a row per day, 24 h across, a lane "
                               "per room, alerts as bars (needs: pip install edgeagent[plot])"))
    parser.add_argument("--prealarm", action="store_true",
                        help=_("model a kit that asks her before a critical silence alarm: "
                               "count the questions and those her activity would have cancelled"))
    parser.set_defaults(func=cmd_replay)
