"""The demo's platform side also runs the reference ingest, as a municipality would.

When the platform package (`edgeagent-platform`, extra `[platform]`) is
installed, the demo starts one ingest worker on the demo's broker: embedded
SQLite in the demo's data directory, one worker with a plain subscription
(no shared-subscription group is needed for one worker). At the end the demo
prints the ingest's view of the home: watermark, gaps, lost ranges, open
alerts. Without the package the demo shows the printing view only.

The demo's kit runs on an accelerated clock, so it would refuse the ingest's
`resend` commands as stale; the demo's broker drops nothing, so the ingest
waits an hour (`gap_grace_s`) before it would ask.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

DEMO_GAP_GRACE_S = 3600.0


def available() -> bool:
    """The platform package and a schema validator are installed."""
    return all(importlib.util.find_spec(name) is not None
               for name in ("edgeagent_platform", "jsonschema"))


class DemoIngest:
    """One `edgeagent-platform` worker in a thread of the demo."""

    def __init__(self, url: str, prefix: str, db_path: Path, protocol: str = "5") -> None:
        from edgeagent_platform.worker import Worker, WorkerConfig  # noqa: PLC0415

        self.db = f"sqlite:///{db_path}"
        self.worker = Worker(WorkerConfig(broker=url, prefix=prefix, db=self.db, group=None,
                                          protocol=protocol, name="demo",
                                          gap_grace_s=DEMO_GAP_GRACE_S))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.worker.run, args=(self._stop,),
                                        name="demo-ingest", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self.worker.subscribed.wait(timeout):
            raise TimeoutError("the platform ingest could not subscribe")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def summary(self) -> str:
        """The ingest's status lines (as `edgeagent-platform status` prints them)."""
        from edgeagent_platform.report import counters, home_report, render  # noqa: PLC0415
        from edgeagent_platform.store import Store  # noqa: PLC0415

        store = Store(self.db)
        try:
            report: list[dict[str, Any]] = home_report(store)
            return render(report, counters(store))
        finally:
            store.close()
