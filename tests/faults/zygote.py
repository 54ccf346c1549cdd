"""A pre-imported `edgeagent run` launcher, so kill -9 trials cost milliseconds, not seconds.

Importing the CLI takes over a second on a small machine; a thousand kill
trials would spend most of their time importing. This process imports
everything once, then on `spawn CONFIG LOG` forks a child that runs exactly
`edgeagent run --config CONFIG` (the CLI's own `main`) with stdout/stderr in
LOG, and prints the child's pid. `reap PID` waits for it and prints the status.
The child is a real, separate process: SIGKILL hits it as it would hit the
daemon. Nothing is initialised before the fork (no threads, no event loop,
no logging), so the child starts like a fresh interpreter with warm imports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

PRELOAD = ("edgeagent.cli.main", "edgeagent.supervisor", "edgeagent_mocks.stress")


def _child(config: str, log: str) -> None:
    from edgeagent.cli.main import main

    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        code = main(["run", "--config", config])
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 70
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve() -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    from edgeagent.cli.main import build_parser

    build_parser()  # imports every command module
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "spawn":
            pid = os.fork()
            if pid == 0:
                _child(words[1], words[2])
            print(pid, flush=True)
        elif words[0] == "reap":
            _, status = os.waitpid(int(words[1]), 0)
            print(status, flush=True)


class Zygote:
    """The test-side handle: spawn agents, SIGKILL them, reap them."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.zygote"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("zygote failed to start")

    def _ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def spawn(self, config: Path, log: Path) -> int:
        return int(self._ask(f"spawn {config} {log}"))

    def reap(self, pid: int) -> int:
        return int(self._ask(f"reap {pid}"))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


if __name__ == "__main__":
    serve()
