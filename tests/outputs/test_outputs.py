"""The outputs on their own: config, MockFactory pins and their timing, speech commands."""

# ruff: noqa: RUF001 - the resident hears Chinese: full-width punctuation is the point

from __future__ import annotations

import asyncio
import os
import wave
from pathlib import Path
from typing import Any

import pytest
from edgeagent_drivers.gpio.outputs import BuzzerOutput, LedOutput

from edgeagent.config import parse_config
from edgeagent.driver import HealthState
from edgeagent.errors import ConfigError
from edgeagent.output import Cue, Signal
from edgeagent.outputs.messages import text
from edgeagent.outputs.runtime import OutputSet
from edgeagent.outputs.speech import RecordingSpeech, SpeechOutput


def config(outputs: list[dict[str, Any]], drivers: list[dict[str, Any]] | None = None,
           **home: Any) -> Any:
    return parse_config({"home": {"id": "h", **home}, "outputs": outputs,
                         "drivers": drivers or []}, "<test>")


def test_outputs_are_configured_like_drivers_and_bad_tables_name_the_key():
    cfg = config([{"type": "gpio.buzzer", "name": "buzzer", "pin": "GPIO18"},
                  {"type": "audio.speech", "name": "voice", "engine": "wav",
                   "wav_dir": "/usr/share/edgeagent/voice"}],
                 language="en", volume=60, quiet_hours="21:30-07:00")
    assert [o.name for o in cfg.outputs] == ["buzzer", "voice"]
    assert cfg.outputs[0].claimed_pins() == [18]
    assert (cfg.home.language, cfg.home.volume, cfg.home.quiet_hours) == ("en", 60, "21:30-07:00")

    cases = [
        ([{"type": "gpio.siren", "name": "x"}], {}, "outputs[0].type", "unknown output type"),
        ([{"type": "gpio.led", "name": "x", "pin": 5, "colour": "red"}], {},
         "outputs[0].colour", "unknown key"),
        ([{"type": "gpio.led", "name": "x"}], {}, "outputs[0].pin", "required"),
        ([{"type": "gpio.led", "name": "x", "pin": 5}, {"type": "gpio.buzzer", "name": "x",
                                                        "pin": 6}], {},
         "outputs[1].name", "already used"),
        ([{"type": "audio.speech", "name": "v", "engine": "festival"}], {},
         "outputs[0].engine", "espeak-ng"),
        ([], {"quiet_hours": "22-7"}, "home.quiet_hours", "pattern"),
        ([], {"language": "fr"}, "home.language", "zh_CN"),
    ]
    for outputs, home, key, reason in cases:
        with pytest.raises(ConfigError) as err:
            config(outputs, **home)
        assert err.value.key == key, (key, err.value)
        assert reason in str(err.value), err.value


def test_an_output_pin_already_used_by_a_driver_is_refused():
    with pytest.raises(ConfigError) as err:
        config([{"type": "gpio.led", "name": "call-light", "pin": 17}],
               drivers=[{"type": "gpio.sos", "name": "sos", "pin": 17}])
    assert err.value.key == "outputs[0].pin"
    assert "'sos'" in str(err.value) and "'call-light'" in str(err.value)


async def test_the_buzzer_chimes_twice_and_tones_once_timed_by_the_clock(pins, fake_time):
    buzzer = BuzzerOutput(BuzzerOutput.Options.model_validate(
        {"type": "gpio.buzzer", "name": "b", "pin": 18}), fake_time.context())
    buzzer.open()
    pin = pins.pin(18)
    edges: list[tuple[float, bool]] = []
    start = fake_time.clock.monotonic()

    async def sleep(seconds: float) -> None:
        edges.append((round(fake_time.clock.monotonic() - start, 2), bool(pin.state)))
        await fake_time.sleep(seconds)

    buzzer.context.sleep = sleep
    await buzzer.perform(Cue(Signal.CHIME))
    assert edges == [(0.0, True), (0.15, False), (0.3, True)]
    assert not pin.state  # ends silent
    edges.clear()
    start = fake_time.clock.monotonic()
    await buzzer.perform(Cue(Signal.TONE))
    assert edges == [(0.0, True)] and not pin.state
    assert round(fake_time.clock.monotonic() - start, 2) == 0.4
    await buzzer.perform(Cue(Signal.SPEAK, "x", "words", "en"))  # words are not a buzzer's
    assert buzzer.health.counters["beeps"] == 2 and buzzer.health.state is HealthState.OK


async def test_the_call_light_blinks_while_calling_and_is_steady_once_delivered(pins, fake_time):
    led = LedOutput(LedOutput.Options.model_validate(
        {"type": "gpio.led", "name": "l", "pin": 23, "blink_s": 0.05}), fake_time.context())
    led.open()
    pin = pins.pin(23)
    await led.perform(Cue(Signal.CALLING))
    assert led.device.is_lit or not led.device.is_lit  # blinking in gpiozero's thread
    assert led.device._blink_thread is not None
    await led.perform(Cue(Signal.DELIVERED))
    assert led.device._blink_thread is None
    assert pin.state == 1
    await led.perform(Cue(Signal.IDLE))
    assert pin.state == 0
    led.close()


async def test_a_dimmed_pwm_led_is_steady_at_its_brightness(pins, fake_time):
    led = LedOutput(LedOutput.Options.model_validate(
        {"type": "gpio.led", "name": "l", "pin": 24, "pwm": True, "brightness": 0.3}),
        fake_time.context())
    led.open()
    await led.perform(Cue(Signal.CALLING))
    await led.perform(Cue(Signal.DELIVERED))
    assert pins.pin(24).state == pytest.approx(0.3)
    led.close()


