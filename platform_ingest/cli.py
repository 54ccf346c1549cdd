"""`edgeagent-platform run|status`: the reference ingest's command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from edgeagent_platform.report import as_json, counters, home_report, render
from edgeagent_platform.store import Store, StoreError
from edgeagent_platform.worker import Worker, WorkerConfig

DEFAULT_DB = "sqlite:///edgeagent-platform.db"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgeagent-platform", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one ingest worker (start several to share the load)")
    run.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    run.add_argument("--prefix", default="care", help="the agents' mqtt.topic_prefix")
    run.add_argument("--db", default=DEFAULT_DB,
                     help="sqlite:///path (default) or postgresql://user@host:port/db")
    run.add_argument("--group", default="ingest", help="shared subscription group")
    run.add_argument("--protocol", choices=("5", "3.1.1"), default="5",
                     help="3.1.1: a plain subscription; run one worker only")
    run.add_argument("--name", help="this worker's stable name (its MQTT session)")
    run.add_argument("--gap-grace-s", type=float, default=30.0)
    run.add_argument("--session-expiry-s", type=int, default=0,
                     help="keep this worker's session (and its queue) after a disconnect")
    run.add_argument("-v", "--verbose", action="store_true")
    status = sub.add_parser("status", help="per home: online, last event, watermark, gaps, "
                                           "lost, open alerts")
    status.add_argument("--db", default=DEFAULT_DB)
    status.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "status":
            store = Store(args.db)
            try:
                report, totals = home_report(store), counters(store)
            finally:
                store.close()
            print(as_json(report, totals) if args.json else render(report, totals))
            return 0
        return _run(args)
    except StoreError as exc:
        print(f"edgeagent-platform: {exc}", file=sys.stderr)
        return 2


def _run(args: Any) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.gap_grace_s <= 0:
        print("edgeagent-platform: --gap-grace-s must be > 0", file=sys.stderr)
        return 2
    cfg = WorkerConfig(broker=args.broker, prefix=args.prefix, db=args.db,
                       group=args.group if args.protocol == "5" else None,
                       protocol=args.protocol, gap_grace_s=args.gap_grace_s,
                       session_expiry_s=args.session_expiry_s)
    if args.name:
        cfg.name = args.name
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = Worker(cfg)
    logging.getLogger(__name__).info("worker %s: %s -> %s", cfg.name, cfg.broker, cfg.db)
    worker.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
