"""`cmd/update` end to end: broker -> agent downloads from a loopback HTTP server, verifies,
hands over to the updater (here a thread standing in for the .path unit), which switches
and restarts the real agent; progress and outcome arrive at the platform as events."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgeagent.signing import keygen
from edgeagent.updates.apply import APPLIED, Updater
from edgeagent.updates.bundle import trusted_keys
from edgeagent.updates.request import REQUEST
from tests.support.platform import PlatformSubscriber
from tests.updates.bundle_server import BundleServer
from tests.updates.release_kit import KitService, PathUnit, agent_config, release_bundle

PREFIX = "care/home-1"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "release.key", tmp_path / "release.pub"
    keygen(private, public)
    (tmp_path / "update-keys").mkdir()
    shutil.copy(public, tmp_path / "update-keys" / "release.pem")
    return private, public


@pytest.fixture
def served(tmp_path):
    server = BundleServer(tmp_path / "www").start()
    server.folder.mkdir()
    yield server
    server.stop()


@pytest.fixture
def kit(tmp_path, mosquitto, keys, served):
    config = agent_config(tmp_path, mosquitto.url)
    config.write_text(config.read_text().replace("[[drivers]]", textwrap.dedent(f"""
        [commands]
        allow_changes = true
        [updates]
        allowed_hosts = ["127.0.0.1"]
        keys_dir = "{tmp_path / 'update-keys'}"
        [[drivers]]""")))
    service = KitService(tmp_path / "opt", config, tmp_path / "agent.log")
    yield service
    service.stop()


def start(kit: KitService, private: Path, public: Path, tmp_path: Path,
          health_s: float = 60) -> PathUnit:
    updater = Updater(kit.root, trusted_keys(public), restart=kit.restart, probe=kit.probe(),
                      baseline=kit.baseline, health_s=health_s,
                      report=tmp_path / "update-result.json")
    assert updater.apply(release_bundle(tmp_path, private, "0.1.0")).state == APPLIED
    return PathUnit(updater, tmp_path / REQUEST, public).start()


def serve(served: BundleServer, bundle: Path, name: str | None = None) -> tuple[str, str]:
    target = served.folder / (name or bundle.name)
    shutil.copy(bundle, target)
    return f"{served.base}/{target.name}", hashlib.sha256(target.read_bytes()).hexdigest()


def command(port: int, args: dict[str, Any], command_id: str) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ops-{command_id}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    body = {"id": command_id, "ts": datetime.now(UTC).isoformat(), "args": args}
    client.publish(f"{PREFIX}/cmd/update", json.dumps(body), qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def update_events(platform: PlatformSubscriber, version: str | None = None) -> list[dict[str, Any]]:
    return [e["data"] for e in platform.events() if e["kind"] == "status"
            and e["type"] == "update" and (version is None or e["data"].get("version") == version)]


def states(platform: PlatformSubscriber, version: str) -> list[str]:
    return [d["state"] for d in update_events(platform, version)]


def contiguous(platform: PlatformSubscriber) -> None:
    first_arrival = list(dict.fromkeys(e["seq"] for e in platform.events()))
    assert first_arrival == list(range(1, len(first_arrival) + 1)), first_arrival[:40]


@pytest.mark.timeout(150)
def test_remote_update_applies_and_reports_then_a_crashing_release_is_rolled_back(
        tmp_path, keys, kit, served, mosquitto, platform):
    private, public = keys
    unit = start(kit, private, public, tmp_path)
    try:
        url, digest = serve(served, release_bundle(tmp_path, private, "0.2.0"))
        command(mosquitto.port, {"url": url, "sha256": digest, "version": "0.2.0",
                                 "force": True}, "u-1")
        platform.wait_for(lambda p: "applied" in states(p, "0.2.0"), 60)
        assert states(platform, "0.2.0") == ["downloading", "verified", "applied"]
        [applied] = [d for d in update_events(platform, "0.2.0") if d["state"] == "applied"]
        assert applied["previous_version"] == "0.1.0" and applied["running"] == "0.2.0"
        assert {d["command_id"] for d in update_events(platform, "0.2.0")} == {"u-1"}
        assert kit.started == ["0.1.0", "0.2.0"]
        status = [m.json() for m in platform.messages if m.topic == f"{PREFIX}/status"
                  and m.json().get("previous_version")]
        assert status and status[-1]["previous_version"] == "0.1.0"

        url, digest = serve(served, release_bundle(tmp_path, private, "0.3.0", broken=True))
        unit.updater.health_s = 3
        command(mosquitto.port, {"url": url, "sha256": digest, "version": "0.3.0",
                                 "force": True}, "u-2")
        platform.wait_for(lambda p: "rolled_back" in states(p, "0.3.0"), 60)
        [rolled] = [d for d in update_events(platform, "0.3.0") if d["state"] == "rolled_back"]
        assert "agent not running (exit 1)" in rolled["reason"]
        assert rolled["running"] == "0.2.0" and rolled["command_id"] == "u-2"
        assert kit.started == ["0.1.0", "0.2.0", "0.3.0", "0.2.0"]
        last = kit.baseline().last_seq
        platform.wait_for(lambda p: last in p.seqs_unlocked(), 30)
        contiguous(platform)
    finally:
        unit.stop()


def _tamper(bundle: Path) -> Path:
    with tarfile.open(bundle) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    out = bundle.with_name("tampered.tar")
    with tarfile.open(out, "w") as tar:
        for info, data in members:
            if info.name.endswith(".whl"):
                data += b"\0"
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


@pytest.mark.timeout(150)
def test_bad_bundles_are_refused_on_the_kit_and_reported(tmp_path, keys, kit, served,
                                                          mosquitto, platform):
    private, public = keys
    unit = start(kit, private, public, tmp_path)
    try:
        other, other_pub = tmp_path / "o.key", tmp_path / "o.pub"
        keygen(other, other_pub)
        cases = {
            "0.4.1": (_tamper(release_bundle(tmp_path, private, "0.4.1")), "hash mismatch"),
            "0.4.2": (release_bundle(tmp_path, other, "0.4.2"), "bad signature"),
            "0.4.3": (release_bundle(tmp_path, private, "0.4.3"), "truncated download"),
            "0.0.9": (release_bundle(tmp_path, private, "0.0.9"), "downgrade"),
        }
        for n, (version, (bundle, _)) in enumerate(cases.items()):
            name = f"{version}-truncated.tar" if version == "0.4.3" else None
            url, digest = serve(served, bundle, name)
            if version == "0.4.3":
                digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
            command(mosquitto.port, {"url": url, "sha256": digest, "version": version,
                                     "force": True}, f"bad-{n}")
            platform.wait_for(lambda p, v=version: "failed" in states(p, v), 60)
        for version, (_, reason) in cases.items():
            [failed] = [d for d in update_events(platform, version) if d["state"] == "failed"]
            assert failed["reason"].startswith(reason), (version, failed)
            assert states(platform, version) == ["downloading", "failed"]
        # Resumed with Range after each cut, and never handed to the updater.
        cut = [r for path, r in served.requests if "truncated" in path]
        assert cut[0] is None and len(cut) == 3
        assert all(r is not None and r.startswith("bytes=") and r != "bytes=0-" for r in cut[1:])
        assert unit.runs == [] and kit.started == ["0.1.0"]
        assert not list((tmp_path / "updates").glob("*"))  # nothing left of the downloads
        # A host that is not allowed gets an error reply and no download at all.
        before = len(served.requests)
        command(mosquitto.port, {"url": "http://example.org/x.tar", "sha256": "0" * 64,
                                 "version": "0.5.0"}, "bad-host")
        platform.wait_for(lambda p: any(m.topic == f"{PREFIX}/cmd/update/reply"
                                        and m.json().get("id") == "bad-host"
                                        for m in p.messages), 30)
        reply = next(m.json() for m in platform.messages
                     if m.topic == f"{PREFIX}/cmd/update/reply" and m.json().get("id") == "bad-host")
        assert reply["ok"] is False and "not in updates.allowed_hosts" in reply["error"]
        assert len(served.requests) == before
    finally:
        unit.stop()
