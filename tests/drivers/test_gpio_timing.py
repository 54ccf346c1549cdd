"""The pure timing machines: hold-off, settle, long press, by numbers alone."""

from __future__ import annotations

from edgeagent_drivers.gpio.timing import MotionHoldOff, Settler, SosButton


def test_pir_retriggering_every_two_seconds_for_ten_minutes_gives_a_handful_of_readings() -> None:
    pir = MotionHoldOff(hold_off=30, repeat_every=60, stuck_after=7200)
    out = []
    t = 0.0
    while t < 600:
        out += pir.feed(True, t)
        out += pir.feed(False, t + 1)
        t += 2
    out += pir.tick(t + 100)
    values = [c.value for c in out]
    assert values[0] is True and values[-1] is False
    assert values.count(False) == 1
    assert 9 <= values.count(True) <= 11  # start + one per minute
    assert out[-1].at == 599 + 30  # last low edge + hold-off
    assert out[-1].data["retriggers"] == 299


def test_pir_output_held_high_repeats_until_stuck() -> None:
    pir = MotionHoldOff(hold_off=30, repeat_every=60, stuck_after=300)
    out = pir.feed(True, 0)
    out += pir.tick(1000)
    assert [c.at for c in out] == [0, 60, 120, 180, 240]
    assert pir.stuck(1000)
    assert pir.deadline() is None


def test_settler_ignores_a_turn_over_and_reports_a_real_exit_at_its_deadline() -> None:
    bed = Settler(settle_on=2, settle_off=15)
    assert [c.value for c in bed.feed(True, 0)] == [True]
    assert bed.feed(False, 100) == []      # turns over...
    assert bed.feed(True, 106) == []       # ...back within 15 s: no exit
    assert bed.glitches == 1
    assert bed.feed(False, 200) == []
    changes = bed.feed(True, 300)          # edge long after the deadline: exit reported first
    assert [(c.value, c.at) for c in changes] == [(False, 215)]
    assert changes[0].data["glitches"] == 1
    assert [(c.value, c.at) for c in bed.tick(302)] == [(True, 302)]


def test_sos_press_raises_on_the_edge_and_holding_it_never_cancels() -> None:
    sos = SosButton(long_press=3, action="cancel", cancel_window=600)
    out = sos.feed(True, 10)
    assert [(c.sensor, c.value, c.at) for c in out] == [("sos", True, 10)]
    assert sos.tick(20) == []
    assert sos.feed(False, 20) == []


def test_sos_later_long_press_cancels_and_short_press_re_raises() -> None:
    sos = SosButton(long_press=3, action="cancel", cancel_window=600)
    sos.feed(True, 0)
    sos.feed(False, 1)
    assert sos.feed(True, 60) == []                 # deciding
    assert [(c.sensor, c.value) for c in sos.feed(False, 61)] == [("sos", True)]
    sos.feed(True, 120)
    assert [(c.sensor, c.at) for c in sos.tick(125)] == [("sos_cancel", 123)]
    sos.feed(False, 126)
    # after a cancel, the next press raises again at once
    assert [c.sensor for c in sos.feed(True, 200)] == ["sos"]


def test_sos_without_cancel_mode_raises_on_every_press_and_ignores_bounce() -> None:
    sos = SosButton(long_press=3, action="none", cancel_window=600, debounce=0.05)
    assert len(sos.feed(True, 0)) == 1
    sos.feed(False, 0.5)
    assert sos.feed(True, 0.52) == []   # bounce on release
    sos.feed(False, 0.53)
    assert len(sos.feed(True, 5)) == 1
    assert sos.bounces == 1
