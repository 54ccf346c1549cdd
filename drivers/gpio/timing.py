"""Pure timing state machines behind the GPIO and serial drivers.

A contact chatters, a PIR re-triggers every two seconds, a sleeper's weight
leaves the bed mat for a few seconds when they turn over. Deciding what
such a stream of levels *means* is a matter of time, so it lives here as
plain classes fed with `(level, t)` and ticked with `t` (monotonic seconds
of the agent's injected clock). No threads, no sleeps, no I/O: tests and
replay drive them with a ManualClock.

Every `feed()` first runs `tick()` up to `t`, so a timer that expired
before an edge arrives is reported first, stamped with its own deadline
(`Change.at`), whatever the delay between clock jumps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Change:
    """A state the driver should report: `value` (of `sensor`, if not the default) since `at`."""

    value: Any
    at: float
    sensor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Settler:
    """A two-state input reported only once it has held a new level for its settle time.

    `settle_on` applies to changes towards True, `settle_off` towards False,
    so a bed mat can report "in bed" quickly but "out of bed" only after the
    weight has been gone long enough not to be a sleeper turning over.
    A candidate that reverts before its settle time is a *glitch*: counted,
    never reported. The first level fed is reported at once (`initial`).
    """

    def __init__(self, settle_on: float, settle_off: float, initial: bool | None = None) -> None:
        self.settle_on = settle_on
        self.settle_off = settle_off
        self.state: bool | None = initial
        self.glitches = 0
        self._glitches_since_report = 0
        self._pending: tuple[bool, float] | None = None

    def _settle(self, level: bool) -> float:
        return self.settle_on if level else self.settle_off

    def deadline(self) -> float | None:
        if self._pending is None:
            return None
        level, since = self._pending
        return since + self._settle(level)

    def tick(self, t: float) -> list[Change]:
        deadline = self.deadline()
        if self._pending is None or deadline is None or t < deadline:
            return []
        level, _since = self._pending
        self._pending = None
        return [self._report(level, deadline, {"settled_s": self._settle(level)})]

    def feed(self, level: bool, t: float) -> list[Change]:
        out = self.tick(t)
        if self.state is None:
            out.append(self._report(level, t, {"initial": True}))
            return out
        if level == self.state:
            if self._pending is not None:
                self._pending = None
                self.glitches += 1
                self._glitches_since_report += 1
            return out
        if self._settle(level) <= 0:
            self._pending = None
            out.append(self._report(level, t, {}))
            return out
        if self._pending is None:
            self._pending = (level, t)
        return out

    def _report(self, level: bool, at: float, data: dict[str, Any]) -> Change:
        self.state = level
        if self._glitches_since_report:
            data = {**data, "glitches": self._glitches_since_report}
            self._glitches_since_report = 0
        return Change(level, at, data=data)


class MotionHoldOff:
    """PIR output -> motion start/end with a hold-off, so re-triggers do not flood.

    Motion starts (True) on the first rising edge. It ends (False) only
    after `hold_off` seconds with the output low; a re-trigger inside that
    window is absorbed and counted. While motion goes on (re-triggers, or an
    output held high) a fresh True is reported at most every `repeat_every`
    seconds: the heuristics measure silence from the last motion reading and
    must not mistake a long stay in one room for stillness. An output held
    high for `stuck_after` seconds stops those repeats: a stuck sensor must
    not fake activity that could hide a fall.
    """

    def __init__(self, hold_off: float, repeat_every: float, stuck_after: float) -> None:
        self.hold_off = hold_off
        self.repeat_every = repeat_every
        self.stuck_after = stuck_after
        self.motion = False
        self.retriggers = 0
        self._high = False
        self._high_since = 0.0
        self._low_since = 0.0
        self._last_report = 0.0

    @property
    def output_high(self) -> bool:
        return self._high

    def stuck(self, t: float) -> bool:
        return self._high and t - self._high_since >= self.stuck_after

    def deadline(self) -> float | None:
        if not self.motion:
            return None
        if self._high:
            repeat = self._last_report + self.repeat_every
            return repeat if repeat < self._high_since + self.stuck_after else None
        return self._low_since + self.hold_off

    def tick(self, t: float) -> list[Change]:
        out: list[Change] = []
        if not self.motion:
            return out
        if not self._high:
            end = self._low_since + self.hold_off
            if t >= end:
                self.motion = False
                out.append(Change(False, end, data={"retriggers": self.retriggers}))
            return out
        while True:
            repeat = self._last_report + self.repeat_every
            if repeat > t or repeat >= self._high_since + self.stuck_after:
                return out
            self._last_report = repeat
            data = {"continued": True, "retriggers": self.retriggers}
            out.append(Change(True, repeat, data=data))

    def feed(self, level: bool, t: float) -> list[Change]:
        out = self.tick(t)
        if level == self._high:
            return out
        self._high = level
        if not level:
            self._low_since = t
            return out
        self._high_since = t
        if not self.motion:
            self.motion = True
            self.retriggers = 0
            self._last_report = t
            out.append(Change(True, t))
            return out
        self.retriggers += 1
        if t - self._last_report >= self.repeat_every:
            self._last_report = t
            out.append(Change(True, t, data={"continued": True, "retriggers": self.retriggers}))
        return out


LongPressAction = Literal["none", "cancel"]


class SosButton:
    """Emergency button: a press raises `sos` at once; a later long press may cancel it.

    Safety rules, in order:
    - the press that raises an alarm is reported on the edge, never delayed;
    - holding that same press down never cancels it (a frightened person
      holds the button);
    - with `action = "cancel"`, a *later* press within `cancel_window`
      seconds of the alarm is held to decide: released before `long_press`
      seconds it re-raises `sos` (on release), held `long_press` seconds it
      reports `sos_cancel` (the carer's "I am here, all is well").
    Presses closer than `debounce` seconds to the previous release are
    contact bounce and ignored.
    """

    def __init__(self, long_press: float, action: LongPressAction, cancel_window: float,
                 debounce: float = 0.05) -> None:
        self.long_press = long_press
        self.action = action
        self.cancel_window = cancel_window
        self.debounce = debounce
        self.pressed = False
        self.presses = 0
        self.bounces = 0
        self._press_at = 0.0
        self._release_at: float | None = None
        self._raised_at: float | None = None
        self._deciding = False
        self._long_done = False

    def held_for(self, t: float) -> float:
        return t - self._press_at if self.pressed else 0.0

    def deadline(self) -> float | None:
        if self.pressed and not self._long_done:
            return self._press_at + self.long_press
        return None

    def tick(self, t: float) -> list[Change]:
        if not self.pressed or self._long_done or t < self._press_at + self.long_press:
            return []
        self._long_done = True
        at = self._press_at + self.long_press
        if self._deciding:
            self._deciding = False
            self._raised_at = None
            return [Change(True, at, sensor="sos_cancel", data={"held_s": self.long_press})]
        return []

    def feed(self, pressed: bool, t: float) -> list[Change]:
        out = self.tick(t)
        if pressed == self.pressed:
            return out
        self.pressed = pressed
        if not pressed:
            self._release_at = t
            if self._deciding:
                self._deciding = False
                self._raised_at = t
                out.append(Change(True, t, sensor="sos",
                                  data={"press": self.presses, "held_s": t - self._press_at}))
            return out
        if self._release_at is not None and t - self._release_at < self.debounce:
            self.bounces += 1
            self._long_done = True  # a bounce is not the start of a long press
            return out
        self.presses += 1
        self._press_at = t
        self._long_done = False
        in_window = self._raised_at is not None and t - self._raised_at <= self.cancel_window
        if self.action == "cancel" and in_window:
            self._deciding = True
            return out
        self._raised_at = t
        out.append(Change(True, t, sensor="sos", data={"press": self.presses}))
        return out


class EdgeRate:
    """Edges seen in the last `window` seconds: a chattering input is a wiring fault."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._times: list[float] = []

    def add(self, t: float) -> None:
        self._times.append(t)

    def count(self, t: float) -> int:
        cut = t - self.window
        if self._times and self._times[0] < cut:
            self._times = [x for x in self._times if x >= cut]
        return len(self._times)
