"""`update apply`: a new release, an atomic switch, a real restart, health or rollback.

The agent is a real `edgeagent run` process started from ROOT/current against
a private mosquitto (tests/updates/release_kit.py stands in for systemd); the
platform subscriber checks that no seq is lost or reordered across a switch.
The updater is killed with SIGKILL at each of its steps (a real subprocess)
and the next run must leave a working release.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edgeagent.signing import keygen
from edgeagent.updates.apply import APPLIED, HOLD_ENV, ROLLED_BACK, STEPS, Releases, Updater
from edgeagent.updates.bundle import BundleRefused, trusted_keys
from edgeagent.updates.health import Baseline, Verdict
from edgeagent.updates.request import DOWNLOADS, read_result, write_update_request
from tests.support.platform import PlatformSubscriber
from tests.support.waiting import wait_until
from tests.updates.release_kit import KitService, agent_config, release_bundle

ROOT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "release.key", tmp_path / "release.pub"
    keygen(private, public)
    return private, public


@pytest.fixture
def kit(tmp_path, mosquitto):
    service = KitService(tmp_path / "opt", agent_config(tmp_path, mosquitto.url),
                         tmp_path / "agent.log")
    yield service
    service.stop()


def updater(kit: KitService, public: Path, health_s: float = 60) -> Updater:
    return Updater(kit.root, trusted_keys(public), restart=kit.restart, probe=kit.probe(),
                   baseline=kit.baseline, health_s=health_s,
                   report=kit.config.parent / "update-result.json")


def contiguous(platform: PlatformSubscriber) -> list[int]:
    """The seqs the platform got, in arrival order, checked for gaps and reordering."""
    seqs = [e["seq"] for e in platform.events()]
    first_arrival = list(dict.fromkeys(seqs))  # duplicates of unacked events are allowed
    assert first_arrival == list(range(1, len(first_arrival) + 1)), first_arrival[:50]
    return first_arrival


def last_seq(kit: KitService) -> int:
    return kit.baseline().last_seq


@pytest.mark.timeout(120)
def test_an_update_switches_release_and_keeps_every_seq_in_order(tmp_path, keys, kit, platform):
    private, public = keys
    config_before = kit.config.read_bytes()
    first = updater(kit, public).apply(release_bundle(tmp_path, private, "0.1.0"))
    assert first.state == APPLIED and first.running == "0.1.0", (first, kit.log.read_text()[-2000:])
    wait_until(lambda: last_seq(kit) >= 20, 30, "events before the update")
    outcome = updater(kit, public).apply(release_bundle(tmp_path, private, "0.2.0"))
    assert (outcome.state, outcome.version, outcome.previous_version) == (
        APPLIED, "0.2.0", "0.1.0")
    assert os.readlink(kit.root / "current") == "releases/0.2.0"
    assert kit.started == ["0.1.0", "0.2.0"]
    before_stop = last_seq(kit)
    wait_until(lambda: last_seq(kit) >= before_stop + 20, 30, "events after the update")
    final = last_seq(kit)
    platform.wait_for(lambda p: final in p.seqs_unlocked(), 30)
    assert len(contiguous(platform)) >= final
    # Only releases/ and the link are the updater's: the outbox and config are untouched.
    assert sorted(p.name for p in kit.root.iterdir()) == ["current", "releases"]
    assert kit.config.read_bytes() == config_before
    report = json.loads((tmp_path / "update-result.json").read_text())
    assert report["state"] == "applied" and report["previous_version"] == "0.1.0"


class _CountingIndex(BaseHTTPRequestHandler):
    """A package index that answers nothing and counts who asked."""

    asked: list[str] = []

    def do_GET(self) -> None:
        _CountingIndex.asked.append(self.path)
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.timeout(120)
def test_an_update_installs_only_the_bundles_wheels_and_never_asks_an_index(
        tmp_path, keys, kit, monkeypatch):
    """A kit is often offline: pip must not look for packages anywhere but the bundle."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CountingIndex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _CountingIndex.asked.clear()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_port}/simple")
    try:
        private, public = keys
        outcome = updater(kit, public).apply(release_bundle(tmp_path, private, "0.1.0"))
    finally:
        server.shutdown()
    assert outcome.state == APPLIED, (outcome, kit.log.read_text()[-2000:])
    assert _CountingIndex.asked == []


@pytest.mark.timeout(120)
def test_a_release_that_crashes_on_start_is_rolled_back(tmp_path, keys, kit, platform):
    private, public = keys
    assert updater(kit, public).apply(release_bundle(tmp_path, private, "0.1.0")).state == APPLIED
    wait_until(lambda: last_seq(kit) >= 10, 30, "events before the update")
    broken = release_bundle(tmp_path, private, "0.2.0", broken=True)
    outcome = updater(kit, public, health_s=3).apply(broken)
    assert outcome.state == ROLLED_BACK
    assert (outcome.version, outcome.previous_version, outcome.running) == (
        "0.2.0", "0.1.0", "0.1.0")
    assert "agent not running (exit 1)" in outcome.reason
    assert os.readlink(kit.root / "current") == "releases/0.1.0"
    assert kit.started == ["0.1.0", "0.2.0", "0.1.0"]
    assert not (kit.root / "releases" / "0.2.0").exists()  # known broken: not kept
    report = json.loads((tmp_path / "update-result.json").read_text())
    assert report["state"] == "rolled_back" and "agent not running" in report["reason"]
    before = last_seq(kit)
    wait_until(lambda: last_seq(kit) >= before + 10, 30, "events after the rollback")
    final = last_seq(kit)
    platform.wait_for(lambda p: final in p.seqs_unlocked(), 30)
    assert len(contiguous(platform)) >= final


