"""Alarm quality over a population of synthetic homes, per sensor layout.

    .venv/bin/python bench/synthetic_homes.py [--weeks 1000] [--seed 1] [--json]
        [--processes N] [--reference] [--held] [--details weeks.jsonl]
        [--write-docs docs/heuristics.md]

Generates `--weeks` labelled home-weeks (edgeagent_mocks.synthetic; layouts
round robin, residents and faults drawn from the seed; `--held` adds the
layouts with a chair pad and/or a presence radar in the living room, and
their faults, after the eight plain ones), replays each through
a fresh engine with default settings, injects the labelled night and day
falls, and reports per layout the three figures of the alarm-quality
targets: critical alerts per 30 days of ordinary life, night falls detected
critical within 4 h (median/max minutes), day falls alerted within 4 h
(median). Also by resident kind and by fault. `--json` prints one JSON
object; `--write-docs` rewrites the block between `<!-- synthetic:begin -->`
and `<!-- synthetic:end -->` in that file (edgeagent.evaluation.report's
table). `--reference` places the falls from the annotations by the recorded
homes' rules (`edgeagent evaluate`) instead of the generator's labels. Same
seed and weeks, same figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edgeagent_mocks.synthetic.faults import FAULT_KINDS  # noqa: E402
from edgeagent_mocks.synthetic.home_week import generate  # noqa: E402
from edgeagent_mocks.synthetic.layouts import ALL_LAYOUT_NAMES, LAYOUT_NAMES  # noqa: E402
from edgeagent_mocks.synthetic.life import RESIDENT_KINDS  # noqa: E402
from edgeagent_mocks.synthetic.scoring import WeekResult, score, summarise  # noqa: E402

from edgeagent.evaluation.report import (  # noqa: E402
    BlockError,
    markdown_table,
    pooled,
    write_block,
)

BLOCK = "synthetic"
HELD_FAULTS = ("stuck_pad", "curtain_radar")
LAYOUT_WORDS = {
    "contacts": "contacts only, entrance contact",
    "contacts-entrance": "contacts only, no entrance contact",
    "contacts+bed": "contacts + bed mat, entrance contact",
    "contacts+bed-entrance": "contacts + bed mat, no entrance contact",
    "pir": "PIR per room, entrance contact",
    "pir-entrance": "PIR per room, no entrance contact",
    "pir+bed": "PIR per room + bed mat, entrance contact",
    "pir+bed-entrance": "PIR per room + bed mat, no entrance contact",
    "contacts+chair": "contacts only + armchair pad, entrance contact",
    "contacts+bed+chair": "contacts + bed mat + armchair pad, entrance contact",
    "pir+radar": "PIR per room + living-room radar, entrance contact",
    "pir+bed+chair+radar": "PIR per room + bed mat + armchair pad + living-room radar, "
                           "entrance contact",
}


def _one(job: tuple[int, int, bool, bool]) -> tuple[int, WeekResult]:
    seed, index, reference, held = job
    layouts = ALL_LAYOUT_NAMES if held else LAYOUT_NAMES
    return index, score(generate(seed, index, layouts=layouts), reference=reference)


def run(weeks: int, seed: int, processes: int, reference: bool = False,
        held: bool = False) -> tuple[list[WeekResult], float]:
    started = time.perf_counter()
    jobs = [(seed, index, reference, held) for index in range(weeks)]
    if processes <= 1:
        results = [_one(job) for job in jobs]
    else:
        with Pool(processes) as pool:
            results = list(pool.imap_unordered(_one, jobs, chunksize=4))
    results.sort(key=lambda pair: pair[0])
    return [r for _, r in results], time.perf_counter() - started


def figures(results: list[WeekResult], seed: int, elapsed: float,
            processes: int, layouts: tuple[str, ...] = LAYOUT_NAMES) -> dict[str, Any]:
    def short(group: list[WeekResult]) -> dict[str, Any]:
        full = summarise(group)
        keep = ("home_weeks", "critical_per_30_days", "night_falls", "night_detected",
                "night_median_minutes", "night_max_minutes", "day_falls", "day_detected",
                "day_median_minutes")
        return {k: full[k] for k in keep}

    return {
        "seed": seed, "home_weeks": len(results), "processes": processes,
        "elapsed_s": round(elapsed, 1),
        "events": sum(r.evaluation.events for r in results),
        "layouts": {name: _layout([r for r in results if r.layout == name])
                    for name in layouts},
        "residents": {kind: short([r for r in results if r.resident == kind])
                      for kind in RESIDENT_KINDS},
        "faults": {"none": short([r for r in results if not r.faults])} | {
            kind: short([r for r in results if kind in r.faults]) for kind in FAULT_KINDS
            if kind not in HELD_FAULTS or layouts != LAYOUT_NAMES},
        "all": summarise(results),
    }


def _layout(group: list[WeekResult]) -> dict[str, Any]:
    """The three figures, and the critical rate of the weeks without a fault."""
    clean = summarise([r for r in group if not r.faults])
    return summarise(group) | {"fault_free_home_weeks": clean["home_weeks"],
                               "fault_free_critical_per_30_days": clean["critical_per_30_days"]}


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def docs_block(doc: dict[str, Any], results: list[WeekResult], weeks: int, seed: int,
               reference: bool) -> str:
    rows = [pooled(f"{LAYOUT_WORDS.get(name, name)} ({f['home_weeks']} weeks; "
                   f"{_cell(f['fault_free_critical_per_30_days'])} critical / 30 days "
                   "without a fault)",
                   [r.evaluation for r in results if r.layout == name])
            for name, f in doc["layouts"].items()]
    flag = (" --reference" if reference else "") + (
        " --held" if tuple(doc["layouts"]) != LAYOUT_NAMES else "")
    return "\n".join([
        markdown_table(rows, first_column="layout"),
        "",
        f"`python bench/synthetic_homes.py --weeks {weeks} --seed {seed}{flag} "
        "--write-docs docs/heuristics.md` (default settings, not edited by hand; "
        f"{doc['events']} sensor events, {doc['elapsed_s']} s on {doc['processes']} "
        "processes). Counted as on the recorded homes. " + (
            "The falls are placed from the annotations by the recorded homes' rules."
            if reference else
            "The falls are the generator's labels (below); `--reference` places them from "
            "the annotations by the recorded homes' rules instead."),
        "",
        "**What the generator models.** Each home-week draws a layout (round robin),",
        "a resident and 0-2 faults from the seed, and is reproducible from",
        "`(seed, index)`. The resident is one of: early riser (up about 05:00, in bed",
        "about 21:00), night owl (09:30 / 00:30), napper (an afternoon nap most days, in",
        "the armchair or in bed), long baths (40-75 min), several night toilet trips",
        "(2-3.5 a night), goes out every day, never goes out; on top of the kind, each",
        "home draws its own bed and wake times, their day-to-day spread (15-40 min), how",
        "often she handles things, whether she closes the bathroom door, turns on",
        "lights at night or the bedroom lamp at bedtime. A day is planned as stays in",
        "rooms: getting up, toilet, wash or shower, breakfast, meals at jittered times,",
        "outings, naps, baths, free time (armchair, TV in the evening, chores, drinks,",
        "toilet visits), a bedtime routine and sleep with night toilet trips (some by",
        "way of the kitchen). Sensors report it as in the recorded homes: PIRs pulse",
        "for 1-4 s when she moves (every few seconds while cooking, every few minutes",
        "in the armchair, about once an hour or two asleep); contacts open for seconds",
        "(fridge, cupboards, doors), taps run, light switches stay on while a dark room",
        "is used, the TV while she watches; a bed mat is pressed while she lies in bed",
        "and drops pressure for seconds a few times a night (now and then for 1-4",
        "minutes). In a contacts kit she often goes to bed unseen (the last evening",
        "event is the bathroom or the kitchen) and sits for hours in the armchair",
        "without a single event, as in the recorded contacts homes. Faults: single",
        "phantom triggers, a missed entrance-door event (usually her return), a mat",
        "stuck pressed for 6-30 h, a chattering mat or contact (bursts of toggling",
        "for minutes), a pet setting off the PIRs outside the bedroom day and night,",
        "a visitor evening (someone else moving about, through the entrance door),",
        "a busy sensor that goes dead for good. With `--held`, four more layouts",
        "have a pressure pad on her armchair (pressed while she sits there, which is",
        "most of her sitting; lifting for seconds when she leans forward) and/or a",
        "presence radar in the living room (present while she is in the room, moving",
        "or not, and for 10-60 s after), with their faults: a pad stuck occupied for",
        "6-30 h, a radar seeing a curtain (presence flickering for hours, whoever is",
        "there); no fall is placed while her pad or the radar still holds her.",
        "",
        "**Labelled falls.** A night fall happens between 22:00 and 05:30 on a night toilet",
        "trip or on getting up for the day (an early riser), after she has been",
        "seen outside the bedroom: 60 s after the first",
        "sensor outside the bedroom on the way, or seconds after the last one on the",
        "way back, before any bedroom sensor; at most one a night. A day fall happens",
        "one second after her first event after a random moment between 10:00 and",
        "15:00 (not the entrance, not a pad being pressed, not near an outing). Her",
        "own and visitors' events are deleted for the 4 hours after a fall; what the",
        "faults produce (the pet, a chattering switch, a stuck mat) goes on.",
        "",
        "**What it does not model.** Couples and live-in carers; seasons, holidays,",
        "illness and slow decline (every week is ordinary); sensors that report",
        "late or out of order, clock jumps and time zones (times are the home's wall",
        "time); night outings and wandering; falls without a trip (from bed, in the",
        "bath) and residents who get up again after a fall; the engine's learning",
        "over months (each home-week starts with a fresh engine, so the figures are",
        "those of a kit's first week). The population mix is a choice, not a",
        "measurement: the figures say where the engine breaks, not how often that",
        "happens in the field.",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--reference", action="store_true",
                        help="place the falls from the annotations (edgeagent evaluate's "
                             "rules) instead of the generator's labels")
    parser.add_argument("--held", action="store_true",
                        help="add the chair-pad and radar layouts (and their faults) to the "
                             "round robin, after the eight plain ones")
    parser.add_argument("--details", type=Path, metavar="FILE",
                        help="write every home-week (alerts, falls) as JSON lines to FILE")
    parser.add_argument("--write-docs", type=Path, metavar="FILE",
                        help="rewrite the synthetic block of FILE (docs/heuristics.md)")
    args = parser.parse_args(argv)
    if args.weeks < 1:
        print("--weeks must be at least 1", file=sys.stderr)
        return 2
    results, elapsed = run(args.weeks, args.seed, args.processes, args.reference, args.held)
    doc = figures(results, args.seed, elapsed, args.processes,
                  ALL_LAYOUT_NAMES if args.held else LAYOUT_NAMES)
    if args.details:
        with args.details.open("w", encoding="utf-8") as out:
            for result in results:
                out.write(json.dumps(result.as_json()) + "\n")
    if args.write_docs:
        try:
            write_block(args.write_docs, BLOCK,
                        docs_block(doc, results, args.weeks, args.seed, args.reference))
        except (OSError, BlockError) as exc:
            print(f"{args.write_docs}: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(doc, separators=(",", ":")))
        return 0
    print(f"{args.weeks} home-weeks, seed {args.seed}, {elapsed:.1f} s on "
          f"{args.processes} processes")
    for name, f in doc["layouts"].items():
        print(f"{name:<24} critical/30d {_cell(f['critical_per_30_days']):>6}  "
              f"night {f['night_detected']:>4}/{f['night_falls']:<4} "
              f"median {_cell(f['night_median_minutes']):>5} max {_cell(f['night_max_minutes']):>6}"
              f"  day {f['day_detected']:>4}/{f['day_falls']:<4} "
              f"median {_cell(f['day_median_minutes'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
