"""The walk test's phone page: a real headless Chromium, the token, read-only."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from edgeagent.i18n import set_language
from edgeagent.walktest.session import Sensor, WalkSession
from edgeagent.walktest.web import TOKEN_LIFETIME_S, Token, WalkPage
from tests.support.chromium import dump_dom

NOW = datetime(2026, 3, 2, 13, 0, 5, tzinfo=UTC)


def _session() -> WalkSession:
    return WalkSession(home="home-1", timezone="Asia/Shanghai", started=NOW, sensors=[
        Sensor("pir-hall", "gpio.pir", "hall"), Sensor("door-front", "gpio.contact", "门厅"),
        Sensor("<b>sos</b>", "gpio.sos", "bedroom")])


def _state(dom: str, key: str) -> str:
    found = re.search(rf'data-sensor="{re.escape(key)}" data-state="(\w+)"', dom)
    assert found, f"{key} not on the page:\n{dom}"
    return found.group(1)


def _get(url: str, method: str = "GET") -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_page_in_headless_chromium_shows_the_sensors_ticking_and_then_the_report() -> None:
    session = _session()
    session.observe({"what": "reading", "payload": {"driver": "pir-hall", "device": "pir-hall",
                                                    "sensor": "motion", "value": True}}, NOW)
    page = WalkPage(session.snapshot, host="127.0.0.1").start()
    try:
        dom = dump_dom(page.url)
        assert _state(dom, "pir-hall") == "fired" and _state(dom, "door-front") == "waiting"
        assert "21:00:05" in dom                      # the home's time (UTC+8), not the kit's
        assert "门厅" in dom and '<span id="count">(1/3)</span>' in dom
        assert _state(dom, "&lt;b&gt;sos&lt;/b&gt;") == "waiting"  # names are text, not HTML

        session.observe({"what": "event", "payload": {
            "kind": "state", "type": "door", "source": {"driver": "door-front"}}}, NOW)
        session.set_phase("alarms", NOW)
        session.finish("warn", "Walk test — home home-1: WARN\n", ["/tmp/r.json"], [])
        dom = dump_dom(page.url)
        assert _state(dom, "door-front") == "fired" and _state(dom, "&lt;b&gt;sos&lt;/b&gt;") \
            == "silent"
        assert '<p id="result" class="warn">WARN</p>' in dom
        assert "Walk test — home home-1: WARN" in dom and "/tmp/r.json" in dom
    finally:
        page.stop()


def test_a_wrong_or_expired_token_gets_403_and_nothing_can_be_changed() -> None:
    now = [1000.0]
    token = Token(monotonic=lambda: now[0])
    page = WalkPage(_session().snapshot, host="127.0.0.1", token=token).start()
    base = page.url.split("?")[0]
    try:
        assert _get(page.url) == 200
        assert _get(f"{base}state.json?t={token.value}") == 200
        assert _get(base) == 403                                   # no token
        assert _get(f"{base}state.json?t={token.value[:-1]}x") == 403  # wrong token
        assert _get(f"{base}?t={token.value}", method="POST") == 405  # read-only
        with urllib.request.urlopen(page.url, timeout=5) as answer:
            assert answer.headers["Cache-Control"] == "no-store"
            assert answer.headers["Referrer-Policy"] == "no-referrer"
            assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
        now[0] += TOKEN_LIFETIME_S - 1
        assert _get(page.url) == 200
        now[0] += 1                                                # 30 minutes: expired
        assert _get(page.url) == 403
        assert _get(f"{base}state.json?t={token.value}") == 403
        assert page.refused == 4
    finally:
        page.stop()
    with pytest.raises(OSError):                                   # gone with the walk test
        urllib.request.urlopen(page.url, timeout=5)


def test_the_token_stops_working_when_the_walk_test_ends() -> None:
    page = WalkPage(_session().snapshot, host="127.0.0.1").start()
    try:
        assert _get(page.url) == 200
        page.token.revoke()
        assert _get(page.url) == 403
    finally:
        page.stop()


def test_the_page_speaks_the_technicians_language() -> None:
    set_language("zh_CN")
    page = WalkPage(_session().snapshot, host="127.0.0.1").start()
    try:
        dom = dump_dom(page.url)
    finally:
        page.stop()
        set_language("en")
    assert '<html lang="zh-CN">' in dom
    assert "巡检测试" in dom and "请在家中走一圈" in dom and "传感器" in dom
    assert 'data-sensor="pir-hall" data-state="waiting"' in dom   # the data is unchanged
