"""A private mosquitto: free loopback port, its own config, stoppable, killable, restartable.

The demo runs one so it talks to a real broker without touching the machine's
own (Debian starts a system mosquitto on 1883; this one never uses that). The
test suite and the benches start theirs through the same class.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

# Debian installs the broker in /usr/sbin, which is not on a user's PATH.
FALLBACK_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
INSTALL_HINT = "sudo apt-get install -y mosquitto"


def find_mosquitto() -> str | None:
    """The mosquitto executable, or None when it is not installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((path for path in FALLBACK_PATHS if os.access(path, os.X_OK)), None)


MOSQUITTO = find_mosquitto() or FALLBACK_PATHS[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, up: bool = True, timeout: float = 10.0) -> None:
    """Poll until the port accepts (or refuses) connections; a condition, not a sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.02)
    raise TimeoutError(f"port {port} did not become {'open' if up else 'closed'}")


class Mosquitto:
    """Start/stop/kill a real broker. `extra` is appended to the listener's config."""

    def __init__(self, workdir: Path, *, port: int | None = None, persistence: bool = False,
                 extra: str = "", listener_extra: str = "", log_types: str = "all",
                 executable: str | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.persistence = persistence
        self.extra = extra
        self.listener_extra = listener_extra
        self.log_types = log_types.split()
        self.executable = executable or MOSQUITTO
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "mosquitto.log"
        self.stderr_path = workdir / "mosquitto.stderr"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def write_conf(self) -> Path:
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            self.listener_extra,
            "allow_anonymous true" if "allow_anonymous" not in self.extra + self.listener_extra
            else "",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            f"log_dest file {self.log}",
            *(f"log_type {kind}" for kind in self.log_types),
            "max_queued_messages 0",
            # Started as root, mosquitto drops to user `mosquitto` and then silently cannot
            # write its persistence file in our root-owned temp dir: stay root instead.
            "user root" if os.geteuid() == 0 and "user " not in self.extra else "",
            "per_listener_settings false" if "per_listener_settings" not in self.extra else "",
            self.extra,
        ]
        conf.write_text("\n".join(line for line in lines if line) + "\n")
        return conf

    def start(self) -> Mosquitto:
        conf = self.write_conf()
        # A config error is printed before the log file opens: keep stderr for the report.
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [self.executable, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=stderr)
        if not self._listening(timeout=10.0):
            self.stop()
            said = self.stderr_path.read_text(errors="replace") + self.log_text()
            raise RuntimeError(f"mosquitto failed to start: {said[-2000:]}")
        return self

    def _listening(self, timeout: float) -> bool:
        """Wait until the port accepts; False at once if the process exits (bad config, port
        taken), so a failed start is reported without waiting out the timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self) -> None:
        """Clean stop (SIGTERM): mosquitto saves persistence on the way out."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
