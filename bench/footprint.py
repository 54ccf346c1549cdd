"""Footprint of `edgeagent run`: RSS, import time, start-to-READY, CPU idle and at 10 Hz.

Two real `edgeagent run` processes against a private mosquitto, side by
side for `--seconds`: one with `mock.stress` at 10 Hz (the issue-2 figure),
one with no drivers (idle: tick loop, status, keepalive). RSS comes from
/proc/<pid>/status, CPU from utime+stime in /proc/<pid>/stat, so the
figures are the process's own, whatever else the machine is doing.

start-to-READY is the time from spawning the process to the systemd
`READY=1` datagram on a NOTIFY_SOCKET this script binds (the same
notification systemd waits for with Type=notify).

Baselines in the same run: a bare `python -c pass` (interpreter start) and
a python that imports only paho, pydantic and sqlite3 (RSS of the libraries
the agent cannot do without).

"1 h of simulated time at 10 Hz" is 36 000 events: `--events 36000 --rate 100`
pushes them in 6 minutes (the stress driver's rate, not a simulated clock: the
agent's own timers, status every 600 s and prune every hour, run on real time).
`events_stored` is read back from the outbox. `clock_synced` says whether the
kernel clock was NTP-synced: an unsynced agent also keeps the last readings for
the first-sync replay (MAX_PRESYNC_READINGS in edgeagent/clock_keeper.py).

    .venv/bin/python bench/footprint.py [--seconds 120] [--rate 10] [--events N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Broker, emit, log, proc_cpu_seconds, rss_mb

from edgeagent.clock import kernel_clock_synced

PY = sys.executable


# Every other mock driver beside the stress load. (`replay` needs a recording, which a
# bench without ../shared does not have; it is the same engine path as mock.home.)
ALL_MOCKS = """
[[drivers]]
type = "mock.home"
name = "home"
"""


def best_time(cmd: list[str], n: int = 5) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def write_config(path: Path, broker: Broker, workdir: Path, drivers: str) -> Path:
    path.write_text(f"""
[home]
id = "{path.stem}"
[mqtt]
urls = ["{broker.url}"]
[outbox]
path = "{workdir / (path.stem + '.db')}"
[control]
socket = "{workdir / (path.stem + '.sock')}"
{drivers}
""")
    return path


class AgentUnderTest:
    def __init__(self, config: Path, workdir: Path) -> None:
        self.notify_path = workdir / f"{config.stem}.notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.notify_path))
        self.sock.settimeout(60)
        env = dict(os.environ, NOTIFY_SOCKET=str(self.notify_path))
        self.log = (workdir / f"{config.stem}.log").open("wb")
        self.spawned = time.perf_counter()
        self.proc = subprocess.Popen([PY, "-m", "edgeagent.cli.main", "run", "--config",
                                      str(config)], env=env, stdout=self.log, stderr=self.log)

    def wait_ready(self) -> float:
        while True:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                code = self.proc.poll()
                raise RuntimeError(f"no READY=1 within 60 s (exit code {code}); see "
                                   f"{self.log.name}") from None
            if "READY=1" in data:
                return time.perf_counter() - self.spawned

    def stop(self) -> int:
        self.proc.terminate()
        code = self.proc.wait(15)
        self.sock.close()
        self.log.close()
        return code


def library_baseline(seconds: float) -> float:
    code = ("import paho.mqtt.client, pydantic, sqlite3, time, sys; "
            f"sys.stdout.write('x'); sys.stdout.flush(); time.sleep({seconds})")
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.read(1)
    rss = rss_mb(proc.pid)
    proc.kill()
    proc.wait()
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--all-mocks", action="store_true",
                        help="also run mock.home (the simulated home on the real GPIO drivers "
                             "over gpiozero's MockFactory, looping its two-day script)")
    parser.add_argument("--events", type=int, default=0,
                        help="run until this many stress events (sets --seconds = events / rate)")
    args = parser.parse_args()
    if args.events:
        args.seconds = args.events / args.rate

    log("import times ...")
    bare = best_time([PY, "-c", "pass"])
    imported = best_time([PY, "-c", "import edgeagent.cli.main, edgeagent.supervisor"])
    cli_help = best_time([PY, "-m", "edgeagent.cli.main", "--help"])
    lib_rss = library_baseline(5)

    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir / "broker").start()
        stress_cfg = write_config(workdir / "stress.toml", broker, workdir, f"""
