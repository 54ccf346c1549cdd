"""Release signing: Ed25519 keys, file hashes and the hashed wheel lock.

One implementation for both artifacts a release ships: the offline package
(packaging/seal.py signs its SHA256SUMS) and the update bundle
(edgeagent/updates/bundle.py signs its manifest.json). Signatures are raw
Ed25519 (64 bytes) over the exact bytes signed, so `openssl pkeyutl -verify
-rawin` checks them too.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edgeagent.errors import EdgeAgentError


class KeyFileError(EdgeAgentError, ValueError):
    """A key file that is not an Ed25519 key of the expected kind; the message says which."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verifies(keys: list[Ed25519PublicKey], data: bytes, signature: bytes) -> bool:
    """True when any of the trusted keys signed `data` (a fleet may rotate keys)."""
    for key in keys:
        try:
            key.verify(signature, data)
        except InvalidSignature:
            continue
        return True
    return False


def keygen(private: Path, public: Path) -> None:
    """A new release key pair; the private file is created 0600 and never overwritten."""
    key = Ed25519PrivateKey.generate()
    private.touch(mode=0o600, exist_ok=False)
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def wheel_pin(wheel: Path) -> tuple[str, str]:
    """(normalised name, version) from a wheel's file name (PEP 427)."""
    name, version = wheel.name.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def lock_text(wheels: list[Path]) -> str:
    """One `name==version --hash=...` line per distribution, every wheel's hash on it.

    Raises ValueError when two versions of one distribution are present: pip
    would pick one and the lock would not say which.
    """
    hashes: dict[tuple[str, str], list[str]] = {}
    for wheel in sorted(wheels):
        hashes.setdefault(wheel_pin(wheel), []).append(sha256_file(wheel))
    names = [name for name, _ in hashes]
    twice = {n for n in names if names.count(n) > 1}
    if twice:
        raise ValueError(f"two versions of {', '.join(sorted(twice))}")
    lines = ["# Every wheel of this bundle, pinned and hashed (pip --require-hashes)."]
    for (name, version), digests in sorted(hashes.items()):
        pins = " ".join(f"--hash=sha256:{d}" for d in sorted(digests))
        lines.append(f"{name}=={version} {pins}")
    return "\n".join(lines) + "\n"
