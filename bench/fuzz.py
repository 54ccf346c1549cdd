"""Long parser fuzzing: the CI targets of tests/security/fuzz_targets.py with many more
examples (config files, BLE GATT payloads, serial bed-mat frames, downlink commands).

    .venv/bin/python bench/fuzz.py [--examples 20000] [--targets config ble serial downlink]

Prints JSON: examples run and failures (with the falsifying example) per target; exit 1 on
any failure. Hypothesis's example database is off, so every run explores afresh.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings

from tests.security.fuzz_targets import TARGETS


def run_target(name: str, examples: int) -> dict[str, Any]:
    strategy, target = TARGETS[name]
    count = 0

    def counted(value: Any) -> None:
        nonlocal count
        count += 1
        target(value)

    runner = settings(max_examples=examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))(given(strategy)(counted))
    started = time.monotonic()
    failure = None
    try:
        runner()
    except Exception as exc:
        failure = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return {"target": name, "examples_run": count, "failures": 0 if failure is None else 1,
            "failure": failure, "seconds": round(time.monotonic() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--targets", nargs="*", default=sorted(TARGETS),
                        choices=sorted(TARGETS))
    args = parser.parse_args()
    results = [run_target(name, args.examples) for name in args.targets]
    print(json.dumps({"examples_per_target": args.examples, "results": results}, indent=2))
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
