"""A care worker's account of an SOS, through the real agent and a real mosquitto.

"21:00 she pulls the cord: a beep, 'calling for help', the light blinks. The
broker takes the alarm: the light is steady. The call centre presses
'acknowledge': she hears that they have her call." And the night the
network is down: she is told her alarm is stored, and it goes out when the
link is back. Pins are gpiozero's MockFactory, the voice the recording sink.
"""

# ruff: noqa: RUF001 - the resident hears Chinese: full-width punctuation is the point

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from edgeagent.config import AgentConfig, parse_config
from edgeagent.outputs.speech import RecordingSpeech
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent
from tests.drivers.conftest import wait_for
from tests.support.mosquitto import Mosquitto
from tests.support.platform import PlatformSubscriber

CALLING = "正在呼叫，请稍候"
HAS_YOUR_CALL = "呼叫中心已收到，马上有人联系您"
STORED = "网络中断，报警已保存"
LED_PIN = 23


def kit_config(tmp_path: Path, broker_url: str) -> AgentConfig:
    return parse_config({
        "home": {"id": "home-1", "timezone": "Asia/Shanghai", "language": "zh_CN"},
        "mqtt": {"urls": [broker_url], "topic_prefix": "care", "backoff_initial": 0.05,
                 "backoff_max": 0.3, "keepalive": 5, "connect_timeout": 3},
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "control": {"socket": str(tmp_path / "control.sock")},
        "drivers": [{"type": "gpio.sos", "name": "sos-cord", "room": "bathroom", "pin": 26}],
        "outputs": [{"type": "gpio.buzzer", "name": "buzzer", "pin": 18},
                    {"type": "gpio.led", "name": "call-light", "pin": LED_PIN},
                    {"type": "audio.record", "name": "voice"}],
    }, "<test>")


def said(agent: Agent) -> list[str]:
    voice = agent.output_set.outputs["voice"]
    assert isinstance(voice, RecordingSpeech)
    return [text for text, _lang, _len in voice.said]


def alert_ack(platform: PlatformSubscriber, alert_id: Any, command_id: str) -> None:
    body = {"id": command_id, "ts": datetime.now(UTC).isoformat(),
            "args": {"alert_id": alert_id}}
    platform.client.publish("care/home-1/cmd/alert-ack", json.dumps(body), qos=1)


def reply(platform: PlatformSubscriber, command_id: str) -> dict[str, Any] | None:
    for message in platform.messages:
        if message.topic == "care/home-1/cmd/alert-ack/reply":
            doc = message.json()
            if doc.get("id") == command_id:
                return doc  # type: ignore[no-any-return]
    return None


async def test_sos_tone_calling_light_steady_on_puback_and_the_centre_has_her_call(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber,
        pins: MockFactory) -> None:
    agent = Agent(kit_config(tmp_path, mosquitto.url), sync_probe=lambda: True,
                  tick_interval=0.05)
    async with RunningAgent(agent):
        await wait_for(lambda: agent.slots[0].health()["state"] == "ok")
        await wait_for(lambda: agent.publisher.connected)
        assert agent.status()["outputs"]["call-light"]["state"] == "ok"
        pins.pin(26).drive_low()                     # 21:00 she pulls the cord
        await wait_for(lambda: CALLING in said(agent))
        assert STORED not in said(agent)                     # the link is up
        await asyncio.to_thread(platform.wait_for, lambda p: any(
            e["kind"] == "alert" and e["type"] == "sos" for e in p.events()))
        light = agent.output_set.outputs["call-light"]
        # The broker's PUBACK: the light stops blinking and stays on.
        await wait_for(lambda: getattr(light, "device", None) is not None
                       and light.device._blink_thread is None  # type: ignore[attr-defined]
                       and pins.pin(LED_PIN).state == 1)
        buzzer = agent.output_set.outputs["buzzer"]
        await wait_for(lambda: buzzer.health.counters.get("beeps") == 1)  # one 0.4 s tone
        alert = next(e for e in platform.events() if e["type"] == "sos")
        assert HAS_YOUR_CALL not in said(agent)
        alert_ack(platform, "not-her-alert", "ack-0")        # someone else's: nothing said
        await asyncio.to_thread(platform.wait_for, lambda p: reply(p, "ack-0") is not None)
        assert reply(platform, "ack-0")["result"] == {  # type: ignore[index]
            "alert_id": "not-her-alert", "announced": False}
        alert_ack(platform, alert["alert"]["id"], "ack-1")   # the call centre acknowledges
        await wait_for(lambda: HAS_YOUR_CALL in said(agent))
        await asyncio.to_thread(platform.wait_for, lambda p: reply(p, "ack-1") is not None)
        assert reply(platform, "ack-1")["result"]["announced"] is True  # type: ignore[index]
        alert_ack(platform, 42, "ack-2")                     # malformed: an error reply
        await asyncio.to_thread(platform.wait_for, lambda p: reply(p, "ack-2") is not None)
        assert "alert_id" in json.dumps(reply(platform, "ack-2"))
        assert said(agent) == [CALLING, HAS_YOUR_CALL]
    assert not agent.config.commands.allow_changes           # allowed without allow_changes


async def test_network_down_she_is_told_it_is_stored_and_it_goes_out_when_back(
        tmp_path: Path, mosquitto: Mosquitto, pins: MockFactory) -> None:
    agent = Agent(kit_config(tmp_path, mosquitto.url), sync_probe=lambda: True,
                  tick_interval=0.05)
    async with RunningAgent(agent):
        await wait_for(lambda: agent.slots[0].health()["state"] == "ok")
        await wait_for(lambda: agent.publisher.connected)
        mosquitto.kill()                                     # the router loses the line
        await wait_for(lambda: not agent.publisher.connected)
        pins.pin(26).drive_low()
        await wait_for(lambda: said(agent) == [CALLING, STORED])
        light = agent.output_set.outputs["call-light"]
        assert light.device._blink_thread is not None  # type: ignore[attr-defined]
        mosquitto.start()                                    # the line is back
        await wait_for(lambda: agent.outbox.stats().pending == 0, timeout=30)
        await wait_for(lambda: light.device._blink_thread is None  # type: ignore[attr-defined]
                       and pins.pin(LED_PIN).state == 1)
        assert said(agent) == [CALLING, STORED]              # nothing more to tell her
