"""A home described in a care worker's words, played onto gpiozero mock pins (and a serial mat).

    home = SimulatedHome("22:40 bed in; 02:10 bed out; 02:11 bathroom motion; "
                         "02:16 bedroom motion; 02:17 bed in; 07:05 bed out",
                         clock=clock, factory=mock_factory)
    drivers = home.make_drivers(context)     # the real gpio drivers, on pins chosen here
    home.apply_initial(); [d.open() for d in drivers]
    home.run_until("08:00", drivers)         # moves the ManualClock, drives the pins

Script grammar, one step per `;` or line, `HH:MM[:SS] words` (`#` starts a
comment). Times are local time of day in `tz`; a step earlier in the day
than the one before it happens the next day.

    bed in | bed out                      weight on / off the bed mat
    <room> motion                         a PIR pulse (`pulse` seconds high)
    <name> door open | <name> door close  reed contact; entrance/front, bathroom,
    fridge open | fridge close            bedroom, ... (see DOOR_ROLES)
    window open | window close
    sos press | sos hold <seconds>        the emergency button
    smoke on|off, gas on|off, co on|off   detector relay
    nothing                               a marker: time passes

Each sensor named in the script gets a device (and a GPIO pin, in order of
first mention); `driver_tables()` gives the matching `[[drivers]]` tables.
The simulated circuits drive their lines themselves, so the tables say
`pull = "off"` with the active level spelled out; the pull-up wiring of a
real kit is covered by the drivers' own tests.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from edgeagent_mocks.pty_bedmat import PtyBedMat

from edgeagent.clock import Clock, ManualClock
from edgeagent.driver import Driver, DriverContext, load_driver_class

FREE_PINS = (4, 17, 27, 22, 5, 6, 13, 19, 26, 23, 24, 25, 12, 16, 20, 21, 18)

# door name in a script -> (room, role)
DOOR_ROLES: dict[str, tuple[str, str]] = {
    "entrance": ("hall", "entrance"),
    "front": ("hall", "entrance"),
    "bathroom": ("bathroom", "bathroom_door"),
    "toilet": ("toilet", "bathroom_door"),
    "bedroom": ("bedroom", "door"),
    "fridge": ("kitchen", "fridge"),
    "window": ("living", "window"),
}

Kind = Literal["pir", "contact", "bedmat", "sos", "alarm"]
DRIVER_TYPES: dict[Kind, str] = {
    "pir": "gpio.pir", "contact": "gpio.contact", "bedmat": "gpio.bedmat",
    "sos": "gpio.sos", "alarm": "gpio.alarm_input",
}


class ScriptError(ValueError):
    """A step the simulated home does not understand; names the step."""


@dataclass(slots=True)
class SimDevice:
    """One simulated sensor: its driver table and how its circuit drives the pin."""

    kind: Kind
    name: str
    pin: int | None
    room: str | None = None
    role: str | None = None
    alarm: str | None = None
    active_high: bool = True

    def table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"type": DRIVER_TYPES[self.kind], "name": self.name}
        if self.room:
            table["room"] = self.room
        if self.kind == "contact" and self.role:
            table["role"] = self.role
        if self.kind == "alarm":
            table["alarm"] = self.alarm
        table.update({"pin": self.pin, "pull": "off", "active_high": self.active_high})
        return table


@dataclass(frozen=True, slots=True)
class Action:
    """One change on the wire at a wall time: `active` for a pin, a word for the serial mat."""

    at: datetime
    device: str
    active: bool
    step: str


@dataclass(frozen=True, slots=True)
class Step:
    tod: time
    words: tuple[str, ...]
    text: str


class Pollable(Protocol):
    def poll(self) -> None: ...

    def next_deadline(self) -> float | None: ...


def parse_script(script: str) -> list[Step]:
    steps: list[Step] = []
    for raw in re.split(r"[;\n]", script):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        match = re.match(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s+(.+)$", text)
        if not match:
            raise ScriptError(f"step {text!r}: expected 'HH:MM what happens'")
        hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ScriptError(f"step {text!r}: no such time of day")
        steps.append(Step(time(hour, minute, second), tuple(match.group(4).lower().split()), text))
    return steps


@dataclass
class SimulatedHome:
    """Turns a script into pin changes at wall times, on an injected clock."""

    script: str
    clock: Clock
    factory: Any = None
    tz: str | tzinfo = "UTC"
    start: datetime | None = None
    serial_mat: PtyBedMat | None = None
    pulse: float = 3.0
    begin_at: str | None = None
    initial_bed: bool | None = None
    devices: dict[str, SimDevice] = field(default_factory=dict, init=False)
    actions: list[Action] = field(default_factory=list, init=False)
    fired: list[Action] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.zone: tzinfo = ZoneInfo(self.tz) if isinstance(self.tz, str) else self.tz
        self.steps = parse_script(self.script)
        if not self.steps:
            raise ScriptError("empty script")
        self._pins = iter(FREE_PINS)
        self._plans = [self._plan(step) for step in self.steps]
        if self.begin_at is not None:
            self._rotate(self.begin_at)
        self._cursor = 0
        self._anchor = self.start or self.clock.wall()
        self.schedule_pass()

    # -- devices --------------------------------------------------------------------

    def _device(self, kind: Kind, name: str, **info: Any) -> SimDevice:
        if name not in self.devices:
            serial = kind == "bedmat" and self.serial_mat is not None
            pin = None if serial else next(self._pins, None)
            if pin is None and not serial:
                raise ScriptError(f"no free GPIO pin left for {name!r}")
            self.devices[name] = SimDevice(kind, name, pin, **info)
        return self.devices[name]

    def _plan(self, step: Step) -> list[tuple[float, str, bool]]:
        """A step as (offset seconds, device, active) changes."""
        w = step.words
        if w in (("nothing",), ("wait",)):
            return []
        if w[0] == "bed" and len(w) == 2 and w[1] in ("in", "out"):
            self._device("bedmat", "bed", room="bedroom", active_high=False)
            return [(0.0, "bed", w[1] == "in")]
        if len(w) == 2 and w[1] == "motion":
            name = f"pir-{w[0]}"
            self._device("pir", name, room=w[0], active_high=True)
            return [(0.0, name, True), (self.pulse, name, False)]
        if len(w) in (2, 3) and w[-1] in ("open", "close", "closed") and (
                len(w) == 2 or w[1] == "door"):
            room, role = DOOR_ROLES.get(w[0], (w[0], "door"))
            name = f"door-{w[0]}" if w[0] not in ("fridge", "window") else w[0]
            self._device("contact", name, room=room, role=role, active_high=False)
            return [(0.0, name, w[-1] != "open")]  # active = closed
        if w[0] == "sos" and w[1:] == ("press",):
            self._device("sos", "sos", room="living", active_high=False)
            return [(0.0, "sos", True), (0.5, "sos", False)]
        if w[0] == "sos" and len(w) == 3 and w[1] == "hold":
            self._device("sos", "sos", room="living", active_high=False)
            return [(0.0, "sos", True), (float(w[2].rstrip("s")), "sos", False)]
        if w[0] in ("smoke", "gas", "co") and len(w) == 2 and w[1] in ("on", "off"):
            room = "kitchen" if w[0] != "smoke" else "living"
            self._device("alarm", w[0], room=room, alarm=w[0], active_high=False)
            return [(0.0, w[0], w[1] == "on")]
        raise ScriptError(f"step {step.text!r}: not understood (see SimulatedHome's grammar)")

    def _rotate(self, begin_at: str) -> None:
        """Begin with the step that comes soonest after `begin_at` ("HH:MM") by time of day."""
        hour, minute = (int(x) for x in begin_at.split(":"))
        begin = hour * 3600 + minute * 60

        def wait(step: Step) -> int:
            tod = step.tod.hour * 3600 + step.tod.minute * 60 + step.tod.second
            return (tod - begin) % 86400

        first = min(range(len(self.steps)), key=lambda i: (wait(self.steps[i]), i))
        self.steps = self.steps[first:] + self.steps[:first]
        self._plans = self._plans[first:] + self._plans[:first]

    def driver_tables(self, **overrides: dict[str, Any]) -> list[dict[str, Any]]:
        """`[[drivers]]` tables for the real drivers; `overrides` by driver type or name.

        e.g. `driver_tables(**{"gpio.pir": {"hold_off": 30}, "bed": {"exit_settle": 20}})`.
        """
        tables = []
        for device in self.devices.values():
            if device.pin is None:
                assert self.serial_mat is not None
                table: dict[str, Any] = {"type": "serial.bedmat", "name": device.name,
                                         "room": device.room, "port": self.serial_mat.port}
            else:
                table = device.table()
            table.update(overrides.get(table["type"], {}))
            table.update(overrides.get(device.name, {}))
            tables.append(table)
        return tables

    def make_drivers(self, context: DriverContext | Callable[[str], DriverContext],
                     **overrides: dict[str, Any]) -> list[Driver]:
        """The real drivers (through the entry-point registry) on this home's mock pins."""
        drivers: list[Driver] = []
        for table in self.driver_tables(**overrides):
            cls = load_driver_class(table["type"])
            options = cls.Options.model_validate(table)
            ctx = context(table["name"]) if callable(context) else context
            if table["type"].startswith("gpio."):
                drivers.append(cls(options, ctx, pin_factory=self.factory))  # type: ignore[call-arg]
            else:
                drivers.append(cls(options, ctx))
        return drivers

    # -- time -------------------------------------------------------------------------

    def schedule_pass(self) -> None:
        """Lay the script's steps on the calendar after the previous pass (or the start)."""
        local = self._anchor.astimezone(self.zone)
        for step, plan in zip(self.steps, self._plans, strict=True):
            at = datetime.combine(local.date(), step.tod, tzinfo=self.zone)
            while at < local:
                at += timedelta(days=1)
            local = at
            for offset, device, active in plan:
                self.actions.append(Action(at + timedelta(seconds=offset), device, active,
                                           step.text))
        self.actions.sort(key=lambda a: a.at)
        self._anchor = local + timedelta(seconds=1)

    @property
    def finished(self) -> bool:
        return self._cursor >= len(self.actions)

    @property
    def next_at(self) -> datetime | None:
        return None if self.finished else self.actions[self._cursor].at

    def at(self, hhmm: str) -> datetime:
        """The next wall time (after the clock's now) showing `hhmm` in the home's zone."""
        hour, minute = (int(x) for x in hhmm.split(":")[:2])
        now = self.clock.wall().astimezone(self.zone)
        when = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return when if when > now else when + timedelta(days=1)

    # -- the wire ---------------------------------------------------------------------

    def _drive(self, device: SimDevice, active: bool) -> None:
        if device.pin is None:
            assert self.serial_mat is not None
            self.serial_mat.report("IN" if active else "OUT")
            return
        pin = self.factory.pin(device.pin)
        if active == device.active_high:
            pin.drive_high()
        else:
            pin.drive_low()

    def apply_initial(self) -> None:
        """Quiet house before the drivers open: doors closed, no motion, bed per the script."""
        first_bed = next((a.active for a in self.actions if a.device == "bed"), False)
        for device in self.devices.values():
            if device.kind == "bedmat":
                bed = self.initial_bed if self.initial_bed is not None else not first_bed
                self._drive(device, bed)
            else:
                self._drive(device, device.kind == "contact")

    def fire(self, action: Action) -> None:
        self._drive(self.devices[action.device], action.active)
        self.fired.append(action)

    def fire_due(self, now: datetime | None = None) -> list[Action]:
        """Fire every action whose time has come (for a clock this home does not move)."""
        now = now or self.clock.wall()
        done = []
        while not self.finished and self.actions[self._cursor].at <= now:
            action = self.actions[self._cursor]
            self._cursor += 1
            self.fire(action)
            done.append(action)
        return done

    def _advance_to(self, when: datetime, drivers: Sequence[Pollable]) -> None:
        """Move the ManualClock to `when`, stopping at each driver timer on the way."""
        clock = self.clock
        assert isinstance(clock, ManualClock), "run_until needs a ManualClock"
        previous: float | None = None
        while True:
            target = (when - clock.wall()).total_seconds()
            deadlines = [d for d in (x.next_deadline() for x in drivers) if d is not None]
            soonest = min(deadlines, default=None)
            if soonest is not None and soonest != previous \
                    and soonest - clock.monotonic() < target:
                clock.advance(max(0.0, soonest - clock.monotonic()))
                for driver in drivers:
                    driver.poll()
                previous = soonest
                continue
            if target > 0:
                clock.advance(target)
            for driver in drivers:
                driver.poll()
            return

    def run_until(self, when: datetime | str, drivers: Sequence[Pollable] = ()) -> None:
        """Play the script up to `when` (a datetime or "HH:MM"), moving the ManualClock."""
        end = self.at(when) if isinstance(when, str) else when
        while not self.finished and self.actions[self._cursor].at <= end:
            action = self.actions[self._cursor]
            self._advance_to(action.at, drivers)
            self._cursor += 1
            self.fire(action)
        self._advance_to(end, drivers)

    async def play_until(self, when: datetime | str, drivers: Sequence[Pollable],
                         settle: Callable[[], Awaitable[None]]) -> None:
        """`run_until` for drivers that read asynchronously (the serial mat): awaits `settle()`
        after every action so the bytes are consumed before the clock moves on."""
        end = self.at(when) if isinstance(when, str) else when
        while not self.finished and self.actions[self._cursor].at <= end:
            action = self.actions[self._cursor]
            self._advance_to(action.at, drivers)
            self._cursor += 1
            self.fire(action)
            await settle()
        self._advance_to(end, drivers)
