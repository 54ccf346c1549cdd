"""Long kill -9 soak: >= 1000 random SIGKILLs of `edgeagent run` under load while the broker
restarts, then prove every seq 1..N reached a durable subscriber with only justified duplicates.

    .venv/bin/python bench/soak.py --trials 1000 [--seed N] [--workdir DIR] [--exec]

Prints one JSON object (the figures quoted in docs/reliability.md) and exits 1 if anything
was lost, a stored seq is missing, or a duplicate is not explained by a missing PUBACK.
The CI version of the same loop is tests/faults/test_kill9.py (50 trials).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults.kill_trials import KillReport, run_kill_trials


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--flap-probability", type=float, default=0.25,
                        help="chance per trial of a broker restart under the running agent")
    parser.add_argument("--rate-hz", type=int, default=800, help="mock.stress readings/s")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--exec", action="store_true",
                        help="exec a fresh interpreter per trial instead of forking a warm one")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="edgeagent-soak-"))
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    def progress(done: int, report: KillReport) -> None:
        if done % 50 == 0:
            print(f"{done}/{args.trials} trials, {report.broker_flaps} broker restarts",
                  file=sys.stderr, flush=True)

    report = run_kill_trials(workdir, args.trials, seed, flap_probability=args.flap_probability,
                             rate_hz=args.rate_hz, fork=not args.exec, progress=progress)
    summary = {"started": started, "workdir": str(workdir), "launcher": "exec" if args.exec
               else "fork", **report.summary()}
    print(json.dumps(summary, indent=2))
    ok = not (report.lost or report.stored_seq_gaps or report.unexplained_duplicates)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
