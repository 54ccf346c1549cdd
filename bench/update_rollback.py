"""Remote update timings: `cmd/update` -> healthy on the new release, and -> rolled back.

A real agent (started from ROOT/current, as systemd would) against a private
mosquitto; bundles served by a loopback HTTP server; the updater run by a
thread standing in for edgeagent-updater.path (tests/updates/release_kit.py).
Baseline, measured in the same run: a plain restart of the same agent until
the same health probe passes. Each update round installs a fresh venv from
the bundle's wheels (offline pip), so the figures include that.

    .venv/bin/python bench/update_rollback.py [--rounds 3] [--health-s 10]

One JSON object on stdout. Figures are seconds (median, min, max).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from _common import Broker, emit, log, machine
from paho.mqtt.enums import CallbackAPIVersion

from edgeagent.signing import keygen
from edgeagent.updates.apply import APPLIED, ROLLED_BACK, Updater
from edgeagent.updates.bundle import trusted_keys
from edgeagent.updates.health import wait_healthy
from edgeagent.updates.request import REQUEST
from tests.updates.bundle_server import BundleServer
from tests.updates.release_kit import (
    KitService,
    PathUnit,
    agent_config,
    release_bundle,
)


def stats(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "n": len(values)}


def send_update(port: int, url: str, digest: str, version: str) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{version}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    body = {"id": f"bench-{version}", "ts": datetime.now(UTC).isoformat(),
            "args": {"url": url, "sha256": digest, "version": version, "force": True}}
    client.publish("care/home-1/cmd/update", json.dumps(body), qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def wait_runs(unit: PathUnit, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while len(unit.runs) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the updater did not finish")
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--health-s", type=float, default=10.0,
                        help="update_health_s for the broken release (how long it is given)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-update-"))
    broker = Broker(work / "broker").start()
    server = BundleServer(work / "www")
    server.folder.mkdir()
    server.start()
    private, public = work / "release.key", work / "release.pub"
    keygen(private, public)
    (work / "update-keys").mkdir()
    shutil.copy(public, work / "update-keys" / "release.pem")
    config = agent_config(work, broker.url)
    config.write_text(config.read_text().replace("[[drivers]]", textwrap.dedent(f"""
        [commands]
        allow_changes = true
        rate_per_minute = 1000
        [updates]
        allowed_hosts = ["127.0.0.1"]
        keys_dir = "{work / 'update-keys'}"
        [[drivers]]""")))
    kit = KitService(work / "opt", config, work / "agent.log")
    updater = Updater(kit.root, trusted_keys(public), restart=kit.restart, probe=kit.probe(),
                      baseline=kit.baseline, health_s=120, report=work / "update-result.json")
    result: dict[str, Any] = {"bench": "update_rollback", "machine": machine()}
    try:
        assert updater.apply(release_bundle(work, private, "0.1.0")).state == APPLIED
        unit = PathUnit(updater, work / REQUEST, public).start()
        restart, applied, rolled = [], [], []
        for n in range(args.rounds):
            start = time.monotonic()
            kit.restart()
            verdict = wait_healthy(kit.probe(), kit.baseline(), 120, interval_s=0.05)
            assert verdict.healthy, verdict.reason
            restart.append(time.monotonic() - start)
            log(f"round {n}: plain restart {restart[-1]:.2f} s")

            version = f"0.{n + 2}.0"
            bundle = release_bundle(work, private, version)
            served = shutil.copy(bundle, server.folder / bundle.name)
            digest = hashlib.sha256(Path(served).read_bytes()).hexdigest()
            updater.health_s = 120
            start = time.monotonic()
            send_update(broker.port, f"{server.base}/{bundle.name}", digest, version)
            wait_runs(unit, len(unit.runs) + 1)
            outcome = unit.runs[-1][-1]
            assert outcome.state == APPLIED, outcome
            applied.append(unit.done_at[-1] - start)
            log(f"round {n}: cmd/update -> healthy on {version}: {applied[-1]:.2f} s")

            broken_version = f"0.{n + 2}.1"
            broken = release_bundle(work, private, broken_version, broken=True)
            shutil.copy(broken, server.folder / broken.name)
            digest = hashlib.sha256(broken.read_bytes()).hexdigest()
            updater.health_s = args.health_s
            start = time.monotonic()
            send_update(broker.port, f"{server.base}/{broken.name}", digest, broken_version)
            wait_runs(unit, len(unit.runs) + 1)
            outcome = unit.runs[-1][-1]
            assert outcome.state == ROLLED_BACK, outcome
            rolled.append(unit.done_at[-1] - start)
            log(f"round {n}: cmd/update (crashing release) -> rolled back: {rolled[-1]:.2f} s")
        unit.stop()
        result.update({
            "baseline_plain_restart_to_healthy_s": stats(restart),
            "cmd_update_to_healthy_s": stats(applied),
            "cmd_update_to_rolled_back_s": stats(rolled),
            "update_health_s_for_the_broken_release": args.health_s,
            "rollback_target_s": args.health_s + 30,
        })
    finally:
        kit.stop()
        server.stop()
        broker.kill()
        shutil.rmtree(work, ignore_errors=True)
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
