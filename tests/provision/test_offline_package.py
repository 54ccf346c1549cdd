"""The offline bundle: signed manifest, hashed lock, nothing unlisted installs.

A bundle is sealed by packaging/seal.py with a throwaway Ed25519 key and
installed by the real packaging/install.sh into a temporary prefix. Its
wheels are pip (from CPython's ensurepip) and two small wheels built here:
`edgeagent` (whose console script records how install.sh called it) and a
dependency. An attacker's extra wheel, a re-listed manifest, a wrong key and
a pyproject without upper bounds are each refused. The stub's other commands
run this checkout's real agent, so the release install.sh makes is marked and
switched by the updater's own code and a real agent can run from it.
"""

from __future__ import annotations

import ensurepip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
SEAL = ROOT / "packaging" / "seal.py"
INSTALL = ROOT / "packaging" / "install.sh"
needs_tools = pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("sha256sum") is None,
                                 reason="openssl and sha256sum are needed by install.sh")


def make_wheel(dest: Path, name: str, version: str, files: dict[str, str],
               requires: list[str] = (), scripts: dict[str, str] | None = None) -> Path:
    info = f"{name}-{version}.dist-info"
    meta = {f"{info}/METADATA": "Metadata-Version: 2.1\n" f"Name: {name}\nVersion: {version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires),
            f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                             "Tag: py3-none-any\n"}
    if scripts:
        meta[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in scripts.items())
    content = {**files, **meta}
    record = []
    for path, text in content.items():
        digest = urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    wheel = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in content.items():
            zf.writestr(path, text)
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


# `install` is recorded (it would create users and units); everything else is the real agent.
STUB = ("import os, sys\n"
        f"PY = {sys.executable!r}\n"
        "def main():\n"
        "    if sys.argv[1:2] == ['install']:\n"
        "        open(os.environ['STUB_OUT'], 'w').write(' '.join(sys.argv[1:]))\n"
        "        return\n"
        "    os.execv(PY, [PY, '-m', 'edgeagent.cli.main', *sys.argv[1:]])\n")


def seal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SEAL), *args], capture_output=True, text=True,
                          timeout=60, check=True)


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(bundle dir, private key, public key): a sealed bundle as the build makes it."""
    key, pub = tmp_path / "release.key", tmp_path / "release.pub"
    seal("keygen", str(key), str(pub))
    root = tmp_path / "edgeagent-0.1.0-host"
    wheelhouse = root / "wheelhouse"
    wheelhouse.mkdir(parents=True)
    bundled = Path(ensurepip.__file__).parent / "_bundled"
    shutil.copy(next(bundled.glob("pip-*.whl")), wheelhouse)
    make_wheel(wheelhouse, "edgeagent", "0.1.0", {"edgeagent_stub.py": STUB},
               requires=["tinydep"], scripts={"edgeagent": "edgeagent_stub:main"})
    make_wheel(wheelhouse, "tinydep", "1.0", {"tinydep.py": "VALUE = 1\n"})
    shutil.copy(INSTALL, root / "install.sh")
    seal(str(root), "--signing-key", str(key))
    return root, key, pub


def run_install(root: Path, prefix: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "STUB_OUT": str(prefix / "ran")}
    return subprocess.run(["bash", str(root / "install.sh"), "--prefix", str(prefix),
                           "--no-link", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_lock_pins_every_wheel_with_its_hash(bundle):
    root, _, _ = bundle
    lock = (root / "requirements.lock").read_text().splitlines()[1:]
    names = sorted(line.split("==")[0] for line in lock)
    assert names == ["edgeagent", "pip", "tinydep"]
    for line in lock:
        assert " --hash=sha256:" in line
    manifest = (root / "SHA256SUMS").read_text()
    for listed in ("install.sh", "requirements.lock", "wheelhouse/tinydep-1.0-py3-none-any.whl"):
        assert f"  {listed}\n" in manifest


@needs_tools
@pytest.mark.timeout(300)
def test_signed_bundle_installs_exactly_the_locked_wheels(bundle, tmp_path):
    root, _, pub = bundle
    prefix = tmp_path / "opt"
    done = run_install(root, prefix, "--public-key", str(pub), "--home", "h-1")
    assert done.returncode == 0, done.stderr
    assert (prefix / "ran").read_text() == (
        f"install --executable {prefix}/current/bin/edgeagent --home h-1")
    assert (prefix / "release.pub").read_bytes() == pub.read_bytes()  # pinned for upgrades
    assert_installed_release(prefix, "0.1.0")
    again = run_install(root, prefix)  # the upgrade path: the pinned key
    assert again.returncode == 0, again.stderr
    assert_installed_release(prefix, "0.1.0")


def assert_installed_release(prefix: Path, version: str) -> None:
    """The updater's layout: a complete release, `current` naming it, no PREFIX/venv."""
    from edgeagent.updates.apply import COMPLETE_MARK, Releases

    releases = Releases(prefix)
    assert releases.current_version() == version
    assert os.readlink(prefix / "current") == f"releases/{version}"
    assert releases.is_complete(version)
    mark = json.loads((releases.path(version) / COMPLETE_MARK).read_text())
    assert mark["version"] == version and "tinydep-1.0-py3-none-any.whl" in mark["wheels"]
    assert (prefix / "current" / "bin" / "edgeagent").exists()
    assert not (prefix / "venv").exists()


