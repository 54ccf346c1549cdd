"""Shared bench plumbing: a private mosquitto, percentiles, machine facts, one JSON line out.

Bench scripts measure; they never assert wall-clock. Each prints exactly one
JSON object on stdout (figures + the baseline measured in the same run), and
progress on stderr. Run them from the repo root with the project venv:
`.venv/bin/python bench/drain.py`.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.mosquitto import MOSQUITTO, free_port, wait_port  # noqa: E402


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


class Broker:
    """A private mosquitto on a free loopback port (the system one on 1883 is never touched)."""

    def __init__(self, workdir: Path, *, port: int | None = None, extra: str = "",
                 log_connections: bool = False) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra = extra
        self.log_connections = log_connections
        self.log_path = workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence false",
            "max_queued_messages 0",
            "max_inflight_messages 0",
        ]
        if self.log_connections:
            # stdout, captured to a file we open: mosquitto started as root drops to its
            # own user before opening a log file, and cannot write into our temp dir.
            lines += ["log_dest stdout", "log_type notice",
                      "connection_messages true", "log_timestamp true",
                      "log_timestamp_format %s"]
        else:
            lines += ["log_dest none"]
        conf.write_text("\n".join(lines) + "\n" + self.extra + "\n")
        out: Any = subprocess.DEVNULL
        if self.log_connections:
            out = self.log_path.open("ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=out,
                                     stderr=subprocess.DEVNULL)
        if self.log_connections:
            out.close()
        wait_port(self.port, timeout=30.0)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.proc.pid) if self.proc else 0.0


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc/<pid>/stat, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation): p99 of 1000 samples is the 990th."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 3),
            "p90_ms": round(percentile(ms, 90), 3), "p99_ms": round(percentile(ms, 99), 3),
            "max_ms": round(max(ms), 3), "mean_ms": round(sum(ms) / len(ms), 3)}


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "machine": platform.machine(), "load_avg_1m": round(load[0], 2),
            "mosquitto": _mosquitto_version(),
            "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _mosquitto_version() -> str:
    try:
        out = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=5,
                             check=False)
    except OSError:
        return "?"
    first = (out.stdout or out.stderr).splitlines()
    return first[0].strip() if first else "?"


def emit(doc: dict[str, Any]) -> None:
    doc.setdefault("machine", machine())
    print(json.dumps(doc, indent=None, separators=(",", ":")), flush=True)