def test_espeak_speaks_mandarin_and_english_at_the_home_volume(fake_time):
    voice = SpeechOutput(SpeechOutput.Options.model_validate(
        {"type": "audio.speech", "name": "v"}), fake_time.context(volume=50))
    zh = text("prealarm_ask", "zh_CN")
    assert zh == "你还好吗？没事的话请按一下按钮。"
    cmd = voice.command(voice.utterance(Cue(Signal.SPEAK, "prealarm_ask", zh, "zh_CN")))
    assert cmd == ["espeak-ng", "-v", "cmn", "-a", "100", "-s", "140", zh]
    en = text("prealarm_ask", "en")
    assert en == "Are you all right? If you are, press your button."
    cmd = voice.command(voice.utterance(Cue(Signal.SPEAK, "prealarm_ask", en, "en")))
    assert cmd[:3] == ["espeak-ng", "-v", "en"] and cmd[-1] == en


def write_wav(path: Path, seconds: float, rate: int = 8000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))


async def test_recorded_wav_files_per_message_and_language_with_espeak_for_the_rest(
        tmp_path, fake_time):
    write_wav(tmp_path / "zh_CN" / "sos_calling.wav", 1.5)
    sink = RecordingSpeech(RecordingSpeech.Options.model_validate(
        {"type": "audio.record", "name": "v", "engine": "wav", "wav_dir": str(tmp_path)}),
        fake_time.context())
    sink.open()
    for message in ("sos_calling", "sos_acknowledged"):
        await sink.perform(Cue(Signal.SPEAK, message, text(message, "zh_CN"), "zh_CN"))
    assert sink.said == [("正在呼叫，请稍候", "zh_CN", 1.5),
                         ("呼叫中心已收到，马上有人联系您", "zh_CN", 0.0)]
    voice = SpeechOutput(SpeechOutput.Options.model_validate(
        {"type": "audio.speech", "name": "v", "engine": "wav", "wav_dir": str(tmp_path),
         "device": "plughw:1"}), fake_time.context())
    said = voice.utterance(Cue(Signal.SPEAK, "sos_calling", "x", "zh_CN"))
    assert voice.command(said) == ["aplay", "-q", "-D", "plughw:1",
                                   str(tmp_path / "zh_CN" / "sos_calling.wav")]


async def test_speech_runs_off_the_event_loop_and_a_failing_player_degrades_health(
        tmp_path, fake_time):
    fifo = tmp_path / "hold"
    os.mkfifo(fifo)
    player = tmp_path / "player"
    player.write_text(f"#!/bin/sh\nread line < {fifo}\nexit $line\n")
    player.chmod(0o755)
    voice = SpeechOutput(SpeechOutput.Options.model_validate(
        {"type": "audio.speech", "name": "v", "espeak": str(player)}), fake_time.context())
    voice.open()
    speaking = asyncio.create_task(voice.perform(Cue(Signal.SPEAK, "m", "hello", "en")))
    ticks = 0
    for _ in range(20):  # the loop keeps running while the player is blocked
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 20 and not speaking.done()
    await asyncio.to_thread(fifo.write_text, "3\n")
    await asyncio.wait_for(speaking, 10)
    assert voice.health.state is HealthState.DEGRADED and "exit 3" in voice.health.reason
    assert voice.health.counters["failures"] == 1


def test_a_missing_player_fails_that_output_only(tmp_path, pins):
    cfg = config([{"type": "audio.speech", "name": "voice", "espeak": str(tmp_path / "none")},
                  {"type": "gpio.led", "name": "light", "pin": 25}])
    outputs = OutputSet(cfg.outputs, volume=80)
    opened = outputs.open()
    assert [o.name for o in opened] == ["light"]
    health = outputs.health()
    assert health["voice"]["state"] == "failed" and "not found" in health["voice"]["reason"]
    assert health["light"]["state"] == "ok" and health["light"]["type"] == "gpio.led"
    outputs.close()


def test_a_changed_output_needs_a_restart_and_is_a_core_change_remotely():
    from edgeagent.reload import refusal
    from edgeagent.updates.config_change import ConfigChangeRefused, check_change, dump

    old = config([{"type": "gpio.led", "name": "call-light", "pin": 23}])
    new = config([{"type": "gpio.led", "name": "call-light", "pin": 24}])
    assert dump(new)["outputs"][0]["pin"] == 24         # each output with its own keys
    assert refusal(old, new) is not None and "[[outputs]]" in str(refusal(old, new))
    assert refusal(old, old) is None
    with pytest.raises(ConfigChangeRefused) as err:
        check_change(old, new)
    assert "[outputs]" in str(err.value) and "allow_remote_core" in str(err.value)


def test_edgeagent_status_lists_each_output_with_its_health(tmp_path, pins):
    from datetime import UTC, datetime

    from edgeagent.cli.status import render, summary

    cfg = config([{"type": "audio.speech", "name": "voice", "espeak": str(tmp_path / "none")},
                  {"type": "gpio.led", "name": "call-light", "pin": 25}])
    outputs = OutputSet(cfg.outputs, volume=80)
    outputs.open()
    doc = summary({"home": "h", "version": "1", "pid": 1, "clock": "synced",
                   "outputs": outputs.health()})
    assert doc["outputs"]["voice"]["state"] == "failed"
    text = render(doc, datetime(2026, 3, 2, tzinfo=UTC))
    assert "Outputs: 2" in text
    assert "ok        call-light (gpio.led)" in text
    assert "failed    voice (audio.speech): voice:" in text and "not found" in text
    outputs.close()