@needs_tools
@pytest.mark.timeout(180)
def test_a_crashing_first_update_rolls_back_to_the_offline_install(bundle, tmp_path, mosquitto):
    from edgeagent.updates.apply import ROLLED_BACK, Updater
    from edgeagent.updates.bundle import trusted_keys
    from tests.updates.release_kit import KitService, agent_config, release_bundle

    root, key, pub = bundle
    prefix = tmp_path / "opt"
    done = run_install(root, prefix, "--public-key", str(pub))
    assert done.returncode == 0, done.stderr
    kit = KitService(prefix, agent_config(tmp_path, mosquitto.url), tmp_path / "agent.log")
    try:
        kit.restart()  # systemd starting the installed release
        wait_until(lambda: kit.baseline().last_seq >= 5, 30, "the installed release running")
        broken = release_bundle(tmp_path, key, "0.2.0", broken=True)
        outcome = Updater(prefix, trusted_keys(pub), restart=kit.restart, probe=kit.probe(),
                          baseline=kit.baseline, health_s=3).apply(broken)
        assert outcome.state == ROLLED_BACK, (outcome, kit.log.read_text()[-2000:])
        assert (outcome.previous_version, outcome.running) == ("0.1.0", "0.1.0")
        assert "agent not running (exit 1)" in outcome.reason
        assert os.readlink(prefix / "current") == "releases/0.1.0"
        assert kit.started == ["0.1.0", "0.2.0", "0.1.0"]
        before = kit.baseline().last_seq
        wait_until(lambda: kit.baseline().last_seq > before, 30, "events after the rollback")
    finally:
        kit.stop()


@needs_tools
@pytest.mark.timeout(180)
def test_an_earlier_venv_install_becomes_a_release_to_roll_back_to(bundle, tmp_path):
    root, _, pub = bundle
    prefix = tmp_path / "opt"
    legacy = prefix / "venv"  # what the installer made before the releases layout
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(legacy)], check=True,
                   timeout=60)
    old = make_wheel(tmp_path, "edgeagent", "0.0.9", {"edgeagent_stub.py": STUB},
                     scripts={"edgeagent": "edgeagent_stub:main"})
    pip = next((root / "wheelhouse").glob("pip-*.whl"))
    subprocess.run([str(legacy / "bin" / "python"), f"{pip}/pip", "install", "--quiet",
                    "--no-index", "--no-deps", str(old)], check=True, timeout=120)
    done = run_install(root, prefix, "--public-key", str(pub))
    assert done.returncode == 0, done.stderr
    assert "the earlier install in" in done.stdout and "is release 0.0.9" in done.stdout
    from edgeagent.updates.apply import Releases

    releases = Releases(prefix)
    assert releases.current_version() == "0.1.0"
    assert os.readlink(releases.path("0.0.9")) == "../venv"
    assert releases.is_complete("0.0.9")  # a rollback target for the updater
    assert (releases.path("0.0.9") / "bin" / "edgeagent").exists()
    assert (prefix / "ran").read_text() == f"install --executable {prefix}/current/bin/edgeagent"
    releases.remove("0.0.9")  # pruned later like any release: the link and the venv go
    assert not releases.path("0.0.9").is_symlink() and not legacy.exists()


@needs_tools
@pytest.mark.timeout(120)
def test_an_unlisted_wheel_is_refused_before_anything_is_installed(bundle, tmp_path):
    root, _, pub = bundle
    make_wheel(root / "wheelhouse", "evil", "6.6.6", {"evil.py": "import os\n"})
    prefix = tmp_path / "opt"
    done = run_install(root, prefix, "--public-key", str(pub))
    assert done.returncode == 2
    assert "not listed in SHA256SUMS: wheelhouse/evil-6.6.6-py3-none-any.whl" in done.stderr
    assert not (prefix / "releases").exists()
    # Re-listing it needs the private key: a manifest rewritten without it fails the signature.
    manifest = root / "SHA256SUMS"
    evil = root / "wheelhouse" / "evil-6.6.6-py3-none-any.whl"
    manifest.write_text(manifest.read_text()
                        + f"{hashlib.sha256(evil.read_bytes()).hexdigest()}  {evil.relative_to(root)}\n")
    done = run_install(root, prefix, "--public-key", str(pub))
    assert done.returncode == 2 and "not signed by the key" in done.stderr
    assert not (prefix / "releases").exists()


@needs_tools
def test_wrong_or_missing_key_is_refused(bundle, tmp_path):
    root, _, _ = bundle
    other_key, other_pub = tmp_path / "other.key", tmp_path / "other.pub"
    seal("keygen", str(other_key), str(other_pub))
    done = run_install(root, tmp_path / "opt", "--public-key", str(other_pub))
    assert done.returncode == 2 and "not signed by the key" in done.stderr
    done = run_install(root, tmp_path / "opt")
    assert done.returncode == 2 and "no release public key" in done.stderr
    assert not (tmp_path / "opt" / "releases").exists()


@needs_tools
def test_a_changed_wheel_is_refused(bundle, tmp_path):
    root, _, pub = bundle
    tiny = root / "wheelhouse" / "tinydep-1.0-py3-none-any.whl"
    tiny.write_bytes(tiny.read_bytes() + b"\0")
    done = run_install(root, tmp_path / "opt", "--public-key", str(pub))
    assert done.returncode == 2 and "does not match SHA256SUMS" in done.stderr


def test_every_dependency_has_an_upper_bound_the_tested_versions_meet():
    from importlib.metadata import version

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    constraints = {line.split("==")[0]: line.split("==")[1]
                   for line in (ROOT / "packaging" / "constraints.txt").read_text().splitlines()
                   if "==" in line and not line.startswith("#")}
    for spec in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        req = Requirement(spec)
        assert any(s.operator in ("<", "<=", "==", "~=") for s in req.specifier), spec
        assert req.specifier.contains(version(req.name), prereleases=True), (spec, version(req.name))
        if req.name in constraints:
            assert req.specifier.contains(constraints[req.name]), (spec, constraints[req.name])
