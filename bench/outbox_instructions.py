"""Outbox append vs plain sqlite3, counted in CPU instructions instead of seconds.

`outbox_write.py` gives the rates, but on a shared VM a
run's seconds move with whatever else the machine does. Instructions do not:
callgrind (valgrind) counts them, and the same build, inputs and environment
give the same count, whatever the load. That makes it the figure to compare
changes of the write path by.

Each side runs in its own process under callgrind twice, with `--small` and
`--large` events; everything else a process does (start-up, imports, building
all the drafts or loading all the rows) is the same in both runs, so
(count(large) - count(small)) / (large - small) is the cost of one event. The
outbox side does what the agent does (number, UUIDv7, timestamp, JSON body,
insert, commit); the plain side inserts the same rows, pre-rendered, with the
same table, indexes and pragmas, with `executemany` (`plain`) and with one
multi-row `VALUES` statement per transaction (`plain_multirow`, the
cheapest way SQLite takes the rows). `synchronous` is OFF on both sides and the
files are on tmpfs when there is one: an fsync costs waiting, not instructions.

    .venv/bin/python bench/outbox_instructions.py [--batch 100] [--small 1000] [--large 4000]
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import emit, log
from outbox_write import drafts, events_schema, insert_plain, plain_connection, stored_rows

from edgeagent.outbox import Outbox

SIDES = ("outbox", "plain", "plain_multirow")


def run_outbox(workdir: Path, n: int, batch: int, total: int) -> None:
    items = drafts(total)  # all of them, whatever n: the same fixed cost in both runs
    box = Outbox(workdir / "outbox.db", "bench-home", boot_id="b", max_bytes=10**12)
    box._conn.execute("PRAGMA synchronous=OFF")
    for i in range(0, n, batch):
        box.append(items[i:min(i + batch, n)], synced=True)
    box.close()


def run_plain(workdir: Path, n: int, batch: int, inputs: Path, *, multirow: bool) -> None:
    with inputs.open("rb") as f:
        ddl, rows = pickle.load(f)  # all of them, whatever n
    conn = plain_connection(workdir / "plain.db", ddl, "OFF")
    insert_plain(conn, rows[:n], batch, multirow=multirow)
    conn.close()


def plain_inputs(workdir: Path, total: int, batch: int) -> Path:
    """The outbox's own rows and schema, for the plain side to insert."""
    run_outbox(workdir, total, batch, total)
    conn = sqlite3.connect(workdir / "outbox.db")
    ddl, rows = events_schema(conn), stored_rows(conn)
    conn.close()
    for f in workdir.glob("outbox.db*"):
        f.unlink()
    path = workdir / "rows.pickle"
    with path.open("wb") as out:
        pickle.dump((ddl, rows), out)
    return path


def counted(side: str, n: int, args: argparse.Namespace, workdir: Path) -> int:
    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           sys.executable, __file__, "--child", side, "--n", str(n), "--batch", str(args.batch),
           "--large", str(args.large), "--dir", str(run_dir)]
    # A fixed hash seed: str hashes decide dict layouts, which move the count by ~1 %.
    done = subprocess.run(cmd, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise SystemExit(f"no instruction count from callgrind:\n{done.stderr[-2000:]}")
    shutil.rmtree(run_dir)
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100, help="events per transaction")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=4000)
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "outbox":
        run_outbox(args.dir, args.n, args.batch, args.large)
        return
    if args.child in ("plain", "plain_multirow"):
        run_plain(args.dir, args.n, args.batch, args.dir.parent / "rows.pickle",
                  multirow=args.child == "plain_multirow")
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="bench-instr-",
                                     dir=shm if shm.is_dir() and os.access(shm, os.W_OK)
                                     else None) as tmp:
        workdir = Path(tmp)
        plain_inputs(workdir, args.large, args.batch)
        per_event: dict[str, float] = {}
        for side in SIDES:
            log(f"{side}: callgrind with {args.small} and {args.large} events ...")
            small, large = (counted(side, n, args, workdir) for n in (args.small, args.large))
            per_event[side] = (large - small) / (args.large - args.small)
    emit({
        "bench": "outbox_instructions",
        "batch": args.batch,
        "events": [args.small, args.large],
        "instructions_per_event": {k: round(v) for k, v in per_event.items()},
        "ratio": round(per_event["plain"] / per_event["outbox"], 3),
        "ratio_to_multirow": round(per_event["plain_multirow"] / per_event["outbox"], 3),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "note": "plain/outbox instructions: the CPU side of outbox_write's ratio, without fsync",
    })


if __name__ == "__main__":
    main()