[[drivers]]
type = "mock.stress"
name = "stress-1"
rate_hz = {args.rate}
alert_every = 100
{ALL_MOCKS if args.all_mocks else ""}""")
        idle_cfg = write_config(workdir / "idle.toml", broker, workdir, "")
        readies: list[float] = []
        # start-to-READY, three cold-ish starts of the stress config (fresh outbox each time)
        for i in range(3):
            cfg = write_config(workdir / f"ready{i}.toml", broker, workdir, "")
            agent = AgentUnderTest(cfg, workdir)
            readies.append(agent.wait_ready())
            agent.stop()
        log(f"READY after {min(readies):.3f} s; running idle and {args.rate} Hz agents "
            f"for {args.seconds:.0f} s ...")
        stress = AgentUnderTest(stress_cfg, workdir)
        idle = AgentUnderTest(idle_cfg, workdir)
        stress.wait_ready()
        idle.wait_ready()
        time.sleep(2.0)  # past start-up work (schema, first connect, birth message)
        t0 = time.perf_counter()
        cpu0 = {"stress": proc_cpu_seconds(stress.proc.pid),
                "idle": proc_cpu_seconds(idle.proc.pid)}
        rss_samples: list[tuple[float, float, float]] = []
        while time.perf_counter() - t0 < args.seconds:
            rss_samples.append((time.perf_counter() - t0, rss_mb(stress.proc.pid),
                                rss_mb(idle.proc.pid)))
            time.sleep(min(5.0, args.seconds / 10))
        elapsed = time.perf_counter() - t0
        cpu = {"stress": proc_cpu_seconds(stress.proc.pid) - cpu0["stress"],
               "idle": proc_cpu_seconds(idle.proc.pid) - cpu0["idle"]}
        rss_samples.append((elapsed, rss_mb(stress.proc.pid), rss_mb(idle.proc.pid)))
        exit_codes = {"stress": stress.stop(), "idle": idle.stop()}
        broker.stop()
        with contextlib.closing(sqlite3.connect(workdir / "stress.db")) as db:
            events = int(db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])

    first, last = rss_samples[0], rss_samples[-1]
    slope = (last[1] - first[1]) / max(1e-9, last[0] - first[0]) * 3600
    # Caches fill up early (SQLite's 2 MiB page cache, the pre-sync replay buffer): the
    # second half's slope tells a leak from a fill-up.
    mid = next(s for s in rss_samples if s[0] >= last[0] / 2)
    slope_late = (last[1] - mid[1]) / max(1e-9, last[0] - mid[0]) * 3600
    step = max(1, len(rss_samples) // 10)
    trace = [[round(s[0]), round(s[1], 1)] for s in [*rss_samples[::step], last]]

    def cpu_fig(seconds: float) -> dict[str, Any]:
        return {"cpu_s": round(seconds, 3),
                "cpu_s_per_hour": round(seconds / elapsed * 3600, 1),
                "pct_of_one_core": round(seconds / elapsed * 100, 3)}

    emit({
        "bench": "footprint",
        "seconds_observed": round(elapsed, 1),
        "stress_rate_hz": args.rate,
        "drivers": ["mock.stress"] + (["mock.home"] if args.all_mocks else []),
        "events_stored": events,
        "equivalent_hours_at_10hz": round(events / 36_000, 2),
        "clock_synced": kernel_clock_synced(),
        "rss_mb": {"stress_start": round(first[1], 1), "stress_end": round(last[1], 1),
                   "stress_max": round(max(s[1] for s in rss_samples), 1),
                   "idle_end": round(last[2], 1),
                   "stress_slope_mb_per_hour": round(slope, 2),
                   "stress_slope_second_half_mb_per_hour": round(slope_late, 2),
                   "stress_trace_s_mb": trace},
        "cpu": {"idle": cpu_fig(cpu["idle"]), "stress": cpu_fig(cpu["stress"])},
        "start_to_ready_s": {"best": round(min(readies), 3),
                             "samples": [round(r, 3) for r in readies]},
        "import_s": {"python_bare": round(bare, 3),
                     "import_edgeagent_cli_supervisor": round(imported, 3),
                     "edgeagent_help": round(cli_help, 3),
                     "agent_imports_minus_bare": round(imported - bare, 3)},
        "baseline_rss_mb_python_paho_pydantic_sqlite": round(lib_rss, 1),
        "sigterm_exit_codes": exit_codes,
        "targets": "RSS < 60 MB, READY < 2 s, idle CPU < 1 % of a core",
    })


if __name__ == "__main__":
    main()
