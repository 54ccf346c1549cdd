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
from edgeagent.i18n import _

EXIT_USAGE = 2


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _fall_lines(fall: InjectedFall) -> list[str]:
    trip = f" at {fall.trip_start:%H:%M:%S}" if fall.trip_start else ""
    verdict = (f"alerted after {fall.minutes:.1f} min" if fall.minutes is not None
               else "NOT alerted in 4 h")
    lines = [f"  {fall.kind:<5} {fall.at:%Y-%m-%d %H:%M:%S}  {verdict}  "
             f"({fall.cause}{trip}; last event {fall.last_event})"]
    for alert in fall.followed:
        after = (alert.at - fall.at).total_seconds() / 60
        lines.append(f"        +{after:5.1f} min  {alert.severity:<8} {alert.type:<20} "
                     f"{alert.reason}")
    return lines


def render(name: str, result: HomeEvaluation) -> str:
    s = result.summary()
    out = [f"{name}: {s['days']} days, {s['events']} events",
           f"critical alerts in ordinary life: {s['critical_alerts']} "
           f"({s['critical_per_30d']} per 30 days)"]
    out += [f"  {a.at:%Y-%m-%d %H:%M:%S}  {a.type:<20} {a.reason}" for a in result.critical]
    out.append(f"night falls: {s['detected']} of {s['injected_falls']} alerted critical within "
               f"4 h, median {_minutes(s['median_minutes'])} min, "
               f"max {_minutes(s['max_minutes'])} min")
    out.append(f"day falls: {s['day_detected']} of {s['day_falls']} alerted within 4 h, "
               f"median {_minutes(s['day_median_minutes'])} min, "
               f"max {_minutes(s['day_max_minutes'])} min")
    falls = sorted(result.night + result.day, key=lambda f: f.at)
    if falls:
        out.append("injected falls and the alerts that followed:")
        for fall in falls:
            out += _fall_lines(fall)
    return "\n".join(out)


def cmd_evaluate(args: argparse.Namespace) -> int:
    chosen = config_settings(args, "evaluate")
    if chosen is None:
        return EXIT_USAGE
    settings, zone = chosen
    if not zone_exists(zone):
        print(f"edgeagent evaluate: unknown time zone {zone!r}", file=sys.stderr)
        return EXIT_USAGE
    try:
        home = load_home(args.log, args.map, args.activities)
    except (HomeFileError, MapError) as exc:
        print(f"edgeagent evaluate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for error in home.malformed:
        print(f"{args.log}:{error.line}: skipped malformed line: {error.reason}", file=sys.stderr)
    result = evaluate_home(home.records, home.sensor_map, home.activities, timezone=zone,
                           engine_factory=replay_engine(home.sensor_map, zone, settings))
    if args.json:
        out: dict[str, Any] = result.to_json() | {
            "log": args.log, "timezone": zone, "malformed_lines": len(home.malformed)}
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(render(args.log, result))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "evaluate", help=_("score the safety heuristics on a recorded home with injected falls"),
        description=__doc__.splitlines()[0] if __doc__ else None,
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
