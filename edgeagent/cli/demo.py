"""`edgeagent demo`: a simulated home, a private mosquitto, an accelerated clock.

The main job on embedded defaults: no config file, no broker to set up, no
hardware. The agent that runs is the real one (drivers on gpiozero mock pins,
the heuristics, the SQLite outbox, the paho publisher) and so is the broker
(mosquitto on a free loopback port with its own config; amqtt in-process, on
MQTT 3.1.1, where mosquitto is not installed); only time is faster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edgeagent.clock import ScaledClock
from edgeagent.config import parse_config
from edgeagent.demo import amqtt_broker, mosquitto
from edgeagent.demo import ingest as demo_ingest
from edgeagent.demo.platform_view import PlatformView
from edgeagent.errors import ConfigError
from edgeagent.i18n import _, current_language
from edgeagent.supervisor import Agent

log = logging.getLogger(__name__)
DEMO_HOME = "demo-001"
DEMO_TZ = "Asia/Shanghai"
EXIT_MISSING = 3  # as scripts/demo: a program the demo needs is not installed


# One evening, night and day of a resident living alone, starting at 21:30. The
# night has an ordinary bathroom visit and, later, a bed exit without return:
# she gets up at 02:10, reaches the hall and lies still until found at 03:00.
DEMO_SCRIPT = """
21:30 bathroom motion; 21:45 bedroom motion; 22:00 bed in
23:40 bed out; 23:40:30 bedroom motion; 23:41 bathroom door open; 23:41:10 bathroom door close
23:41:30 bathroom motion; 23:45 bathroom motion; 23:46 bathroom door open
23:46:10 bathroom door close; 23:46:40 bedroom motion; 23:47 bed in
02:10 bed out; 02:11 bedroom motion; 02:12 hall motion
03:00 hall motion; 03:02 bedroom motion; 03:05 bed in
06:55 bed out; 06:56 bedroom motion
06:58 bathroom door open; 06:58:10 bathroom door close; 06:59 bathroom motion
07:10 bathroom door open; 07:10:10 bathroom door close
07:15 kitchen motion; 07:16 fridge open; 07:16:20 fridge close; 07:30 kitchen motion
08:00 living motion; 08:50 hall motion
09:00 entrance door open; 09:00:20 entrance door close
10:30 entrance door open; 10:30:20 entrance door close; 10:31 hall motion
10:40 kitchen motion; 12:00 kitchen motion; 12:05 fridge open; 12:05:15 fridge close
12:40 living motion; 13:20 bedroom motion; 13:30 bed in; 14:30 bed out; 14:31 bedroom motion
15:00 living motion; 16:30 bathroom motion; 17:00 living motion
18:00 kitchen motion; 18:10 fridge open; 18:10:20 fridge close; 18:30 kitchen motion
19:30 living motion; 20:30 living motion; 21:20 living motion
"""


def demo_config(broker_url: str, data_dir: Path, start: str = "21:30",
                protocol: str = "5", language: str = "en") -> dict[str, Any]:
    """The demo kit; `language` is its `home.language` (what alert reasons are written in)."""
    return {
        "home": {"id": DEMO_HOME, "timezone": DEMO_TZ, "language": language},
        "mqtt": {"urls": [broker_url], "topic_prefix": "care", "backoff_initial": 0.2,
                 "backoff_max": 5.0, "protocol": protocol},
        "outbox": {"path": str(data_dir / "outbox.db")},
        "control": {"socket": str(data_dir / "control.sock")},
        "drivers": [{"type": "mock.home", "name": "home", "script": DEMO_SCRIPT,
                     "timezone": DEMO_TZ, "start": start}],
    }


def start_wall(start: str, tz: str, speed: float) -> datetime:
    hour, minute = (int(x) for x in start.split(":"))
    local = datetime.now(ZoneInfo(tz)).date()
    # A lead-in of half a real second (at least two simulated minutes), so the
    # script's first step is still ahead when the home driver starts.
    lead_in = timedelta(seconds=max(120.0, speed * 0.5))
    begin = datetime.combine(local, time(hour, minute), ZoneInfo(tz)) - lead_in
    return begin.astimezone(UTC)


async def run_demo(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="edgeagent-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.broker is not None:
        return await _run_with_broker(args, args.broker, "5", data_dir)
    started = await start_broker(data_dir)
    if isinstance(started, int):
        return started
    try:
        return await _run_with_broker(args, started.url, started.protocol, data_dir)
    finally:
        await started.stop()


class DemoBroker:
    """The broker the demo started: where it listens, the MQTT version it speaks, how to stop."""

    def __init__(self, url: str, protocol: str, stop: Callable[[], Awaitable[None]]) -> None:
        self.url = url
        self.protocol = protocol
        self.stop = stop


async def start_broker(data_dir: Path) -> DemoBroker | int:
    """A private mosquitto (amqtt in-process where mosquitto is not installed but the
    `[demo-broker]` extra is), or the exit code after saying what is missing."""
    loop = asyncio.get_running_loop()
    executable = mosquitto.find_mosquitto()
    if executable is None and amqtt_broker.available():
        print("edgeagent demo: " + _(
            "mosquitto is not installed; using the in-process amqtt broker (MQTT {protocol}). "
            "For mosquitto: {hint}").format(protocol=amqtt_broker.PROTOCOL,
                                            hint=mosquitto.INSTALL_HINT), file=sys.stderr)
        fallback = await amqtt_broker.AmqttBroker().start()
        return DemoBroker(fallback.url, amqtt_broker.PROTOCOL, fallback.stop)
    if executable is None:
        print("edgeagent demo: " + _(
            "needs mosquitto (the MQTT broker the demo starts privately), which is not "
            "installed. Install it with: {hint} (or run scripts/demo, or pass --broker URL to "
            "use a broker you run)").format(hint=mosquitto.INSTALL_HINT), file=sys.stderr)
        return EXIT_MISSING
    broker = mosquitto.Mosquitto(data_dir / "mosquitto", executable=executable,
                                 log_types="error warning notice information")
    try:
        await loop.run_in_executor(None, broker.start)
    except (OSError, RuntimeError) as exc:
        print("edgeagent demo: " + _("could not start mosquitto ({path}): {reason}").format(
            path=executable, reason=exc), file=sys.stderr)
        return 1

    async def stop() -> None:
        await loop.run_in_executor(None, broker.stop)

    return DemoBroker(broker.url, "5", stop)


async def _run_with_broker(args: argparse.Namespace, url: str, protocol: str,
                           data_dir: Path) -> int:
    try:
        config = parse_config(demo_config(url, data_dir, args.start, protocol,
                                          "zh_CN" if current_language() == "zh_CN" else "en"),
                              "<demo defaults>")
    except ConfigError as exc:
        print(f"edgeagent demo: {exc}", file=sys.stderr)
        return 2
    clock = ScaledClock(args.speed, start=start_wall(args.start, DEMO_TZ, args.speed))
    agent = Agent(config, clock=clock, sync_probe=lambda: True,
                  tick_interval=0.05, status_interval=max(1.0, 600.0 / args.speed))
    view = PlatformView(url, "care", DEMO_HOME, DEMO_TZ, alerts_only=args.alerts_only)
    await view.start()
    ingest = None
    if demo_ingest.available():  # the reference ingest too, as a municipality runs it
        ingest = demo_ingest.DemoIngest(url, "care", data_dir / "platform.db", protocol)
        await asyncio.get_running_loop().run_in_executor(None, ingest.start)
    duration = args.duration if args.duration is not None else 86_400 / args.speed
    print("edgeagent demo: " + _(
        "home {home}, broker {url}, {speed:g}x time from {start} local, {duration:.0f} s; "
        "outbox {outbox}").format(home=DEMO_HOME, url=url, speed=args.speed, start=args.start,
                                  duration=duration, outbox=data_dir / "outbox.db"), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.call_later(duration, stop.set)
    try:
        await agent.run(stop)
    finally:
        await view.stop()
        if ingest is not None:
            await loop.run_in_executor(None, ingest.stop)
    alerts = {k: v for k, v in sorted(view.counts.items()) if k.startswith("alert/")}
    print("edgeagent demo: " + _("done. {count} events at the platform; alerts: {alerts}").format(
        count=sum(view.counts.values()), alerts=alerts or _("none")), flush=True)
    if ingest is not None:
        print("edgeagent demo: " + _("platform ingest ({db}):").format(db=ingest.db) + "\n"
              + ingest.summary(), flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        print("edgeagent demo: " + _("--speed must be positive"), file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run_demo(args))
    return 130


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo", help=_("simulated home, private mosquitto, accelerated clock"),
        description=_("Run the real agent on a simulated home (a scripted day and night of a "
                      "resident) with a private mosquitto on a free loopback port, and print "
                      "what the call centre receives."))
    demo.add_argument("--broker", metavar="URL",
                      help=_("use this broker, not a private mosquitto"))
    demo.add_argument("--speed", type=float, default=600.0,
                      help=_("simulated seconds per real second (default 600: a day in 2.4 min)"))
    demo.add_argument("--duration", type=float, metavar="SECONDS",
                      help=_("stop after this many real seconds (default: one simulated day)"))
    demo.add_argument("--data-dir", metavar="DIR", help=_("outbox folder (default: a temp dir)"))
    demo.add_argument("--start", default="21:30", metavar="HH:MM",
                      help=_("local time the simulation starts at (default 21:30)"))
    demo.add_argument("--alerts-only", action="store_true",
                      help=_("print alerts and summaries only"))
    demo.set_defaults(func=cmd_demo)
