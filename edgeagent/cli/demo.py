"""`edgeagent demo`: a simulated home, an in-process broker, an accelerated clock.

The main job on embedded defaults: no config file, no broker, no hardware.
The agent that runs is the real one (drivers on gpiozero mock pins, the
heuristics, the SQLite outbox, the paho publisher); only time is faster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edgeagent.clock import ScaledClock
from edgeagent.config import parse_config
from edgeagent.demo.platform_view import PlatformView
from edgeagent.errors import ConfigError
from edgeagent.supervisor import Agent

log = logging.getLogger(__name__)
DEMO_HOME = "demo-001"
DEMO_TZ = "Asia/Shanghai"


def demo_config(broker_url: str, data_dir: Path) -> dict[str, Any]:
    return {
        "home": {"id": DEMO_HOME, "timezone": DEMO_TZ},
        "mqtt": {"urls": [broker_url], "topic_prefix": "care", "backoff_initial": 0.2,
                 "backoff_max": 5.0},
        "outbox": {"path": str(data_dir / "outbox.db")},
        "control": {"socket": str(data_dir / "control.sock")},
        "drivers": [{"type": "mock.home", "name": "home"}],
    }


def start_wall(start: str, tz: str) -> datetime:
    hour, minute = (int(x) for x in start.split(":"))
    local = datetime.now(ZoneInfo(tz)).date()
    return datetime.combine(local, time(hour, minute), ZoneInfo(tz)).astimezone(UTC)


async def run_demo(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="edgeagent-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    broker = None
    url = args.broker
    if url is None:
        from edgeagent.demo.broker import MiniBroker  # noqa: PLC0415 - only without --broker

        broker = MiniBroker()
        port = await broker.start()
        url = f"mqtt://127.0.0.1:{port}"
    try:
        config = parse_config(demo_config(url, data_dir), "<demo defaults>")
    except ConfigError as exc:
        print(f"edgeagent demo: {exc}", file=sys.stderr)
        return 2
    clock = ScaledClock(args.speed, start=start_wall(args.start, DEMO_TZ))
    agent = Agent(config, clock=clock, sync_probe=lambda: True,
                  tick_interval=0.05, status_interval=max(1.0, 600.0 / args.speed))
    view = PlatformView(url, "care", DEMO_HOME, DEMO_TZ, alerts_only=args.alerts_only)
    await asyncio.get_running_loop().run_in_executor(None, view.start)
    duration = args.duration if args.duration is not None else 86_400 / args.speed
    print(f"edgeagent demo: home {DEMO_HOME}, broker {url}, {args.speed:g}x time from "
          f"{args.start} local, {duration:.0f} s; outbox {data_dir / 'outbox.db'}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.call_later(duration, stop.set)
    try:
        await agent.run(stop)
    finally:
        await loop.run_in_executor(None, view.stop)
        if broker is not None:
            await broker.stop()
    alerts = {k: v for k, v in sorted(view.counts.items()) if k.startswith("alert/")}
    print(f"edgeagent demo: done. {sum(view.counts.values())} events at the platform; "
          f"alerts: {alerts or 'none'}", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        print("edgeagent demo: --speed must be positive", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run_demo(args))
    return 130


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo", help="simulated home, in-process broker, accelerated clock",
        description="Run the real agent on a simulated home (a scripted day and night of a "
                    "resident) with an in-process MQTT broker, and print what the call centre "
                    "receives.")
    demo.add_argument("--broker", metavar="URL", help="use this broker, not an in-process one")
    demo.add_argument("--speed", type=float, default=600.0,
                      help="simulated seconds per real second (default 600: a day in 2.4 min)")
    demo.add_argument("--duration", type=float, metavar="SECONDS",
                      help="stop after this many real seconds (default: one simulated day)")
    demo.add_argument("--data-dir", metavar="DIR", help="outbox folder (default: a temp dir)")
    demo.add_argument("--start", default="21:30", metavar="HH:MM",
                      help="local time the simulation starts at (default 21:30)")
    demo.add_argument("--alerts-only", action="store_true", help="print alerts and summaries only")
    demo.set_defaults(func=cmd_demo)
