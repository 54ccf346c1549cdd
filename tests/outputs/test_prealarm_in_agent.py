"""A care worker's account of a night pre-alarm, through the real drivers and a real mosquitto.

"23:00 she goes to bed. She gets up, walks into the hall, and nothing moves
for 20 minutes: the kit beeps and asks. She presses her 'I'm OK' button:
nothing critical reaches the call centre, an info `prealarm` cancelled does."
And the nights nobody answers, or the kit has no button to answer with. Bed
mat, hall PIR and "I'm OK" button are the gpio drivers on gpiozero's
MockFactory; the agent's clock is a ManualClock moved by the test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from edgeagent.clock import ManualClock
from edgeagent.config import parse_config
from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent
from tests.drivers.conftest import wait_for
from tests.support.mosquitto import Mosquitto
from tests.support.platform import PlatformSubscriber

NIGHT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
MAT, PIR, OK, BUZZER = 5, 6, 13, 18


def night_kit(tmp_path: Path, broker_url: str, clock: ManualClock, *, ok_button: bool) -> Agent:
    drivers: list[dict[str, Any]] = [
        {"type": "gpio.bedmat", "name": "bed-mat", "room": "bedroom", "pin": MAT,
         "bounce_time": 0, "exit_settle": 0, "entry_settle": 0},
        {"type": "gpio.pir", "name": "hall-pir", "room": "hall", "pin": PIR,
         "bounce_time": 0, "hold_off": 0},
    ]
    if ok_button:
        drivers.append({"type": "gpio.ok_button", "name": "ok-button", "room": "bedroom",
                        "pin": OK, "bounce_time": 0})
    config = parse_config({
        "home": {"id": "home-1", "timezone": "Asia/Shanghai", "language": "en"},
        "mqtt": {"urls": [broker_url], "backoff_initial": 0.05, "backoff_max": 0.3},
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "control": {"socket": str(tmp_path / "control.sock")},
        "drivers": drivers,
        "outputs": [{"type": "gpio.buzzer", "name": "buzzer", "pin": BUZZER}],
    }, "<test>")
    return Agent(config, clock=clock, sync_probe=lambda: True, tick_interval=0.02)


def engine_of(agent: Agent) -> SafetyEngine:
    assert isinstance(agent.engine, SafetyEngine)
    return agent.engine


def at_broker(platform: PlatformSubscriber) -> list[tuple[str, str, Any]]:
    """(type, severity, prealarm state or the alert's prealarm mark) as the call centre got them."""
    out = []
    for message in list(platform.messages):
        doc = message.json() if "/events/" in message.topic else None
        if not isinstance(doc, dict) or doc.get("type") not in ("prealarm",
                                                                 "bed_exit_no_return"):
            continue
        data = doc.get("data") or {}
        out.append((doc["type"], doc["severity"],
                    data.get("state") if doc["type"] == "prealarm" else data.get("prealarm")))
    return out


async def out_of_bed_into_the_hall(agent: Agent, pins: MockFactory, clock: ManualClock) -> float:
    """23:00 to bed, up at 23:05 into the hall; returns when the silence rule goes critical."""
    engine = engine_of(agent)
    await wait_for(lambda: agent.publisher.connected
                   and all(s.health()["state"] == "ok" for s in agent.slots))
    pins.pin(MAT).drive_low()                                # 23:00 she lies down
    await wait_for(lambda: engine.state.sleep.bedroom_since is not None)
    clock.advance(5 * 60)
    await wait_for(lambda: (plan := engine.current_plan()) is not None
                   and plan.situation == "in_bed")           # asleep by 23:05
    pins.pin(MAT).drive_high()                               # she gets up
    clock.advance(5)
    pins.pin(PIR).drive_high()                               # into the hall ...
    await wait_for(lambda: engine.state.seen.room == "hall")
    pins.pin(PIR).drive_low()                                # ... and nothing follows
    plan = engine.current_plan()
    assert plan is not None and plan.critical_at is not None
    return plan.critical_at


async def until_now(agent: Agent, clock: ManualClock, seconds: float) -> None:
    """Move the clock, and wait until the engine has ticked at the new time."""
    clock.advance(seconds)
    target = clock.wall().timestamp()
    engine = engine_of(agent)
    await wait_for(lambda: (engine.state.now or 0) >= target)


async def test_2325_the_kit_asks_she_presses_ok_and_nothing_critical_leaves_the_home(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber,
        pins: MockFactory) -> None:
    clock = ManualClock(start=NIGHT)
    agent = night_kit(tmp_path, mosquitto.url, clock, ok_button=True)
    stored: list[str] = []
    agent.listeners.append(lambda what, event: stored.append(event["body"])
                           if what == "event" else None)
    async with RunningAgent(agent):
        deadline = await out_of_bed_into_the_hall(agent, pins, clock)
        await until_now(agent, clock, deadline - clock.wall().timestamp() + 1)
        await wait_for(lambda: ("prealarm", "info", "asking") in at_broker(platform))
        await wait_for(lambda: agent.output_set.outputs["buzzer"].health.counters
                       .get("beeps", 0) == 1)                # the chime before the question
        clock.advance(40)
        pins.pin(OK).drive_low()                             # 40 s later she presses
        pins.pin(OK).drive_high()
        await wait_for(lambda: ("prealarm", "info", "cancelled") in at_broker(platform))
        await until_now(agent, clock, 10 * 60)               # long past the window
        await wait_for(lambda: not agent.outbox.pending(10))
    assert at_broker(platform) == [("prealarm", "info", "asking"),
                                   ("prealarm", "info", "cancelled")]
    cancelled = [m.json() for m in platform.messages if m.topic.endswith("/prealarm")]
    assert cancelled[-1]["data"]["by"] == "button"
    assert not [body for body in stored if '"critical"' in body]  # not even in the outbox


async def test_nobody_answers_the_alarm_goes_out_when_the_window_ends_marked(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber,
        pins: MockFactory) -> None:
    clock = ManualClock(start=NIGHT)
    agent = night_kit(tmp_path, mosquitto.url, clock, ok_button=True)
    async with RunningAgent(agent):
        deadline = await out_of_bed_into_the_hall(agent, pins, clock)
        await until_now(agent, clock, deadline - clock.wall().timestamp())
        await wait_for(lambda: ("prealarm", "info", "asking") in at_broker(platform))
        await until_now(agent, clock, 119)
        assert ("bed_exit_no_return", "critical", "no answer") not in at_broker(platform)
        await until_now(agent, clock, 1)                     # the 120 s window ends
        await wait_for(lambda: ("bed_exit_no_return", "critical", "no answer")
                       in at_broker(platform))
    # Alerts go ahead of status events in the publisher's queue: order is not asserted.
    assert sorted(at_broker(platform), key=str) == [
        ("bed_exit_no_return", "critical", "no answer"),
        ("prealarm", "info", "asking"), ("prealarm", "info", "no answer")]


async def test_a_kit_without_an_ok_button_raises_at_the_deadline_without_asking(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber,
        pins: MockFactory) -> None:
    clock = ManualClock(start=NIGHT)
    agent = night_kit(tmp_path, mosquitto.url, clock, ok_button=False)
    async with RunningAgent(agent):
        deadline = await out_of_bed_into_the_hall(agent, pins, clock)
        await until_now(agent, clock, deadline - clock.wall().timestamp())
        await wait_for(lambda: ("bed_exit_no_return", "critical", None)
                       in at_broker(platform))
    assert at_broker(platform) == [("bed_exit_no_return", "critical", None)]
