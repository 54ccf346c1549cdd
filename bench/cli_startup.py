"""Start-to-exit time of the fast commands against `python -c pass`, one JSON object.

`edgeagent --version`, `--help`, `status` (no daemon: the not-running answer) and
`config check` (the shipped template) run as fresh processes, interleaved with the
baseline so load changes hit both alike. The figure that matters is each command's
median minus the baseline's (target: at most 0.3 s above it).

`doctor` (the shipped template, all checks) runs for seconds on a real kit, so its
figure is the time to its first line: stdout is a pipe, the clock stops at the first
newline and the process is then killed (`first_line`, same target).

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


def doctor_command() -> list[str]:
    return [sys.executable, "-m", "edgeagent.cli.main", "doctor", "--config", str(TEMPLATE)]


def first_line(argv: list[str]) -> float:
    """Seconds from spawn to the first complete line on stdout; the process is then killed."""
    start = time.perf_counter()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL, cwd=ROOT) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - start
        proc.kill()
        proc.wait()
    if not line.endswith(b"\n"):
        raise SystemExit(f"no first line from {' '.join(argv)}")
    return elapsed


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
        first_line(doctor_command())
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        doctor_first: list[float] = []
        for i in range(args.runs):
            for name, argv in cmds.items():
                samples[name].append(once(argv))
            doctor_first.append(first_line(doctor_command()))
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
        "first_line": {"doctor": {**summary_ms(doctor_first),
                                  "median_above_baseline_ms":
                                      round((statistics.median(doctor_first) - base) * 1000, 1)}},
        "target_above_baseline_ms": 300,
    })


if __name__ == "__main__":
    main()
