"""Fetch a bundle over HTTP(S): resumable, bounded, checked against the announced sha256.

Blocking (urllib); the agent runs it in a worker thread. A connection cut
short is resumed with a Range request from what is already on disk; a
server that ignores Range starts the file over. Nothing beyond `max_bytes`
is ever written.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from edgeagent.errors import EdgeAgentError

CHUNK = 1 << 16


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead off the allowed hosts: it is an error, never followed."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class DownloadError(EdgeAgentError, RuntimeError):
    """The bundle could not be fetched whole; the message says why."""


def check_url(url: str, allowed_hosts: list[str]) -> None:
    """Refuse (ValueError) a URL that is not http(s) on an allowed host."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"url scheme must be http or https, not {parsed.scheme!r}")
    if not parsed.hostname or parsed.hostname not in allowed_hosts:
        raise ValueError(f"host {parsed.hostname!r} is not in updates.allowed_hosts")
    if parsed.username or parsed.password:
        raise ValueError("url must not carry credentials")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path, *, sha256: str, max_bytes: int, attempts: int = 3,
             timeout: float = 30.0) -> Path:
    """`url` into `dest` (through `dest.part`, resumed across attempts); its sha256 checked."""
    part = dest.with_name(dest.name + ".part")
    last_error = ""
    for _ in range(attempts):
        try:
            if _fetch(url, part, max_bytes, timeout):
                break
            last_error = "the server closed the connection before the end"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            last_error = str(getattr(exc, "reason", exc))
    else:
        raise DownloadError(f"truncated download after {attempts} attempts "
                            f"({part.stat().st_size if part.exists() else 0} bytes): "
                            f"{last_error}")
    got = _sha256(part)
    if got != sha256:
        part.unlink(missing_ok=True)
        raise DownloadError(f"hash mismatch: the download's sha256 is {got}, the command "
                            f"announced {sha256}")
    part.replace(dest)
    return dest


def _fetch(url: str, part: Path, max_bytes: int, timeout: float) -> bool:
    """One attempt; True when the body ended where the server said it would."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(  # noqa: S310 - check_url allowed only http(s)
        url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing after what we have: complete
            return True
        raise DownloadError(f"HTTP {exc.code} {exc.reason}") from None
    with response:
        if response.status == 200:
            have = 0  # no resume: start over
        length = response.headers.get("Content-Length")
        expected = have + int(length) if length and length.isdigit() else None
        if expected is not None and expected > max_bytes:
            raise DownloadError(f"bundle of {expected} bytes exceeds updates.max_bytes "
                                f"({max_bytes})")
        with part.open("r+b" if have else "wb") as out:
            out.seek(have)
            out.truncate()
            written = have
            try:
                for block in iter(lambda: response.read(CHUNK), b""):
                    written += len(block)
                    if written > max_bytes:
                        raise DownloadError(f"bundle exceeds updates.max_bytes ({max_bytes})")
                    out.write(block)
            except http.client.IncompleteRead as exc:
                out.write(exc.partial)
                return False
    return expected is None or written == expected
