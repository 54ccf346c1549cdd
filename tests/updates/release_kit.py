"""A kit in a temporary directory: releases built as wheels, a real agent run from `current`.

A release is a small `edgeagent` wheel whose console script execs the real
agent of this checkout (so an update is a real restart of a real agent
against a private mosquitto), or, for a broken release, exits at start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from edgeagent.signing import load_private_key
from edgeagent.updates.apply import Outcome, Updater
from edgeagent.updates.bundle import build_bundle, trusted_keys
from edgeagent.updates.health import Baseline, Probe, Verdict, baseline_from_socket, control_probe
from tests.provision.test_offline_package import make_wheel
from tests.support.agent_toml import write_agent_toml

GOOD = ("import os, sys\n"
        f"PY = {sys.executable!r}\n"
        "def main():\n"
        "    os.execv(PY, [PY, '-m', 'edgeagent.cli.main', *sys.argv[1:]])\n")
BROKEN = ("def main():\n"
          "    raise SystemExit('this release cannot start: ImportError in a heuristic')\n")


def release_bundle(workdir: Path, key: Path, version: str, *, broken: bool = False,
                   min_version: str = "0.0.0") -> Path:
    wheels = workdir / f"wheels-{version}{'-broken' if broken else ''}"
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("*.whl"):
        old.unlink()
    make_wheel(wheels, "edgeagent", version, {"edgeagent_release.py": BROKEN if broken else GOOD},
               scripts={"edgeagent": "edgeagent_release:main"})
    out = workdir / f"edgeagent-{version}{'-broken' if broken else ''}.tar"
    build_bundle(sorted(wheels.glob("*.whl")), load_private_key(key), out, version=version,
                 min_version=min_version)
    return out


def agent_config(workdir: Path, broker_url: str, rate_hz: int = 20) -> Path:
    return write_agent_toml(workdir / "edgeagent.toml", broker_url, mqtt='topic_prefix = "care"',
                            extra=f"""
        [[drivers]]
        type = "mock.stress"
        name = "stress-1"
        rate_hz = {rate_hz}
        alert_every = 1000000
    """)


class KitService:
    """Stands in for systemd: restart() starts ROOT/current/bin/edgeagent, the probe sees it."""

    def __init__(self, root: Path, config: Path, log: Path) -> None:
        self.root = root
        self.config = config
        self.log = log
        self.socket = config.parent / "control.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started: list[str] = []  # the release each start ran

    def restart(self) -> None:
        self.stop()
        release = os.readlink(self.root / "current")
        self.started.append(Path(release).name)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.root / "current" / "bin" / "edgeagent"), "-v", "run", "--config",
                 str(self.config)], stdout=log, stderr=log,
                env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def probe(self) -> Probe:
        inner = control_probe(self.socket)

        def probe(baseline: Baseline) -> Verdict:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                return Verdict(False, f"agent not running (exit {code})")
            return inner(baseline)

        return probe

    def baseline(self) -> Baseline:
        return baseline_from_socket(self.socket)


class PathUnit:
    """Stands in for edgeagent-updater.path: runs the updater when the request appears."""

    def __init__(self, updater: Updater, request: Path, keys: Path) -> None:
        self.updater, self.request, self.keys = updater, request, keys
        self.stop_event = threading.Event()
        self.runs: list[list[Outcome]] = []
        self.done_at: list[float] = []  # monotonic time each run ended (bench figures)
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stop_event.wait(0.05):
            if self.request.exists():
                outcomes = self.updater.run(self.request, lambda: trusted_keys(self.keys))
                self.runs.append(outcomes)
                self.done_at.append(time.monotonic())

    def start(self) -> PathUnit:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(30)
