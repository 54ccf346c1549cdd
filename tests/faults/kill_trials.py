"""kill -9 at random instants while the broker flaps: the trial loop behind
tests/faults/test_kill9.py (>= 50 trials) and bench/soak.py (>= 1000).

One trial: start `edgeagent run` (a real process, `mock.stress` load), wait
until it has recovered what the previous kill left pending and stored some
new events, maybe restart the broker under it, then SIGKILL it at a random
instant. After each kill and each broker stop the outbox's undelivered set
is read from outside: those are the only events allowed to reach the
platform twice. At the end a drain-only run empties the outbox and the
durable subscriber must hold every seq from 1 to N.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.harness import DurableSubscriber, read_outbox
from tests.faults.zygote import Zygote
from tests.support.agent_toml import write_agent_toml
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until

BROKER_AS_US = "user root" if os.geteuid() == 0 else ""


@dataclass
class KillReport:
    seed: int
    trials: int
    broker_flaps: int = 0
    events: int = 0
    lost: list[int] = field(default_factory=list)
    duplicates: int = 0  # agent re-publishes seen by the platform (broker DUPs excluded)
    unexplained_duplicates: list[int] = field(default_factory=list)
    broker_redeliveries: int = 0
    kills_with_pending: int = 0
    recovery_s: list[float] = field(default_factory=list)
    stored_seq_gaps: list[int] = field(default_factory=list)
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        rec = sorted(self.recovery_s) or [0.0]
        doc = asdict(self)
        doc.pop("recovery_s")
        doc["lost"] = len(self.lost)
        doc["recovery_p50_s"] = round(rec[len(rec) // 2], 3)
        doc["recovery_max_s"] = round(rec[-1], 3)
        doc["wall_s"] = round(self.wall_s, 1)
        return doc


def _config(workdir: Path, broker_url: str, *, load: bool, rate_hz: int) -> Path:
    drivers = textwrap.dedent(f"""
        [[drivers]]
        type = "mock.stress"
        name = "stress-1"
        rate_hz = {rate_hz}
        alert_every = 97
    """) if load else ""
    path = workdir / ("agent.toml" if load else "drain.toml")
    return write_agent_toml(path, broker_url, extra=drivers)


class _Agent:
    """`edgeagent run` as a process: exec'd fresh, or forked from a warm zygote."""

    def __init__(self, config: Path, log: Path, zygote: Zygote | None = None) -> None:
        self.config, self.log, self.zygote = config, log, zygote
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.status: int | None = None

    def start(self) -> None:
        self.status = None
        if self.zygote is not None:
            self.pid = self.zygote.spawn(self.config, self.log)
            return
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edgeagent.cli.main", "run", "--config", str(self.config)],
                stdout=out, stderr=out)
        self.pid = self.proc.pid

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        if self.pid is None or self.status is not None:
            return False
        # A zombie still answers kill(0); /proc tells the state.
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            return False
        return state != "Z"

    def signal(self, sig: int) -> None:
        if self.pid is not None and self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait()

    def wait(self) -> None:
        if self.proc is not None:
            self.proc.wait(15)
            self.status = self.proc.returncode
            self.proc = None
        elif self.zygote is not None and self.pid is not None and self.status is None:
            self.status = self.zygote.reap(self.pid)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)
        self.wait()


def _last_seq(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return read_outbox(db)[0]
    except Exception:
        return 0


def run_kill_trials(workdir: Path, trials: int, seed: int, *, flap_probability: float = 0.25,
                    rate_hz: int = 800, fork: bool = True,
                    progress: Callable[[int, KillReport], None] | None = None) -> KillReport:
    """Run the trials; the caller asserts on the report. fork: use the warm zygote."""
    rng = random.Random(seed)
    report = KillReport(seed=seed, trials=trials)
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "outbox.db"
    # As root, mosquitto drops to user "mosquitto" and then cannot write its persistence
    # file in our directory: the durable session would silently not survive a restart.
    broker = Mosquitto(workdir / "broker", persistence=True, extra=BROKER_AS_US).start()
    sub = DurableSubscriber(broker.port).start()
    zygote = Zygote() if fork else None
    agent = _Agent(_config(workdir, broker.url, load=True, rate_hz=rate_hz),
                   workdir / "agent.log", zygote)
    # seq -> how many connection breaks happened while its PUBACK was not recorded
    breaks: Counter[int] = Counter()
    previous_pending: set[int] = set()

    def note_break() -> set[int]:
        _last, _seqs, pending = read_outbox(db)
        breaks.update(pending)
        return pending

    try:
        for _trial in range(trials):
            base = _last_seq(db)
            want = base + rng.randint(1, 250)
            t0 = time.monotonic()
            agent.start()
            owed = set(previous_pending)
            recovered: list[float] = []

            def progressed(owed: set[int] = owed, want: int = want,
                           recovered: list[float] = recovered, t0: float = t0) -> bool:
                if not agent.alive():
                    raise RuntimeError(f"agent exited: see {agent.log}")
                if not recovered and owed <= sub.seqs():
                    recovered.append(time.monotonic() - t0)
                return bool(recovered) and _last_seq(db) >= want

            wait_until(progressed, 30, "recovery and progress")
            if owed:
                report.recovery_s.append(recovered[0])
            if rng.random() < flap_probability:
                report.broker_flaps += 1
                broker.stop()  # SIGTERM: mosquitto writes its persistence file on the way out
                note_break()
                if rng.random() < 0.5:
                    # The agent keeps numbering and storing while the broker is away.
                    grown = _last_seq(db) + rng.randint(1, 50)
                    wait_until(lambda g=grown: _last_seq(db) >= g, 10, "storing offline")
                broker.start()
                seen = sub.max_seq()
                wait_until(lambda s=seen: sub.max_seq() > s, 20, "publishing after flap")
            # The random instant: anywhere in the next 60 ms of a busy agent.
            deadline = time.monotonic() + rng.uniform(0.0, 0.06)
            wait_until(lambda d=deadline: time.monotonic() >= d, 1, "kill instant",
                       interval=0.002)
            agent.kill()
            previous_pending = note_break()
            if previous_pending:
                report.kills_with_pending += 1
            if progress is not None:
                progress(_trial + 1, report)
        # Drain-only run: no drivers, so it ends with an empty outbox.
        drain = _Agent(_config(workdir, broker.url, load=False, rate_hz=rate_hz),
                       workdir / "agent.log")
        drain.start()
        try:
            wait_until(lambda: not read_outbox(db)[2], 60, "outbox drained")
            last = _last_seq(db)
            with contextlib.suppress(TimeoutError):  # what is missing is reported as lost
                wait_until(lambda: set(range(1, last + 1)) <= sub.seqs(), 30,
                           "platform complete")
        finally:
            drain.terminate()
        last, stored, _pending = read_outbox(db)
        report.events = last
        report.stored_seq_gaps = sorted(set(range(1, last + 1)) - set(stored))
        report.lost = sorted(set(range(1, last + 1)) - sub.seqs())
        fresh = sub.counts(fresh_only=True)
        report.broker_redeliveries = sum(sub.counts(fresh_only=False).values()) - sum(
            fresh.values())
        for seq, n in fresh.items():
            if n > 1:
                report.duplicates += n - 1
                if n - 1 > breaks[seq]:
                    report.unexplained_duplicates.append(seq)
    finally:
        agent.kill()
        if zygote is not None:
            zygote.close()
        sub.stop()
        broker.kill()
        report.wall_s = time.monotonic() - started
    return report
