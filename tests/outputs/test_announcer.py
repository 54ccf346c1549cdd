"""What the resident hears, told the way a care worker would tell it.

The announcer is fed the events the agent stores (as its listener sees them),
the broker's PUBACKs and the platform's `alert-ack`; the words land in the
recording speech sink, the beeps on gpiozero's MockFactory pins.
"""

# ruff: noqa: RUF001 - the resident hears Chinese: full-width punctuation is the point

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Any

from edgeagent_drivers.gpio.outputs import BuzzerOutput, LedOutput

from edgeagent.clock import ManualClock
from edgeagent.output import Output
from edgeagent.outputs.announcer import Announcer, in_quiet_hours
from edgeagent.outputs.speech import RecordingSpeech

from .conftest import FakeTime

ASK_ZH = "你还好吗？没事的话请按一下按钮。"
ASK_EN = "Are you all right? If you are, press your button."
START = datetime(2026, 3, 2, 18, 31, tzinfo=UTC)  # 02:31 in Shanghai


class Home:
    def __init__(self, fake_time: FakeTime, *, language: str = "zh_CN", quiet: str = "",
                 link_up: bool = True, local: time = time(2, 31)) -> None:
        self.clock = ManualClock(start=START)
        self.voice = RecordingSpeech(RecordingSpeech.Options.model_validate(
            {"type": "audio.record", "name": "voice"}), fake_time.context())
        self.buzzer = BuzzerOutput(BuzzerOutput.Options.model_validate(
            {"type": "gpio.buzzer", "name": "buzzer", "pin": 18}), fake_time.context())
        self.led = LedOutput(LedOutput.Options.model_validate(
            {"type": "gpio.led", "name": "light", "pin": 23}), fake_time.context())
        outputs: list[Output] = [self.voice, self.buzzer, self.led]
        for output in outputs:
            output.open()
        self.link = link_up
        self.local = local
        self.announcer = Announcer(outputs, language=language, quiet_hours=quiet,
                                   monotonic=self.clock.monotonic, wall=self.clock.wall,
                                   local_time=lambda: self.local, link_up=lambda: self.link)
        self.seq = 0

    def event(self, kind: str, type_: str, data: dict[str, Any] | None = None,
              alert: dict[str, Any] | None = None) -> int:
        self.seq += 1
        body: dict[str, Any] = {"kind": kind, "type": type_, "data": data or {}}
        if alert is not None:
            body["alert"] = alert
        self.announcer.observe("event", {"seq": self.seq, "kind": kind, "type": type_,
                                         "body": json.dumps(body)})
        return self.seq

    def prealarm(self, state: str, pid: str = "pa-1", **extra: Any) -> None:
        self.event("status", "prealarm", {"state": state, "prealarm_id": pid, **extra})

    async def after(self, seconds: float) -> list[str]:
        """Let `seconds` pass second by second; the words said meanwhile."""
        before = len(self.voice.said)
        for _ in range(int(seconds)):
            self.clock.advance(1)
            self.announcer.tick()
        await self.announcer.idle()
        return [text for text, _lang, _len in self.voice.said[before:]]

    def close(self) -> None:
        self.buzzer.close()
        self.led.close()


async def test_0231_the_kit_asks_every_30_s_and_stops_when_she_presses_ok(pins, fake_time):
    home = Home(fake_time)
    until = START.timestamp() + 120
    home.prealarm("asking", until=until)                       # 02:31:00 the kit asks
    assert await home.after(0) == [ASK_ZH]
    assert home.buzzer.health.counters["beeps"] == 1         # with a chime first
    assert await home.after(29) == []                        # no nagging in between
    assert await home.after(1) == [ASK_ZH]                   # 02:31:30 again
    home.prealarm("cancelled", by="button")                  # 02:31:40 she presses
    assert await home.after(120) == []                       # silence from then on
    assert home.announcer.asking == {}
    home.close()


async def test_no_answer_or_the_window_passing_ends_the_question(pins, fake_time):
    home = Home(fake_time, language="en")
    home.prealarm("asking", until=START.timestamp() + 65)
    assert await home.after(61) == [ASK_EN, ASK_EN, ASK_EN]  # at 0, 30 and 60 s
    assert await home.after(60) == []                        # `until` passed: quiet
    home.prealarm("asking", pid="pa-2", until=START.timestamp() + 1000)
    home.prealarm("no answer", pid="pa-2")                   # the alert went out instead
    assert await home.after(90) == [ASK_EN]
    home.close()


async def test_sos_tone_words_light_steady_on_puback_and_the_centre_has_her_call(
        pins, fake_time):
    home = Home(fake_time)
    seq = home.event("alert", "sos", alert={"id": "sos-1", "state": "raised"})
    assert await home.after(0) == ["正在呼叫，请稍候"]
    assert home.buzzer.health.counters["beeps"] == 1
    assert home.led.device._blink_thread is not None
    home.announcer.delivered([seq])                          # the broker has it
    await home.after(0)
    assert pins.pin(23).state == 1 and home.led.device._blink_thread is None
    assert home.announcer.acknowledged("someone-else") is False
    assert home.announcer.acknowledged("sos-1") is True      # the platform's alert-ack
    assert await home.after(0) == ["呼叫中心已收到，马上有人联系您"]
    assert home.announcer.acknowledged("sos-1") is False     # said once, not again
    home.close()


async def test_link_down_she_is_told_her_alarm_is_stored(pins, fake_time):
    home = Home(fake_time, link_up=False)
    home.event("alert", "sos", alert={"id": "sos-2", "state": "raised"})
    assert await home.after(0) == ["正在呼叫，请稍候", "网络中断，报警已保存"]
    home.event("alert", "sos", alert={"id": "sos-2", "state": "resolved"})
    assert await home.after(0) == []                         # a resolution says nothing
    home.close()


