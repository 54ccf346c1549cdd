# ruff: noqa: RUF001  (the Chinese reasons use full-width punctuation)
"""Alert reasons in the home's language, with a code and parameters a platform can render."""

from __future__ import annotations

import json

from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.reasons import TEMPLATES, Reason, from_data, render, say
from edgeagent.heuristics.settings import HeuristicsSettings
from tests.heuristics.home import ZONE_NAME, Day
from tests.heuristics.test_night_scenarios import evening_to_bed


def night(language: str) -> list[dict[str, object]]:
    day = evening_to_bed(Day())
    day.bed("02:10", "out_of_bed").motion("02:11", "bathroom").motion("02:41", "kitchen")
    engine = SafetyEngine(HeuristicsSettings(), ZONE_NAME, language=language)
    return [a.data for a in day.play("02:50", engine=engine).alerts]


def test_a_night_alarm_reads_in_english_or_chinese_with_the_same_code_and_facts() -> None:
    en, zh = night("en"), night("zh_CN")
    assert en[0]["reason"] == ("out of bed since 02:10, last seen in bathroom at 02:11, "
                               "no motion anywhere for 20 min")
    assert zh[0]["reason"] == "02:10起床，最后在卫生间出现（02:11），已20分钟各处无活动"
    assert en[0]["reason_code"] == zh[0]["reason_code"] == "out_of_bed"
    assert en[0]["reason_params"] == zh[0]["reason_params"] == {
        "since": "02:10", "room": "bathroom", "last": "02:11", "at": "02:31", "silent": 20}
    assert zh[1]["reason"] == "已解除：02:41在厨房有活动"
    assert zh[1]["reason_code"] == "seen"
    json.dumps(en + zh)  # plain JSON all the way down


def test_every_template_renders_in_both_languages_with_its_own_fields() -> None:
    for code, (english, chinese) in TEMPLATES.items():
        fields = set(english.replace("}", "{").split("{")[1::2])
        zh_fields = set(chinese.replace("}", "{").split("{")[1::2])
        assert zh_fields - fields <= {"what_zh"}, code
        params = dict.fromkeys(fields | zh_fields, "x")
        assert "{" not in render(code, params, zh=False), code
        assert "{" not in render(code, params, zh=True), code


def test_a_warning_with_doubts_and_its_critical_time_survives_a_round_trip() -> None:
    why = Reason("day_silence", {"last": "12:15", "room": "kitchen"}, "16:15",
                 (say("doubt_no_entrance"),))
    back = from_data(code=why.data()["reason_code"], params=why.data()["reason_params"])
    assert back.text("en") == why.text("en") == (
        "no activity anywhere since 12:15, last seen in kitchen (longer than usual at this "
        "hour); critical at 16:15 if nothing moves; cannot tell apart: no entrance contact: "
        "an outing looks like a silence at home")
    assert back.text("zh_CN").startswith("自12:15起各处无活动，最后在厨房出现")
