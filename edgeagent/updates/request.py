"""The hand-over between the unprivileged agent and the root updater: two small JSON files.

The agent cannot write /opt or /etc (ProtectSystem=strict), so a remote
update ends with the agent writing `update-request.json` into its state
directory; systemd's `edgeagent-updater.path` starts the updater, which
takes (removes) the request, verifies the bundle again with the kit's
trusted keys, applies it and writes `update-result.json` there for the
agent to report once it runs again. The request names only a file in the
state directory and a command id: the agent cannot ask for a downgrade, a
path elsewhere, or anything the bundle's signature does not cover.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from edgeagent.errors import EdgeAgentError

REQUEST = "update-request.json"
RESULT = "update-result.json"
CONFIG_NEW = "config-new.toml"  # cmd/config-set's file, beside the request
DOWNLOADS = "updates"  # the agent's downloads, inside the state directory
_BUNDLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.tar$")
MAX_REQUEST_BYTES = 4096


class BadRequest(EdgeAgentError, ValueError):
    """A request file the updater will not act on; the message says why."""


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(doc, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def write_update_request(state_dir: Path, bundle: Path, command_id: str | None) -> Path:
    """Agent side: ask the updater to apply `bundle` (already in state_dir/updates)."""
    if bundle.parent != state_dir / DOWNLOADS or not _BUNDLE_NAME.match(bundle.name):
        raise BadRequest(f"{bundle} is not a bundle in {state_dir / DOWNLOADS}")
    path = state_dir / REQUEST
    write_json_atomic(path, {"kind": "update", "bundle": bundle.name, "id": command_id})
    return path


def write_config_request(state_dir: Path, text: str, command_id: str | None) -> Path:
    """Agent side: ask the updater to install `text` as the config (cmd/config-set)."""
    new = state_dir / CONFIG_NEW
    tmp = new.with_name(f".{new.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(new)
    path = state_dir / REQUEST
    write_json_atomic(path, {"kind": "config", "id": command_id})
    return path


def read_nofollow(path: Path, limit: int) -> bytes:
    """A file of the agent's directory, never through a link it planted; at most `limit`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:  # a link (ELOOP), a FIFO, or nothing there
        raise BadRequest(f"{path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit + 1)


def take_request(path: Path) -> dict[str, Any] | None:
    """Updater side: read and remove the request (a crash must not replay it forever).

    Returns {"id", "bundle": Path} or None when there is none; BadRequest when
    it is malformed (it is removed all the same).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a link (ELOOP) or a FIFO the agent planted
        path.unlink(missing_ok=True)
        raise BadRequest(f"{path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(MAX_REQUEST_BYTES + 1)
    path.unlink(missing_ok=True)
    try:
        doc = json.loads(raw) if len(raw) <= MAX_REQUEST_BYTES else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "config":
        command_id = doc.get("id")
        return {"kind": "config", "id": command_id if isinstance(command_id, str) else None,
                "file": path.parent / CONFIG_NEW}
    if not isinstance(doc, dict) or doc.get("kind") != "update":
        raise BadRequest(f"{path}: not an update request")
    name = doc.get("bundle")
    if not isinstance(name, str) or not _BUNDLE_NAME.match(name):
        raise BadRequest(f"{path}: bundle must be a file name in {DOWNLOADS}/")
    command_id = doc.get("id")
    return {"kind": "update", "id": command_id if isinstance(command_id, str) else None,
            "bundle": path.parent / DOWNLOADS / name}


def read_result(state_dir: Path) -> dict[str, Any] | None:
    """Agent side, at start: the outcome the updater left, if any (removed once reported)."""
    try:
        doc = json.loads((state_dir / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
