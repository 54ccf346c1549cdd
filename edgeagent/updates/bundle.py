"""The update bundle: a tar of manifest.json, manifest.sig and the release's wheels.

The manifest lists every wheel with its sha256 and is signed (raw Ed25519
over its exact bytes) by a release key the kit trusts. Verification checks
the signature before it parses anything, then the format, the versions and
every file; nothing of a bundle that fails is kept. See docs/updates.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from edgeagent.errors import EdgeAgentError
from edgeagent.signing import KeyFileError, load_public_key, sha256_file, sign, verifies

FORMAT = "edgeagent-update/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
UPDATE_KEYS_DIR = Path("/etc/edgeagent/update-keys")
KEYS_ENV = "EDGEAGENT_UPDATE_KEYS"  # tests and technicians' laptops point it elsewhere
MAX_MANIFEST_BYTES = 1 << 20
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_WHEEL_PATH = re.compile(r"^wheels/[A-Za-z0-9_.+!-]+\.whl$")

# Reasons a bundle is refused (the CLI prints them, update events carry them).
BAD_SIGNATURE = "bad signature"
MISSING_FILE = "missing file"
HASH_MISMATCH = "hash mismatch"
BELOW_MIN_VERSION = "downgrade below min_version"
DOWNGRADE = "downgrade"
UNKNOWN_FORMAT = "unknown format"
UNLISTED_FILE = "unlisted file"
NO_TRUSTED_KEY = "no trusted key"


class BundleRefused(EdgeAgentError):
    """The bundle must not be installed: `reason` is one of the constants above."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_version(text: str) -> tuple[int, int, int]:
    """`X.Y.Z` as a comparable tuple; anything else is a ValueError."""
    match = _VERSION.match(text)
    if not match:
        raise ValueError(f"version {text!r} is not X.Y.Z")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


@dataclass(frozen=True, slots=True)
class Manifest:
    version: str
    min_version: str
    created: str
    files: tuple[tuple[str, str], ...]  # (path, sha256)

    def to_bytes(self) -> bytes:
        doc = {"format": FORMAT, "version": self.version, "min_version": self.min_version,
               "created": self.created,
               "files": [{"path": p, "sha256": h} for p, h in self.files]}
        return (json.dumps(doc, indent=2) + "\n").encode()

    @property
    def wheel_names(self) -> list[str]:
        return [p.removeprefix("wheels/") for p, _ in self.files]


def trusted_keys(pubkey: Path | None = None,
                 keys_dir: Path | None = None) -> list[Ed25519PublicKey]:
    """`pubkey` alone when given, else every `*.pem`/`*.pub` in the trusted keys directory."""
    if pubkey is not None:
        paths = [pubkey]
    else:
        folder = keys_dir or Path(os.environ.get(KEYS_ENV) or UPDATE_KEYS_DIR)
        paths = sorted(p for p in folder.glob("*") if p.suffix in (".pem", ".pub")) \
            if folder.is_dir() else []
        if not paths:
            raise BundleRefused(NO_TRUSTED_KEY, f"no public key in {folder}")
    try:
        return [load_public_key(p) for p in paths]
    except (OSError, KeyFileError) as exc:
        raise BundleRefused(NO_TRUSTED_KEY, str(exc)) from None


