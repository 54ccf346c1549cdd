#!/usr/bin/env python3
"""Seal an offline bundle: hashed lock, manifest of every file, Ed25519 signature.

    seal.py BUNDLE_DIR --signing-key KEY.pem   writes requirements.lock, SHA256SUMS,
                                               SHA256SUMS.sig in BUNDLE_DIR
    seal.py keygen PRIVATE.pem PUBLIC.pem      a new release key pair (keep PRIVATE offline)

`requirements.lock` pins every wheel in `wheelhouse/` by name, version and
sha256, so `pip install --require-hashes --no-index` installs exactly these
files. `SHA256SUMS` lists every file of the bundle; install.sh refuses any
file it does not list, and refuses the manifest unless `SHA256SUMS.sig`
verifies against a public key the technician brought separately (never one
from the bundle). The signature is raw Ed25519 over the manifest's bytes,
checked on the kit with `openssl pkeyutl -verify -rawin` (no Python needed).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

LOCK = "requirements.lock"
MANIFEST = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wheel_pin(wheel: Path) -> tuple[str, str]:
    """(normalised name, version) from a wheel's file name (PEP 427)."""
    name, version = wheel.name.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def lock_text(wheelhouse: Path) -> str:
    """One `name==version --hash=...` line per distribution, every wheel's hash on it."""
    hashes: dict[tuple[str, str], list[str]] = {}
    for wheel in sorted(wheelhouse.glob("*.whl")):
        hashes.setdefault(wheel_pin(wheel), []).append(sha256(wheel))
    names = [name for name, _ in hashes]
    twice = {n for n in names if names.count(n) > 1}
    if twice:
        raise SystemExit(f"seal: two versions of {', '.join(sorted(twice))} in {wheelhouse}")
    lines = ["# Every wheel of this bundle, pinned and hashed (pip --require-hashes)."]
    for (name, version), digests in sorted(hashes.items()):
        pins = " ".join(f"--hash=sha256:{d}" for d in sorted(digests))
        lines.append(f"{name}=={version} {pins}")
    return "\n".join(lines) + "\n"


def manifest_text(bundle: Path) -> str:
    """`sha256  path` for every file but the manifest and its signature, sorted."""
    files = sorted(p for p in bundle.rglob("*")
                   if p.is_file() and p.name not in (MANIFEST, SIGNATURE))
    return "".join(f"{sha256(p)}  {p.relative_to(bundle).as_posix()}\n" for p in files)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit(f"seal: {path} is not an Ed25519 private key")
    return key


def seal(bundle: Path, signing_key: Path) -> None:
    key = load_private_key(signing_key)
    (bundle / LOCK).write_text(lock_text(bundle / "wheelhouse"))
    manifest = manifest_text(bundle).encode()
    (bundle / MANIFEST).write_bytes(manifest)
    (bundle / SIGNATURE).write_bytes(key.sign(manifest))


def keygen(private: Path, public: Path) -> None:
    key = Ed25519PrivateKey.generate()
    private.touch(mode=0o600, exist_ok=False)
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def main(argv: list[str]) -> int:
    if argv[:1] == ["keygen"]:
        if len(argv) != 3:
            raise SystemExit("usage: seal.py keygen PRIVATE.pem PUBLIC.pem")
        keygen(Path(argv[1]), Path(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description="seal an offline bundle")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--signing-key", type=Path, required=True)
    args = parser.parse_args(argv)
    seal(args.bundle, args.signing_key)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