async def test_quiet_hours_hush_the_checkin_reminder_never_an_alarm(pins, fake_time):
    home = Home(fake_time, quiet="22:00-08:00", local=time(7, 30))
    home.event("status", "checkin_reminder", {"state": "remind"})
    assert await home.after(0) == []
    assert home.announcer.counters["quiet_skipped"] == 1
    home.prealarm("asking", until=START.timestamp() + 100)
    home.event("alert", "sos", alert={"id": "sos-3", "state": "raised"})
    assert await home.after(0) == [ASK_ZH, "正在呼叫，请稍候"]
    home.local = time(8, 30)
    home.event("status", "checkin_reminder", {"state": "remind"})
    assert await home.after(0) == ["早上好，请按一下平安按钮。"]
    home.close()


def test_quiet_hours_wrap_midnight():
    assert in_quiet_hours("22:00-07:00", time(23, 0))
    assert in_quiet_hours("22:00-07:00", time(6, 59))
    assert not in_quiet_hours("22:00-07:00", time(7, 0))
    assert in_quiet_hours("13:00-14:00", time(13, 30))
    assert not in_quiet_hours("", time(3, 0))


async def test_a_broken_output_is_counted_and_the_others_still_speak(pins, fake_time):
    home = Home(fake_time)

    async def broken(cue: Any) -> None:
        raise OSError("speaker unplugged")

    home.buzzer.perform = broken  # type: ignore[method-assign]
    home.event("alert", "sos", alert={"id": "sos-4", "state": "raised"})
    assert await home.after(0) == ["正在呼叫，请稍候"]
    assert home.announcer.counters["cue_failures"] >= 1
    assert home.buzzer.health.state == "degraded"
    home.close()


async def test_pressing_again_and_again_a_tone_each_time_words_every_10_s_then_reassurance(
        pins, fake_time):
    home = Home(fake_time)
    home.event("alert", "sos", alert={"id": "sos-5", "state": "raised"})
    assert await home.after(0) == ["正在呼叫，请稍候"]
    for _ in range(3):                                       # she presses again, frightened
        home.event("alert", "sos", alert={"id": "sos-5", "state": "escalated"})
    assert await home.after(0) == []                         # tones only, no pile of words
    assert home.buzzer.health.counters["beeps"] == 4
    await home.after(10)
    home.event("alert", "sos", alert={"id": "sos-5", "state": "escalated"})
    assert await home.after(0) == ["正在呼叫，请稍候"]
    assert home.announcer.acknowledged("sos-5")
    assert await home.after(10) == ["呼叫中心已收到，马上有人联系您"]
    home.event("alert", "sos", alert={"id": "sos-5", "state": "escalated"})
    assert await home.after(0) == ["呼叫中心已收到，马上有人联系您"]  # a person has her call
    home.announcer.delivered([home.seq])
    await home.after(0)
    assert pins.pin(23).state == 1
    home.event("alert", "sos", alert={"id": "sos-5", "state": "resolved"})  # carer on site
    await home.after(0)
    assert pins.pin(23).state == 0
    home.close()


async def test_the_engines_own_prealarm_events_drive_the_question(pins, fake_time):
    """The contract with the heuristics: their `prealarm` drafts, as stored, start and stop it."""
    from tests.heuristics.test_asking import kit, night_trip

    day = night_trip()
    day.add("02:31:40", "ok", True, room="bathroom", device="ok-button")
    drafts = [d for d in day.play("03:00", engine=kit()).drafts if d.type == "prealarm"][:2]
    assert [d.data["state"] for d in drafts] == ["asking", "cancelled"]
    assert drafts[0].data["prealarm_id"] == drafts[1].data["prealarm_id"]
    home = Home(fake_time)
    home.clock.set_wall(drafts[0].wall)
    asking, cancelled = ({"seq": i, "kind": str(d.kind), "type": d.type,
                          "body": json.dumps({"data": d.data})} for i, d in enumerate(drafts))
    home.announcer.observe("event", asking)
    assert await home.after(31) == [ASK_ZH, ASK_ZH]          # 02:31:00 and 02:31:30
    home.announcer.observe("event", cancelled)               # 02:31:40 she pressed
    assert await home.after(60) == []
    home.close()


async def test_every_press_of_an_open_sos_is_answered_even_when_no_new_alert_is_raised(
        pins, fake_time):
    """The heuristics escalate once; her fifth press raises nothing, yet she hears a tone."""
    home = Home(fake_time)

    def press() -> None:
        home.announcer.observe("reading", {"driver": "sos", "sensor": "sos", "value": True})

    press()                                                  # the first press: its alert speaks
    home.event("alert", "sos", alert={"id": "sos-6", "state": "raised"})
    assert await home.after(0) == ["正在呼叫，请稍候"]
    assert home.buzzer.health.counters["beeps"] == 1
    await home.after(3)
    press()                                                  # again: the engine escalates ...
    home.event("alert", "sos", alert={"id": "sos-6", "state": "escalated"})
    assert await home.after(0) == []                         # ... one tone, not two
    assert home.buzzer.health.counters["beeps"] == 2
    words = []
    for _ in range(3):                                       # and again: nothing new is raised
        words += await home.after(4)                         # at 7, 11 and 15 s
        press()
    words += await home.after(0)
    assert words == ["正在呼叫，请稍候"]                      # words again once, after 10 s
    assert home.buzzer.health.counters["beeps"] == 5
    home.announcer.acknowledged("sos-6")
    await home.after(11)
    press()
    assert await home.after(0) == ["呼叫中心已收到，马上有人联系您"]
    home.close()