def build_bundle(wheels: Iterable[Path], key: Ed25519PrivateKey, out: Path, *, version: str,
                 min_version: str, created: datetime | None = None) -> Manifest:
    """Write a signed bundle of `wheels` to `out` (through a temporary file, then renamed)."""
    parse_version(version)
    parse_version(min_version)
    wheels = sorted(wheels, key=lambda w: w.name)
    if not wheels:
        raise ValueError("no wheels to bundle")
    stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = Manifest(version, min_version, stamp,
                        tuple((f"wheels/{w.name}", sha256_file(w)) for w in wheels))
    body = manifest.to_bytes()
    tmp = out.with_name(f".{out.name}.tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, MANIFEST, body)
        _add_bytes(tar, SIGNATURE, sign(key, body))
        for wheel in wheels:
            tar.add(wheel, arcname=f"wheels/{wheel.name}", recursive=False,
                    filter=_normalise)
    tmp.replace(out)
    return manifest


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o644
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = _normalise(tarfile.TarInfo(name))
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _read_member(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str,
                 limit: int) -> bytes | None:
    info = members.get(name)
    if info is None or not info.isfile() or info.size > limit:
        return None
    fh = tar.extractfile(info)
    return fh.read() if fh else None


def _parse_manifest(body: bytes) -> Manifest:
    try:
        doc: Any = json.loads(body)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else None
            raise BundleRefused(UNKNOWN_FORMAT, f"manifest format {found!r}, expected {FORMAT!r}")
        version, min_version = str(doc["version"]), str(doc["min_version"])
        parse_version(version)
        parse_version(min_version)
        files = tuple((str(f["path"]), str(f["sha256"])) for f in doc["files"])
        created = str(doc.get("created", ""))
    except BundleRefused:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleRefused(UNKNOWN_FORMAT, f"manifest.json: {exc}") from None
    for path, digest in files:
        if not _WHEEL_PATH.match(path) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise BundleRefused(UNKNOWN_FORMAT, f"manifest.json: bad file entry {path!r}")
    if len({p for p, _ in files}) != len(files) or not files:
        raise BundleRefused(UNKNOWN_FORMAT, "manifest.json: no files, or a file listed twice")
    return Manifest(version, min_version, created, files)


def check_versions(manifest: Manifest, installed: str, *, allow_downgrade: bool) -> None:
    """Refuse a bundle the installed version may not take (see docs/updates.md)."""
    have = parse_version(installed)
    if have < parse_version(manifest.min_version):
        raise BundleRefused(BELOW_MIN_VERSION, f"installed {installed} is older than this "
                            f"bundle's min_version {manifest.min_version}")
    if parse_version(manifest.version) < have and not allow_downgrade:
        raise BundleRefused(DOWNGRADE, f"bundle {manifest.version} is older than installed "
                            f"{installed} (a technician may pass --allow-downgrade)")


def verify_bundle(path: Path, keys: list[Ed25519PublicKey], *, installed: str,
                  allow_downgrade: bool = False, extract_to: Path | None = None) -> Manifest:
    """Check `path` completely; with `extract_to`, leave its wheels there (only if it passes).

    The wheels are hashed as they are written, so what is checked is what is installed.
    """
    written: list[Path] = []
    try:
        with tarfile.open(path, "r:") as tar:
            manifest = _verify_open(tar, keys, installed, allow_downgrade, extract_to, written)
    except (OSError, tarfile.TarError) as exc:
        _remove(written)
        raise BundleRefused(UNKNOWN_FORMAT, f"not a readable update bundle (tar): {exc}") from None
    except BaseException:
        _remove(written)
        raise
    return manifest


def _remove(files: list[Path]) -> None:
    for file in files:
        file.unlink(missing_ok=True)


def _verify_open(tar: tarfile.TarFile, keys: list[Ed25519PublicKey], installed: str,  # noqa: C901 - each refusal of a bundle is its own check, in the order an attacker would try
                 allow_downgrade: bool, extract_to: Path | None, written: list[Path]) -> Manifest:
    members: dict[str, tarfile.TarInfo] = {}
    ends_early = ""
    try:
        for member in tar:
            members[member.name] = member
    except tarfile.ReadError as exc:  # a truncated download: keep what came before the cut
        ends_early = f" (the bundle ends early: {exc})"
    body = _read_member(tar, members, MANIFEST, MAX_MANIFEST_BYTES)
    if body is None:
        raise BundleRefused(UNKNOWN_FORMAT, f"no {MANIFEST}")
    signature = _read_member(tar, members, SIGNATURE, 64)
    if signature is None or not verifies(keys, body, signature):
        raise BundleRefused(BAD_SIGNATURE, f"{MANIFEST} is not signed by a trusted key")
    manifest = _parse_manifest(body)
    check_versions(manifest, installed, allow_downgrade=allow_downgrade)
    listed = dict(manifest.files)
    extra = sorted(set(members) - set(listed) - {MANIFEST, SIGNATURE})
    if extra:
        raise BundleRefused(UNLISTED_FILE, ", ".join(extra))
    if extract_to is not None:
        extract_to.mkdir(parents=True, exist_ok=True)
    for name, digest in manifest.files:
        target = extract_to / Path(name).name if extract_to is not None else None
        if target is not None:
            written.append(target)
        if name not in members:
            raise BundleRefused(MISSING_FILE, name + ends_early)
        _check_member(tar, members[name], name, digest, target)
    if ends_early:
        raise BundleRefused(UNKNOWN_FORMAT, ends_early.strip(" ()"))
    return manifest


def _check_member(tar: tarfile.TarFile, info: tarfile.TarInfo, name: str, digest: str,
                  target: Path | None) -> None:
    if not info.isfile():
        raise BundleRefused(MISSING_FILE, name)
    try:
        source = tar.extractfile(info)
        if source is None:
            raise BundleRefused(MISSING_FILE, name)
        hasher = hashlib.sha256()
        out = target.open("wb") if target is not None else None
        try:
            for block in iter(lambda: source.read(1 << 20), b""):
                hasher.update(block)
                if out is not None:
                    out.write(block)
            if out is not None:
                out.flush()
                os.fsync(out.fileno())
        finally:
            if out is not None:
                out.close()
    except (OSError, tarfile.TarError, EOFError) as exc:  # a truncated tar ends mid-file
        raise BundleRefused(MISSING_FILE, f"{name}: {exc}") from None
    if hasher.hexdigest() != digest:
        raise BundleRefused(HASH_MISMATCH, f"{name}: sha256 {hasher.hexdigest()}, "
                            f"manifest says {digest}")
