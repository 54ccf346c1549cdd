"""One daemon per outbox: an exclusive `flock` on `<outbox>.lock`, held for the process's life.

Two agents on one outbox would number events from the same counter. A second
one waits (bounded, as for a locked database) and then gives up with
OutboxLocked, which `edgeagent run` turns into exit 75 (EX_TEMPFAIL) so that
systemd tries again later; the first one is never disturbed. The kernel drops
the lock when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from edgeagent.errors import OutboxLocked, OutboxUnwritable

POLL_S = 0.2


class InstanceLock:
    """The held lock; `release()` (or process exit) lets the next agent in."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# A second `edgeagent run` on the same outbox gives up within 10 s (exit 75, retryable):
# long enough for a restarting agent to let go, short enough for a technician.
INSTANCE_WAIT_S = 8.0


def lock_path(outbox: str | os.PathLike[str]) -> Path:
    return Path(f"{outbox}.lock")


def hold_instance_lock(outbox: str | os.PathLike[str], wait: float) -> InstanceLock:
    """Take the outbox's daemon lock, waiting up to `wait` seconds for another agent."""
    path = lock_path(outbox)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise OutboxUnwritable(
            f"outbox lock {path} cannot be created ({exc}). Fix: give the agent's user "
            f"its directory: sudo chown -R <agent user>: {path.parent}") from exc
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(fd)
                os.close(fd)
                raise OutboxLocked(f"another edgeagent{holder} is running on {outbox} "
                                   f"(lock {path}); gave up after {wait:g} s") from None
            time.sleep(POLL_S)
            continue
        except OSError:
            os.close(fd)
            raise
        break
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return InstanceLock(path, fd)


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f" (pid {pid})"
    return ""
