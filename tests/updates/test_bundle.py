"""Update bundles: `edgeagent update build` signs, `update verify` refuses with the reason.

Bundles are built by the real CLI from small wheels made in the test (as the
offline-package tests do) with throwaway Ed25519 keys; each refusal is a real
bundle altered the way an attacker or a broken download would alter it.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from edgeagent.cli.main import main
from edgeagent.signing import keygen, load_private_key, sign
from tests.provision.test_offline_package import make_wheel


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "release.key", tmp_path / "release.pub"
    keygen(private, public)
    return private, public


def wheelhouse(dest: Path, version: str = "0.2.0") -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    make_wheel(dest, "edgeagent", version, {"edgeagent_stub.py": "VERSION = 1\n"},
               requires=["tinydep"])
    make_wheel(dest, "tinydep", "1.0", {"tinydep.py": "VALUE = 1\n"})
    return dest


def build(tmp_path: Path, key: Path, *extra: str, version: str = "0.2.0",
          name: str = "update.tar") -> Path:
    out = tmp_path / name
    house = wheelhouse(tmp_path / f"wheels-{version}", version)
    assert main(["update", "build", "--key", str(key), "--out", str(out),
                 "--wheelhouse", str(house), *extra]) == 0
    return out


def verify(bundle: Path, pub: Path, *extra: str, installed: str = "0.1.0") -> int:
    return main(["update", "verify", str(bundle), "--pubkey", str(pub),
                 "--installed-version", installed, *extra])


def rewrite(bundle: Path, change: dict[str, bytes | None]) -> None:
    """Copy the tar member by member, replacing (bytes) or dropping (None) the named ones."""
    with tarfile.open(bundle) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    names = {m.name for m, _ in members}
    with tarfile.open(bundle, "w") as tar:
        for info, data in members:
            if info.name in change:
                if change[info.name] is None:
                    continue
                data = change[info.name]  # type: ignore[assignment]
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, data in change.items():
            if name not in names and data is not None:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def read(bundle: Path, name: str) -> bytes:
    with tarfile.open(bundle) as tar:
        return tar.extractfile(name).read()  # type: ignore[union-attr]


def test_bundle_holds_the_documented_manifest_and_a_raw_signature(tmp_path, keys, capsys):
    private, public = keys
    bundle = build(tmp_path, private, "--min-version", "0.1.0")
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert names[:2] == ["manifest.json", "manifest.sig"]
    assert sorted(names[2:]) == ["wheels/edgeagent-0.2.0-py3-none-any.whl",
                                 "wheels/tinydep-1.0-py3-none-any.whl"]
    manifest = json.loads(read(bundle, "manifest.json"))
    assert manifest["format"] == "edgeagent-update/1"
    assert (manifest["version"], manifest["min_version"]) == ("0.2.0", "0.1.0")
    assert {f["path"] for f in manifest["files"]} == set(names[2:])
    signature = read(bundle, "manifest.sig")
    assert len(signature) == 64
    key = load_pem_public_key(public.read_bytes())
    assert isinstance(key, Ed25519PublicKey)
    key.verify(signature, read(bundle, "manifest.json"))  # raises if not the exact bytes
    if shutil.which("openssl"):  # the same check a shell on the kit can make
        (tmp_path / "m.json").write_bytes(read(bundle, "manifest.json"))
        (tmp_path / "m.sig").write_bytes(signature)
        subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(public),
                        "-rawin", "-in", str(tmp_path / "m.json"), "-sigfile",
                        str(tmp_path / "m.sig")], check=True, capture_output=True)
    capsys.readouterr()
    assert verify(bundle, public) == 0
    assert "valid: edgeagent-update 0.2.0" in capsys.readouterr().out


def test_build_takes_the_wheels_of_an_offline_package(tmp_path, keys, capsys):
    private, public = keys
    house = wheelhouse(tmp_path / "pkg" / "edgeagent-0.2.0-host" / "wheelhouse")
    package = tmp_path / "edgeagent-0.2.0-host.tar.gz"
    with tarfile.open(package, "w:gz") as tar:
        tar.add(house.parent, arcname="edgeagent-0.2.0-host")
    out = tmp_path / "u.tar"
    assert main(["update", "build", "--key", str(private), "--out", str(out),
                 "--wheelhouse", str(package)]) == 0
    assert verify(out, public) == 0


@pytest.mark.parametrize("case,reason", [
    ("wrong key", "bad signature"),
    ("re-signed manifest without the key", "bad signature"),
    ("tampered wheel", "hash mismatch"),
    ("missing wheel", "missing file"),
    ("truncated download", "missing file"),
    ("unlisted wheel", "unlisted file"),
    ("signed manifest of another format", "unknown format"),
    ("not a tar", "unknown format"),
])
def test_a_bad_bundle_is_refused_with_its_reason(tmp_path, keys, capsys, case, reason):
    private, public = keys
    bundle = build(tmp_path, private)
    wheel = "wheels/tinydep-1.0-py3-none-any.whl"
    if case == "wrong key":
        other, other_pub = tmp_path / "o.key", tmp_path / "o.pub"
        keygen(other, other_pub)
        public = other_pub
    elif case == "re-signed manifest without the key":
        body = read(bundle, "manifest.json").replace(b"0.2.0", b"9.9.9")
        rewrite(bundle, {"manifest.json": body})
    elif case == "tampered wheel":
        rewrite(bundle, {wheel: read(bundle, wheel) + b"\0"})
    elif case == "missing wheel":
        rewrite(bundle, {wheel: None})
    elif case == "truncated download":
        data = bundle.read_bytes()
        bundle.write_bytes(data[: len(data) // 2])
    elif case == "unlisted wheel":
        rewrite(bundle, {"wheels/evil-6.6.6-py3-none-any.whl": b"PK"})
    elif case == "signed manifest of another format":
        body = read(bundle, "manifest.json").replace(b"edgeagent-update/1", b"edgeagent-update/2")
        rewrite(bundle, {"manifest.json": body,
                         "manifest.sig": sign(load_private_key(private), body)})
    elif case == "not a tar":
        bundle.write_bytes(b"<html>proxy error</html>\n")
    capsys.readouterr()
    assert verify(bundle, public) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"refused: {reason}: "), out


def test_downgrades_are_refused_unless_allowed_locally(tmp_path, keys, capsys):
    private, public = keys
    old = build(tmp_path, private, version="0.2.0")
    capsys.readouterr()
    assert verify(old, public, installed="0.3.0") == 1
    assert capsys.readouterr().out.startswith("refused: downgrade: bundle 0.2.0 is older than "
                                              "installed 0.3.0")
    assert verify(old, public, "--allow-downgrade", installed="0.3.0") == 0
    assert verify(old, public, installed="0.2.0") == 0  # the same version: a re-install
    needs_new = build(tmp_path, private, "--min-version", "0.2.0", version="0.4.0",
                      name="new.tar")
    capsys.readouterr()
    assert verify(needs_new, public, "--allow-downgrade", installed="0.1.9") == 1
    assert capsys.readouterr().out.startswith(
        "refused: downgrade below min_version: installed 0.1.9 is older than this bundle's "
        "min_version 0.2.0")


def test_the_kit_trusts_the_keys_directory_only(tmp_path, keys, capsys, monkeypatch):
    private, public = keys
    bundle = build(tmp_path, private)
    trusted = tmp_path / "update-keys"
    trusted.mkdir()
    monkeypatch.setenv("EDGEAGENT_UPDATE_KEYS", str(trusted))
    args = ["update", "verify", str(bundle), "--installed-version", "0.1.0"]
    capsys.readouterr()
    assert main(args) == 1
    assert capsys.readouterr().out.startswith("refused: no trusted key: ")
    other, other_pub = tmp_path / "o.key", tmp_path / "o.pub"
    keygen(other, other_pub)
    shutil.copy(other_pub, trusted / "old-fleet.pem")
    assert main(args) == 1
    assert "bad signature" in capsys.readouterr().out
    shutil.copy(public, trusted / "release.pem")  # a second key: rotation keeps both
    assert main(args) == 0
    assert main([*args[:3], "--keys-dir", str(tmp_path / "elsewhere"), *args[3:]]) == 1
