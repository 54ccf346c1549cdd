"""A private PostgreSQL per test session: free loopback port, its own data directory.

PostgreSQL refuses to run as root (and CI runs as root), so `initdb` and
`postgres` run as `nobody` through `setpriv` (which execs: the process we hold
is the server itself), in a directory that user owns.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support.mosquitto import free_port, wait_port
from tests.support.waiting import wait_until


def _binary(name: str) -> str:
    """Debian keeps the server binaries under /usr/lib/postgresql/<major>/bin: the newest."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if found:
        return str(found[-1])
    return shutil.which(name) or name


class Postgres:
    """initdb + postgres on 127.0.0.1:<free port>, trust auth, superuser `postgres`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="edgeagent-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.root / "postgres.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                             "--clear-groups", "--"]
            os.chown(self.root, 65534, 65534)
        self.root.chmod(0o755)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> Postgres:
        subprocess.run([*self._as_user, _binary("initdb"), "-D", str(self.data), "-A", "trust",
                        "-U", "postgres", "--no-sync", "-E", "UTF8"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self._as_user, _binary("postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-k", str(self.root), "-c", "listen_addresses=127.0.0.1",
                 "-c", "max_connections=60", "-c", "shared_buffers=64MB"],
                stdout=log, stderr=log)
        try:
            wait_port(self.port, timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"postgres failed to start: {self.log.read_text()[-2000:]}") \
                from None
        wait_until(self._accepts_queries, 30, "postgres accepting queries")
        return self

    def _accepts_queries(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url(), connect_timeout=2):
                return True
        except psycopg.OperationalError:  # "the database system is starting up"
            return False

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)