def test_a_refused_bundle_installs_nothing(tmp_path, keys):
    private, public = keys
    root = tmp_path / "opt"
    restarts: list[str] = []
    quiet = Updater(root, trusted_keys(public), restart=lambda: restarts.append("x"),
                    probe=lambda _: Verdict(True), baseline=Baseline)
    bundle = release_bundle(tmp_path, private, "0.1.0")
    other, other_pub = tmp_path / "o.key", tmp_path / "o.pub"
    keygen(other, other_pub)
    stranger = Updater(root, trusted_keys(other_pub), restart=lambda: restarts.append("x"),
                       probe=lambda _: Verdict(True), baseline=Baseline)
    with pytest.raises(BundleRefused, match="bad signature"):
        stranger.apply(bundle)
    assert quiet.apply(bundle).state == APPLIED
    downgrade = release_bundle(tmp_path, private, "0.0.9")
    with pytest.raises(BundleRefused, match=r"^downgrade: "):
        quiet.apply(downgrade)
    assert quiet.apply(downgrade, allow_downgrade=True).running == "0.0.9"
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["0.0.9", "0.1.0"]
    assert restarts == ["x", "x"]


def test_two_previous_releases_are_kept(tmp_path, keys):
    private, public = keys
    root = tmp_path / "opt"
    quiet = Updater(root, trusted_keys(public), restart=lambda: None,
                    probe=lambda _: Verdict(True), baseline=Baseline)
    for version in ("0.1.0", "0.2.0", "0.3.0", "0.4.0"):
        assert quiet.apply(release_bundle(tmp_path, private, version)).state == APPLIED
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["0.2.0", "0.3.0", "0.4.0"]
    assert Releases(root).current_version() == "0.4.0"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("step", STEPS)
def test_an_updater_killed_at_any_step_leaves_a_working_release(tmp_path, keys, step):
    private, public = keys
    root = tmp_path / "opt"
    restarts: list[str] = []

    def restart() -> None:
        restarts.append(Releases(root).current_version() or "")

    quiet = Updater(root, trusted_keys(public), restart=restart,
                    probe=lambda _: Verdict(True), baseline=Baseline)
    assert quiet.apply(release_bundle(tmp_path, private, "0.1.0")).state == APPLIED
    bundle = release_bundle(tmp_path, private, "0.2.0")
    proc = subprocess.Popen([sys.executable, "-m", "tests.updates.updater_proc", str(root),
                             str(bundle), str(public)], cwd=ROOT_DIR, stdout=subprocess.PIPE,
                            env=dict(os.environ, **{HOLD_ENV: step}))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().decode().strip() == f"update: holding at {step}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    # The next run (at boot, or the next request) first recovers.
    restarts.clear()
    outcome = quiet.recover()
    rel = Releases(root)
    assert rel.current_version() == "0.1.0"
    if step in ("switched", "restarted"):
        assert outcome is not None and outcome.state == ROLLED_BACK
        assert outcome.reason.startswith("interrupted")
        assert restarts == ["0.1.0"]  # the previous release is started again
        assert not rel.path("0.2.0").exists()
    else:
        assert outcome is None and restarts == []
    assert sorted(p.name for p in rel.dir.iterdir()) == (
        ["0.1.0", "0.2.0"] if step == "installed" else ["0.1.0"])  # half-installed: removed
    assert not rel.staging.exists() and not rel.journal.exists()
    assert not (root / ".current.tmp").exists()
    # `current` is a complete release that runs: its edgeagent is the real one.
    done = subprocess.run([str(root / "current" / "bin" / "edgeagent"), "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("edgeagent "), done.stderr
    # And the update, tried again, goes through.
    assert quiet.apply(bundle).state == APPLIED
    assert rel.current_version() == "0.2.0"


def test_the_updater_takes_the_agents_request_and_reports_with_its_id(tmp_path, keys):
    private, public = keys
    root, state = tmp_path / "opt", tmp_path / "state"
    (state / DOWNLOADS).mkdir(parents=True)
    quiet = Updater(root, trusted_keys(public), restart=lambda: None,
                    probe=lambda _: Verdict(True), baseline=Baseline,
                    report=state / "update-result.json")
    assert quiet.apply(release_bundle(tmp_path, private, "0.1.0")).state == APPLIED
    request = state / "update-request.json"

    def ask(bundle: Path, command_id: str) -> dict[str, object]:
        download = state / DOWNLOADS / bundle.name
        shutil.copy(bundle, download)
        write_update_request(state, download, command_id)
        outcomes = quiet.run(request, lambda: trusted_keys(public))
        assert not request.exists() and not download.exists()  # taken, then used up
        result = read_result(state)
        assert result is not None and result["id"] == command_id
        assert outcomes[-1].as_dict()["state"] == result["state"]
        return result

    good = ask(release_bundle(tmp_path, private, "0.2.0"), "cmd-1")
    assert (good["state"], good["version"], good["previous_version"]) == (
        "applied", "0.2.0", "0.1.0")
    tampered = release_bundle(tmp_path, private, "0.3.0")
    with tarfile.open(tampered) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(tampered, "w") as tar:
        for info, data in members:
            if info.name.endswith(".whl"):
                data += b"\0"
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    bad = ask(tampered, "cmd-2")
    assert bad["state"] == "failed" and bad["reason"].startswith("hash mismatch: ")
    assert Releases(root).current_version() == "0.2.0"
    # The agent's directory is the agent's: a planted link is refused, never followed.
    request.symlink_to("/etc/passwd")
    [outcome] = quiet.run(request, lambda: trusted_keys(public))
    assert outcome.state == "failed" and outcome.reason.startswith("bad request: ")
    assert not request.is_symlink()
    assert quiet.run(request, lambda: trusted_keys(public)) == []  # nothing asked
