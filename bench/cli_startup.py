"""Start-to-exit time of the fast commands against `python -c pass`, one JSON object.

`edgeagent --version`, `--help`, `status` (no daemon: the not-running answer) and
`config check` (the shipped template) run as fresh processes, interleaved with the
baseline so load changes hit both alike. The figure that matters is each command's
median minus the baseline's (target: at most 0.3 s above it).

    .venv/bin/python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit, log, summary_ms

TEMPLATE = ROOT / "edgeagent" / "templates" / "config-default.toml"


def commands(socket: str) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "edgeagent.cli.main"]
    return {
        "baseline_python_pass": [sys.executable, "-c", "pass"],
        "--version": [*cli, "--version"],
        "--help": [*cli, "--help"],
        "status": [*cli, "status", "--socket", socket],
        "config check": [*cli, "config", "check", str(TEMPLATE)],
    }


def once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(str(Path(tmp) / "absent.sock"))
        for argv in cmds.values():
            once(argv)  # warm the page cache and the .pyc files
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        for i in range(args.runs):
            for name, argv in cmds.items():
                samples[name].append(once(argv))
            log(f"run {i + 1}/{args.runs}")
    base = statistics.median(samples["baseline_python_pass"])
    emit({
        "bench": "cli_startup",
        "runs": args.runs,
        "baseline_ms": summary_ms(samples["baseline_python_pass"]),
        "commands": {name: {**summary_ms(values),
                            "median_above_baseline_ms":
                                round((statistics.median(values) - base) * 1000, 1)}
                     for name, values in samples.items() if name != "baseline_python_pass"},
        "target_above_baseline_ms": 300,
    })


if __name__ == "__main__":
    main()
