"""`edgeagent evaluate` over every recorded home in a folder, as one table against the targets.

    python bench/evaluate_homes.py DATA_DIR [--json] [--write-docs docs/heuristics.md]

Every folder under DATA_DIR holding `events.txt` + `map.toml` (and the
annotated `activities.txt`, if there is one) is a home; its name is its path
under DATA_DIR. Default settings, times taken as UTC, as the reference
evaluation does. Prints the markdown table (or, with `--json`, one object:
each home's `edgeagent evaluate --json` figures without the per-alert lists).
`--write-docs FILE` rewrites the block between `<!-- evaluation:begin -->`
and `<!-- evaluation:end -->` in FILE; the synthetic homes have their own
block (`<!-- synthetic:begin -->`), filled with `report.pooled` rows by their
own generator.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edgeagent.evaluation import evaluate_home, load_home
from edgeagent.evaluation.report import BlockError, markdown_table, pooled, write_block

BLOCK = "evaluation"


def homes_under(data_dir: Path) -> list[Path]:
    return sorted(p.parent for p in data_dir.rglob("events.txt")
                  if (p.parent / "map.toml").exists())


def docs_body(table: str) -> str:
    return (f"{table}\n\nDefault settings, every home replayed as recorded; regenerate with "
            "`python bench/evaluate_homes.py DATA_DIR --write-docs docs/heuristics.md` "
            "(not edited by hand). ✓/✗: the target in the column header is met or not.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--write-docs", type=Path, metavar="FILE",
                        help=f"rewrite the <!-- {BLOCK}:begin/end --> block of FILE")
    args = parser.parse_args(argv)
    folders = homes_under(args.data_dir)
    if not folders:
        print(f"no events.txt + map.toml under {args.data_dir}", file=sys.stderr)
        return 2
    rows, figures = [], {}
    for folder in folders:
        name = folder.relative_to(args.data_dir).as_posix()
        acts = folder / "activities.txt"
        home = load_home(folder / "events.txt", folder / "map.toml",
                         acts if acts.exists() else None)
        started = time.perf_counter()
        result = evaluate_home(home.records, home.sensor_map, home.activities,
                               timezone=args.timezone)
        print(f"{name}: {time.perf_counter() - started:.2f} s", file=sys.stderr)
        rows.append(pooled(name, [result]))
        figures[name] = result.summary() | {"meets_targets": rows[-1].meets_targets}
    table = markdown_table(rows)
    if args.write_docs:
        try:
            write_block(args.write_docs, BLOCK, docs_body(table))
        except (OSError, BlockError) as exc:
            print(f"{args.write_docs}: {exc}", file=sys.stderr)
            return 2
    print(json.dumps({"timezone": args.timezone, "homes": figures}) if args.json else table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
