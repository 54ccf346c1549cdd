"""The seq high-water mark, kept outside the outbox file, so a new outbox never reuses a seq.

If the outbox file is lost (data directory removed, SD card swapped, file
deleted), a fresh one would count from 1 again and the platform would get
seq 1, 2, 3 ... twice with different ids. So the outbox reserves seqs in
blocks of SEQ_RESERVE and records each reservation here before using it
(`<outbox>.seq`, written to a temporary file, fsynced, renamed into place;
one fsync per block, not per event). The retained `status` at the broker
carries the same figure. On start with a new outbox the agent continues
above the highest of them and raises an `outbox_lost` event naming the
range that may be missing (`lost_range`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SEQ_RESERVE = 1000


@dataclass(frozen=True, slots=True)
class SeqMark:
    """No seq above `high_water_seq` was issued; `last_seq`/`last_acked_seq` when written."""

    high_water_seq: int
    last_seq: int
    last_acked_seq: int


def mark_path(outbox: str | os.PathLike[str]) -> Path:
    return Path(f"{outbox}.seq")


def read_mark(path: Path) -> SeqMark | None:
    """The recorded mark, or None when there is none (or it is unreadable: said in the log)."""
    try:
        doc = json.loads(path.read_text())
        return SeqMark(int(doc["high_water_seq"]), int(doc["last_seq"]),
                       int(doc["last_acked_seq"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("seq high-water mark %s is unreadable (%s); ignored", path, exc)  # noqa: TRY400
        return None


def write_mark(path: Path, mark: SeqMark) -> None:
    """Atomically replace the mark, durably: fsync the file, rename, fsync the directory.

    Recreates the directory if it was removed, so a running agent can put the mark
    back after its data directory vanished.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.write(fd, json.dumps(asdict(mark)).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()  # a full disk leaves no half-written temporary behind
        raise
    with contextlib.suppress(OSError):  # some filesystems refuse to open a directory
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def remote_mark(status: dict[str, Any] | None) -> SeqMark | None:
    """The mark the broker's retained status of this home carries, if any."""
    if not isinstance(status, dict):
        return None
    outbox: dict[str, Any] = status.get("outbox") or {}
    if not isinstance(outbox, dict):
        return None
    try:
        last_seq = int(outbox.get("last_seq") or 0)
        high = int(status.get("high_water_seq") or 0)
        acked = int(status.get("last_acked_seq") or outbox.get("last_delivered_seq") or 0)
    except (TypeError, ValueError, OverflowError):
        return None
    if not high and not last_seq:
        return None
    return SeqMark(max(high, last_seq), last_seq, acked)


def lost_range(*, fresh: bool, last_seq: int, last_acked_seq: int,
               marks: list[SeqMark | None]) -> tuple[int, int] | None:
    """The seqs that may be missing when this outbox is not the one that issued the marks.

    `fresh`: the outbox file was created (or rebuilt from nothing) at this start. An
    outbox older than a mark (`last_seq` below what the mark saw committed) lost events
    too. Returns (first, last): continue above `last`, report both; None when nothing
    was lost.
    """
    known = [m for m in marks if m is not None]
    if not known:
        return None
    floor = max(m.high_water_seq for m in known)
    behind = any(last_seq < m.last_seq for m in known)
    if floor <= last_seq or not (fresh or behind):
        return None
    acked = max([last_acked_seq, *(m.last_acked_seq for m in known)])
    return max(acked, last_seq) + 1, floor
