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
import sys
from pathlib import Path

# The signing code is the package's (edgeagent/signing.py), shared with update bundles;
# run from a checkout, so the package is importable without being installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edgeagent.signing import (
    KeyFileError,
    keygen,
    load_private_key,
    sha256_file,
    sign,
)
from edgeagent.signing import lock_text as wheels_lock_text

LOCK = "requirements.lock"
MANIFEST = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"


def lock_text(wheelhouse: Path) -> str:
    """The hashed lock of every wheel in `wheelhouse`."""
    try:
        return wheels_lock_text(list(wheelhouse.glob("*.whl")))
    except ValueError as exc:
        raise SystemExit(f"seal: {exc} in {wheelhouse}") from None


def manifest_text(bundle: Path) -> str:
    """`sha256  path` for every file but the manifest and its signature, sorted."""
    files = sorted(p for p in bundle.rglob("*")
                   if p.is_file() and p.name not in (MANIFEST, SIGNATURE))
    return "".join(f"{sha256_file(p)}  {p.relative_to(bundle).as_posix()}\n" for p in files)


def seal(bundle: Path, signing_key: Path) -> None:
    try:
        key = load_private_key(signing_key)
    except KeyFileError as exc:
        raise SystemExit(f"seal: {exc}") from None
    (bundle / LOCK).write_text(lock_text(bundle / "wheelhouse"))
    manifest = manifest_text(bundle).encode()
    (bundle / MANIFEST).write_bytes(manifest)
    (bundle / SIGNATURE).write_bytes(sign(key, manifest))


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
