"""Fleet simulation: N homes (full agents) against one private mosquitto, and a broker crash.

Each home is a complete `Agent` (mock.stress driver, heuristics engine,
outbox with synchronous=FULL, MQTT 5 publisher with its own connection,
client id and production backoff), many per process and event loop, in
`--workers` processes. Outboxes go to /dev/shm by default: on one VM a
thousand homes would otherwise queue behind one disk's fsyncs, which no
real fleet does (each kit has its own SD card).

Phases, figures from the homes' own counters and the broker's log:
1. connect: all homes start at once -> connect rate, time until all are up;
2. steady: `--steady` seconds -> events/s committed and acknowledged;
3. storm: the broker is SIGKILLed (a crash), stays down `--outage` s and
   comes back on the same port -> time until every home is connected
   again, time until every event committed before the restart has its
   PUBACK (backlog drained) and the drain rate, connect attempts per
   second from the homes (client side, including refused ones) and new
   connections per second in the broker's own log (after restart).
With `--compare-no-jitter` the storm is repeated with the jitter removed
(deterministic exponential backoff, same initial/max) so the spike that
full jitter flattens is measured, not asserted.

    ulimit -n 20000; .venv/bin/python bench/fleet.py --homes 10,100,1000 [--compare-no-jitter]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import Broker, emit, log

from edgeagent.backoff import Backoff

TICK = 0.5  # seconds between worker reports


class NoJitterBackoff(Backoff):
    """The anti-pattern, for comparison only: every home waits exactly the same."""

    def next_delay(self) -> float:
        cap = min(self.maximum, self.initial * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return cap


# -- worker: many agents in one event loop ---------------------------------------------------

async def worker(args: argparse.Namespace) -> None:
    from edgeagent.config import parse_config  # noqa: PLC0415 - workers only
    from edgeagent.supervisor import Agent  # noqa: PLC0415

    first, last = (int(x) for x in args.range.split(":"))
    base = Path(args.data)
    agents: list[Agent] = []
    for h in range(first, last):
        home = f"fleet-{h:05d}"
        config = parse_config({
            "home": {"id": home},
            "mqtt": {"urls": [f"mqtt://127.0.0.1:{args.port}"],
                     "backoff_initial": args.backoff_initial, "backoff_max": args.backoff_max},
            "outbox": {"path": str(base / home / "outbox.db")},
            "control": {"socket": str(base / home / "control.sock")},
            "drivers": [{"type": "mock.stress", "name": "stress", "rate_hz": args.rate}],
        }, "<fleet>")
        agent = Agent(config, sync_probe=lambda: True, tick_interval=1.0,
                      status_interval=3600.0)
        if args.no_jitter:
            agent.publisher._backoff = NoJitterBackoff(args.backoff_initial, args.backoff_max)
        agents.append(agent)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    marks: dict[int, int] = {}

    def commands() -> None:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "stop":
                break
            if cmd == "mark":  # the broker is back: remember what must be drained
                loop.call_soon_threadsafe(
                    lambda: marks.update({i: a.outbox.last_seq for i, a in enumerate(agents)}))
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=commands, daemon=True).start()
    started = time.monotonic()
    tasks = [asyncio.create_task(a.run(stop)) for a in agents]
    seen_attempts = [0] * len(agents)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK)
        attempts: list[float] = []
        for i, a in enumerate(agents):
            h = a.publisher.health
            new = h.connect_attempts - seen_attempts[i]
            if new:
                attempts.extend(h.attempt_times[-new:])
                seen_attempts[i] = h.connect_attempts
        undrained = 0
        if marks:
            for i, a in enumerate(agents):
                row = a.outbox._conn.execute(
                    "SELECT COUNT(*) FROM events WHERE delivered_at IS NULL AND seq <= ?",
                    (marks[i],)).fetchone()
                undrained += row[0]
        report = {
            "t": time.monotonic(), "started": started, "homes": len(agents),
            "connected": sum(1 for a in agents if a.publisher.connected),
            "committed": sum(a.outbox.last_seq for a in agents),
            "acked": sum(a.publisher.health.acked for a in agents),
            "attempts": attempts, "undrained": undrained if marks else None,
        }
        print(json.dumps(report), flush=True)
    await asyncio.gather(*tasks, return_exceptions=True)


# -- parent: broker, phases, figures ----------------------------------------------------------

class Fleet:
    def __init__(self, args: argparse.Namespace, homes: int, broker: Broker, data: Path,
                 no_jitter: bool) -> None:
        self.homes = homes
        self.reports: dict[int, dict[str, Any]] = {}
        self.attempts: list[float] = []
        self.lock = threading.Lock()
        # paho's loop() uses select(), which cannot watch a descriptor >= 1024 (it reports
        # "connection lost"); a home holds ~7 (socket, paho's socketpair, SQLite db/wal/shm),
        # so one process carries at most --per-worker homes.
        workers = max(1, min(args.workers, homes // 10 or 1), -(-homes // args.per_worker))
        per = -(-homes // workers)
        self.procs: list[subprocess.Popen[str]] = []
        for w in range(workers):
            lo, hi = w * per, min(homes, (w + 1) * per)
            if lo >= hi:
                break
            cmd = [sys.executable, __file__, "--worker", "--range", f"{lo}:{hi}",
                   "--port", str(broker.port), "--data", str(data), "--rate", str(args.rate),
                   "--backoff-initial", str(args.backoff_initial),
                   "--backoff-max", str(args.backoff_max)]
            if no_jitter:
                cmd.append("--no-jitter")
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True, bufsize=1)
            self.procs.append(proc)
            threading.Thread(target=self._read, args=(w, proc), daemon=True).start()

    def _read(self, w: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            report = json.loads(line)
            with self.lock:
                self.reports[w] = report
                self.attempts.extend(report["attempts"])

    def total(self, key: str) -> int:
        with self.lock:
            if len(self.reports) < len(self.procs):
                return -1
            values = [r[key] for r in self.reports.values()]
        if any(v is None for v in values):
            return -1
        return int(sum(values))

    def started(self) -> float:
        with self.lock:
            return min(r["started"] for r in self.reports.values())

    def wait(self, predicate: Any, timeout: float) -> float | None:
        """Monotonic time when predicate() first held, polled every 50 ms; None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return time.monotonic()
            time.sleep(0.05)
        return None

    def send(self, cmd: str) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(cmd + "\n")
                proc.stdin.flush()

    def close(self) -> None:
        self.send("stop")
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def per_second_peak(times: list[float], start: float, end: float, width: float) -> float:
    buckets = Counter(int((t - start) / width) for t in times if start <= t <= end)
    return max(buckets.values(), default=0) / width


