"""`edgeagent evaluate`: alarm quality of the safety engine on one recorded home.

Replays ordinary life (critical alerts per 30 days, each with its reason),
then injects a fall on each night's toilet trip and each day's first
activity after 10:00 and reports which were alerted and how fast. The
figures are those of `bench/evaluate_homes.py` and the docs' table.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edgeagent.casas import MapError
from edgeagent.cli.replay import config_settings
from edgeagent.evaluation import (
    HomeEvaluation,
    InjectedFall,
    evaluate_home,
    load_home,
    replay_engine,
)
from edgeagent.evaluation.files import HomeFileError
from edgeagent.heuristics.localtime import zone_exists
from edgeagent.i18n import _, current_language

EXIT_USAGE = 2


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _fall_lines(fall: InjectedFall, language: str) -> list[str]:
    trip = (" " + _("at {time}").format(time=f"{fall.trip_start:%H:%M:%S}")
            if fall.trip_start else "")
    verdict = (_("alerted after {minutes:.1f} min").format(minutes=fall.minutes)
               if fall.minutes is not None else _("NOT alerted in 4 h"))
    lines = [f"  {fall.kind:<5} {fall.at:%Y-%m-%d %H:%M:%S}  {verdict}  (" + _(
        "{cause}{trip}; last event {event}").format(cause=fall.cause, trip=trip,
                                                    event=fall.last_event) + ")"]
    for alert in fall.followed:
        after = (alert.at - fall.at).total_seconds() / 60
        lines.append("        +" + _("{minutes} min").format(minutes=f"{after:5.1f}")
                     + f"  {alert.severity:<8} {alert.type:<20} {alert.reason_in(language)}")
    return lines


def render(name: str, result: HomeEvaluation, language: str = "en") -> str:
    """The evaluation as text in the message language (alert reasons in `language`)."""
    s = result.summary()
    out = [_("{name}: {days} days, {events} events").format(name=name, days=s["days"],
                                                           events=s["events"]),
           _("critical alerts in ordinary life: {count} ({per_30} per 30 days)").format(
               count=s["critical_alerts"], per_30=s["critical_per_30d"])]
    out += [f"  {a.at:%Y-%m-%d %H:%M:%S}  {a.type:<20} {a.reason_in(language)}"
            for a in result.critical]
    out.append(_("night falls: {detected} of {falls} alerted critical within 4 h, median "
                 "{median} min, max {max} min").format(
        detected=s["detected"], falls=s["injected_falls"],
        median=_minutes(s["median_minutes"]), max=_minutes(s["max_minutes"])))
    out.append(_("day falls: {detected} of {falls} alerted within 4 h, median {median} min, "
                 "max {max} min").format(
        detected=s["day_detected"], falls=s["day_falls"],
        median=_minutes(s["day_median_minutes"]), max=_minutes(s["day_max_minutes"])))
    falls = sorted(result.night + result.day, key=lambda f: f.at)
    if falls:
        out.append(_("injected falls and the alerts that followed:"))
        for fall in falls:
            out += _fall_lines(fall, language)
    return "\n".join(out)


def cmd_evaluate(args: argparse.Namespace) -> int:
    chosen = config_settings(args, "evaluate")
    if chosen is None:
        return EXIT_USAGE
    settings, zone = chosen
    if not zone_exists(zone):
        print("edgeagent evaluate: " + _("unknown time zone {zone!r}").format(zone=zone),
              file=sys.stderr)
        return EXIT_USAGE
    try:
        home = load_home(args.log, args.map, args.activities)
    except (HomeFileError, MapError) as exc:
        print(f"edgeagent evaluate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for error in home.malformed:
        print(f"{args.log}:{error.line}: " + _("skipped malformed line: {reason}").format(
            reason=error.reason), file=sys.stderr)
    result = evaluate_home(home.records, home.sensor_map, home.activities, timezone=zone,
                           engine_factory=replay_engine(home.sensor_map, zone, settings))
    if args.json:
        out: dict[str, Any] = result.to_json() | {
            "log": args.log, "timezone": zone, "malformed_lines": len(home.malformed)}
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(render(args.log, result, current_language()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "evaluate", help=_("score the safety heuristics on a recorded home with injected falls"),
        description=_("alarm quality of the safety engine on one recorded home: critical "
                      "alerts of ordinary life, and injected night and day falls, alerted or "
                      "not and how fast"),
    )
    parser.add_argument("log", help=_("the recorded log (CASAS lines)"))
    parser.add_argument("--map", required=True,
                        help=_("TOML sensor map: [sensors.ID] kind, room, role"))
    parser.add_argument("--activities", required=True,
                        help=_("annotated spans: START_DATE START_TIME END_DATE END_TIME NAME"))
    parser.add_argument("--timezone", default=None,
                        help=_("the zone the log's wall times are in (default: the config's "
                               "home.timezone, else UTC)"))
    parser.add_argument("--config", "-c", default=None,
                        help=_("agent config whose [heuristics] settings to use (read only "
                               "when given: results never depend on the machine)"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object"))
    parser.set_defaults(func=cmd_evaluate)