def broker_connects(log_path: Path, since_epoch: float) -> dict[str, Any]:
    per_second: Counter[int] = Counter()
    for line in log_path.read_text(errors="replace").splitlines():
        stamp, _, rest = line.partition(": ")
        if "New connection from" in rest and stamp.isdigit() and int(stamp) >= since_epoch:
            per_second[int(stamp)] += 1
    if not per_second:
        return {"total": 0, "peak_per_s": 0, "seconds": 0}
    return {"total": sum(per_second.values()), "peak_per_s": max(per_second.values()),
            "seconds": max(per_second) - min(per_second) + 1}


def scenario(args: argparse.Namespace, homes: int, no_jitter: bool) -> dict[str, Any]:
    label = f"{homes} homes{' (no jitter)' if no_jitter else ''}"
    shm = Path("/dev/shm") if args.dir is None and Path("/dev/shm").is_dir() else args.dir
    with tempfile.TemporaryDirectory(dir=shm, prefix="bench-fleet-") as tmp:
        data = Path(tmp)
        broker = Broker(data / "broker", log_connections=True,
                        extra="max_connections -1\n").start()
        cpu_broker0 = broker.cpu_seconds()
        fleet = Fleet(args, homes, broker, data, no_jitter)
        out: dict[str, Any] = {"homes": homes, "workers": len(fleet.procs),
                               "jitter": not no_jitter}
        try:
            log(f"[{label}] connecting ...")
            up = fleet.wait(lambda: fleet.total("connected") == homes, args.timeout)
            if up is None:
                out["error"] = f"only {fleet.total('connected')} of {homes} connected"
                log(f"[{label}] {out['error']}")
                return out
            t_start = fleet.started()
            out["connect"] = {"all_connected_s": round(up - t_start, 2),
                              "connects_per_s": round(homes / max(1e-3, up - t_start), 1)}
            log(f"[{label}] steady {args.steady:.0f} s ...")
            c0, a0, t0 = fleet.total("committed"), fleet.total("acked"), time.monotonic()
            time.sleep(args.steady)
            c1, a1, t1 = fleet.total("committed"), fleet.total("acked"), time.monotonic()
            out["steady"] = {"events_committed_per_s": round((c1 - c0) / (t1 - t0), 1),
                             "events_acked_per_s": round((a1 - a0) / (t1 - t0), 1),
                             "broker_cpu_pct": None}
            cpu_b = broker.cpu_seconds()
            out["steady"]["broker_cpu_pct"] = round((cpu_b - cpu_broker0) / (t1 - t0) * 100, 1)
            log(f"[{label}] broker crash, {args.outage:.0f} s outage ...")
            with fleet.lock:
                fleet.attempts.clear()
            kill_at = time.monotonic()
            broker.kill()
            time.sleep(args.outage)
            committed_before = fleet.total("committed")
            acked_before = fleet.total("acked")
            restart_epoch = time.time()
            broker.start()
            restart_at = time.monotonic()
            fleet.send("mark")
            back = fleet.wait(lambda: fleet.total("connected") == homes, args.timeout)
            drained = fleet.wait(lambda: fleet.total("undrained") == 0, args.timeout)
            end = drained or back or time.monotonic()
            time.sleep(TICK * 2)  # last attempt reports
            with fleet.lock:
                attempts = list(fleet.attempts)
            acked_after = fleet.total("acked")
            storm: dict[str, Any] = {
                "outage_s": round(restart_at - kill_at, 2),
                "backlog_events": committed_before - acked_before,
                "all_reconnected_after_restart_s":
                    round(back - restart_at, 2) if back else None,
                "backlog_drained_after_restart_s":
                    round(drained - restart_at, 2) if drained else None,
                "client_attempts_total": len(attempts),
                "client_attempts_peak_per_s": per_second_peak(attempts, kill_at, end, 1.0),
                "client_attempts_peak_per_100ms":
                    per_second_peak(attempts, kill_at, end, 0.1) / 10,
                "client_attempts_after_restart_peak_per_s":
                    per_second_peak(attempts, restart_at, end, 1.0),
            }
            if drained:
                storm["drain_events_per_s"] = round(
                    (acked_after - acked_before) / max(1e-3, drained - restart_at), 1)
            out["storm"] = storm
        finally:
            fleet.close()
            broker.stop()  # flushes the broker's stdout log
        if "storm" in out:
            out["storm"]["broker_log_new_connections_after_restart"] = broker_connects(
                broker.log_path, int(restart_epoch))
        log(f"[{label}] {json.dumps(out)}")
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", default="10,100,1000")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--per-worker", type=int, default=100,
                        help="homes per process at most (select() and its 1024-fd limit)")
    parser.add_argument("--rate", type=float, default=0.2, help="events/s per home")
    parser.add_argument("--steady", type=float, default=12.0,
                        help="seconds; > 10 so the backoff resets (STABLE_CONNECTION_S)")
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--backoff-initial", type=float, default=1.0)
    parser.add_argument("--backoff-max", type=float, default=120.0)
    parser.add_argument("--compare-no-jitter", action="store_true",
                        help="repeat the largest fleet's storm without jitter")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-jitter", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--range", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.worker:
        asyncio.run(worker(args))
        return
    sizes = [int(n) for n in args.homes.split(",")]
    results = [scenario(args, n, no_jitter=False) for n in sizes]
    if args.compare_no_jitter:
        results.append(scenario(args, max(sizes), no_jitter=True))
    emit({
        "bench": "fleet",
        "per_home_rate_hz": args.rate,
        "backoff": {"initial_s": args.backoff_initial, "max_s": args.backoff_max,
                    "kind": "exponential, full jitter (edgeagent/backoff.py)"},
        "outboxes_on": "/dev/shm" if args.dir is None else str(args.dir),
        "nofile_limit": hard, "cpus": os.cpu_count(),
        "scenarios": results,
    })


if __name__ == "__main__":
    main()
