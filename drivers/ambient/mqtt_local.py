"""`mqtt.local`: readings from the home-automation broker already in the home.

Zigbee2MQTT, Tasmota and ESPHome plugs and sensors publish JSON (or plain
values) on their own topics. A mapping — inline `[[drivers.map]]` tables or a
TOML `map_file` with `[[map]]` tables — says which topic and JSON field
(dotted path: `ENERGY.Power` for Tasmota) is which sensor kind, in which room,
with which role (`kettle`, `microwave`, `tv`, `fridge_door`). Mapped values
become ordinary readings: `contact` becomes `door` "open"/"closed" as from
`gpio.contact`, `motion` becomes `motion` True/False, `occupancy` and
`presence` (a presence radar: held while she is there) become `occupancy`
True/False as from `gpio.chairpad`, role `radar` unless the entry says
otherwise (the table in `activity_kinds.py`, shared with `ble.sensors`; a
Zigbee2MQTT PIR's `occupancy` field is motion: `kind = "motion"`), numbers keep
their kind (`power`, `temperature`, ...). A `power` entry with a role or a
`threshold_w` also drives an `ApplianceDetector`: power at or above the
threshold for `on_after_s` emits `appliance` True (with the role), below for
`off_after_s` emits False. Timers run on the injected clock.

A button configured as a pendant (`kind = "sos"` on its `action` field) makes
`sos` True on every press message ("single", "double", "hold", "emergency",
...; not "release" or the empty action), never damped, with role "sos" like
`gpio.sos`; a retained message is an old press and never raises.

Malformed JSON, unmapped topics, missing fields and unusable values are
counted and logged, never raised. The connection is the agent's MQTT link
(`edgeagent.mqtt_link`: paho on the asyncio loop, dead links noticed
within 1.5 x keepalive); a closed link is replaced after a jittered backoff
between `reconnect_min_s` and `reconnect_max_s`, with the subscriptions
made again. Every message is handled on the loop, which alone touches
driver state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgeagent.backoff import Backoff
from edgeagent.driver import Driver, DriverContext, DriverOptions, HealthState
from edgeagent.heuristics.values import finite_number
from edgeagent.mqtt_link import BrokerAddress, ClientSettings, Link
from edgeagent.secrets import read_secret, strip_credentials

from .activity_kinds import ACTIVITY_KINDS, activity_reading
from .appliance import ApplianceDetector

log = logging.getLogger(__name__)

SleepFn = Callable[[float], Awaitable[None]]

NUMERIC_KINDS = frozenset({"power", "energy", "temperature", "humidity", "voltage", "current",
                           "illuminance", "battery", "pressure", "co2"})
BINARY_KINDS = frozenset({"contact", "motion", "occupancy", "presence", "switch", "water_leak",
                          "smoke"})
UNITS = {"power": "W", "energy": "kWh", "temperature": "degC", "humidity": "%",
         "voltage": "V", "current": "A", "illuminance": "lx", "battery": "%",
         "pressure": "hPa", "co2": "ppm"}
# What a home sensor can physically report; anything outside is a broken or hostile
# device (`{"power": 1e308}` must not switch a kettle on). Bounds include solar export
# (negative power) and whole-house meters.
PLAUSIBLE = {"power": (-100_000.0, 100_000.0), "energy": (-1e9, 1e9),
             "temperature": (-90.0, 150.0), "humidity": (0.0, 100.0),
             "voltage": (-1_000.0, 1_000.0), "current": (-1_000.0, 1_000.0),
             "illuminance": (0.0, 300_000.0), "battery": (0.0, 100.0),
             "pressure": (0.0, 2_000.0), "co2": (0.0, 100_000.0)}
# A free-form integer beyond this is no sensor value (and no JSON encoder takes it).
MAX_INT_MAGNITUDE = 2**53
DEFAULT_STEP = {"power": 10.0, "temperature": 0.2, "humidity": 2.0, "energy": 0.01}
TRUE_WORDS = frozenset({"on", "true", "1", "yes", "closed", "close", "detected", "occupied"})
FALSE_WORDS = frozenset({"off", "false", "0", "no", "open", "clear", "vacant"})
# Button actions that are not a press (kind "sos"): releases and Zigbee2MQTT's cleared action.
NOT_A_PRESS = frozenset({"", "release", "none"})
# A mapped topic's payload above this is dropped unread (counted): a Zigbee2MQTT or
# Tasmota message is well under 4 KiB, and one 1 MB value became one 1 MB event.
MAX_PAYLOAD_BYTES = 256 * 1024
# A free-form (text) value keeps this many characters; the rest is cut (counted).
MAX_TEXT_CHARS = 256
CONNECT_TIMEOUT_S = 5.0  # the TCP connect to the home's broker
STABLE_CONNECTION_S = 10.0  # a link that lasted this long resets the reconnect backoff


class BadValue(ValueError):
    """A mapped field holds something its kind cannot use."""


class MapEntry(BaseModel):
    """One topic + field -> one sensor. `field = ""` means the whole payload (ESPHome states)."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1)
    field: str = ""
    kind: str = Field(min_length=1)
    device: str | None = None
    room: str | None = None
    role: str | None = None
    invert: bool = False
    threshold_w: float | None = Field(default=None, gt=0)
    on_after_s: float | None = Field(default=None, ge=0)
    off_after_s: float | None = Field(default=None, ge=0)

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        for i, level in enumerate(value.split("/")):
            if ("#" in level and (level != "#" or i != value.count("/"))) or \
                    ("+" in level and level != "+"):
                raise ValueError(f"invalid MQTT topic filter {value!r}")
        return value

    @property
    def detects_appliance(self) -> bool:
        return self.kind == "power" and (self.role is not None or self.threshold_w is not None)

    def device_name(self) -> str:
        if self.device:
            return self.device
        skip = {"zigbee2mqtt", "tele", "stat", "SENSOR", "STATE", "sensor", "state", "+", "#"}
        parts = [p for p in self.topic.split("/") if p and p not in skip]
        return "_".join(parts) or self.topic


def load_map_file(path: Path) -> list[MapEntry]:
    """Read `[[map]]` tables from a TOML file; errors name the file and the entry."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read map_file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"map_file {path} is not valid TOML: {exc}") from None
    tables = doc.get("map", [])
    if not isinstance(tables, list):
        raise ValueError(  # noqa: TRY004 - pydantic reports ValueError as a config error
            f"map_file {path}: `map` must be an array of tables ([[map]])")
    entries = []
    for i, table in enumerate(tables):
        try:
            entries.append(MapEntry.model_validate(table))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"map_file {path}: map[{i}].{where}: {first['msg']}") from None
    return entries


class MqttLocalOptions(DriverOptions):
    """The `[[drivers]]` table of type `mqtt.local` (keys in docs/environment.md)."""

    broker: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password_file: Path | None = None
    client_id: str | None = None
    keepalive_s: int = Field(default=30, ge=5)
    map: list[MapEntry] = Field(default_factory=list)
    map_file: Path | None = None
    subscribe: list[str] = Field(default_factory=list)
    power_threshold_w: float = Field(default=20, gt=0)
    on_after_s: float = Field(default=5, ge=0)
    off_after_s: float = Field(default=30, ge=0)
    report_interval_s: float = Field(default=300, ge=0)
    tick_s: float = Field(default=1, gt=0)
    reconnect_min_s: int = Field(default=1, ge=1)
    reconnect_max_s: int = Field(default=120, ge=1)

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme not in ("mqtt", "tcp") or not url.hostname:
            raise ValueError(f"broker must look like mqtt://host:1883, got {value!r}")
        return value

    def secret_files(self) -> dict[str, Path]:
        return {"password_file": self.password_file} if self.password_file else {}

    @model_validator(mode="after")
    def _mapping(self) -> MqttLocalOptions:
        if self.map_file is not None:
            self.map = [*self.map, *load_map_file(self.map_file)]
            self.map_file = None  # loaded once; a reload re-reads the config and the file
        if not self.map:
            raise ValueError("no mapping: add [[drivers.map]] tables or a map_file")
        return self


def lookup(doc: Any, path: str) -> Any:
    """Follow a dotted path through dicts (and list indexes); KeyError if absent."""
    if not path:
        return doc
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise KeyError(path)
    return cur


def _shown(value: Any) -> str:
    """A value for a log line: a 401-digit number is not worth 401 characters."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT_MAGNITUDE:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def to_number(value: Any, kind: str = "") -> float:
    """A finite float inside the kind's physical range; BadValue otherwise."""
    number = finite_number(value)
    if number is None:
        raise BadValue(f"{_shown(value)} is not a finite number")
    low, high = PLAUSIBLE.get(kind, (-math.inf, math.inf))
    if not low <= number <= high:
        raise BadValue(f"{_shown(value)} is outside the plausible {kind} range "
                       f"[{low:g}, {high:g}]")
    return number


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise BadValue(f"{value!r} is not on/off")


def pendant_pressed(raw: Any) -> bool:
    """A Zigbee2MQTT button `action` ("single", "double", "hold", "emergency", ...) is a press;
    "release" and the empty action Zigbee2MQTT sends after one are not."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and len(raw) <= MAX_TEXT_CHARS:
        return raw.strip().lower() not in NOT_A_PRESS
    raise BadValue(f"{_shown(raw)} is not a button action")


def convert(entry: MapEntry, raw: Any) -> tuple[str, Any]:
    """(sensor, value) of a reading for one mapped value; BadValue if unusable."""
    kind = entry.kind
    if kind == "sos":  # a button configured as a pendant: each press is an SOS
        return "sos", pendant_pressed(raw)
    if kind in NUMERIC_KINDS:
        return kind, to_number(raw, kind)
    if kind in BINARY_KINDS:
        flag = to_bool(raw) != entry.invert
        if kind in ACTIVITY_KINDS:  # contact true = magnet present = closed; the shared table
            return activity_reading(kind, flag)
        return kind, flag
    if isinstance(raw, dict | list) or raw is None:
        raise BadValue(f"{type(raw).__name__} where a {kind} value was expected")
    if isinstance(raw, int) and abs(raw) > MAX_INT_MAGNITUDE:
        raise BadValue(f"{_shown(raw)} where a {kind} value was expected")
    return kind, raw


def _role(entry: MapEntry, sensor: str) -> str | None:
    """The reading's role: a pendant's is `sos`; a radar's `radar` unless the entry names one."""
    if sensor == "sos":
        return "sos"
    if entry.role is None and sensor == "occupancy" and entry.kind in ACTIVITY_KINDS:
        return ACTIVITY_KINDS[entry.kind].default_role
    return entry.role


@dataclass(slots=True)
class _Slot:
    """Per mapping entry: what was last emitted, and the appliance detector if any."""

    entry: MapEntry
    last: tuple[Any, float] | None = None
    detector: ApplianceDetector | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class MqttLocalDriver(Driver):
    """Subscribes to the home's own broker and turns mapped fields into readings."""

    Options: ClassVar[type[DriverOptions]] = MqttLocalOptions
    options: MqttLocalOptions

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 sleep: SleepFn | None = None) -> None:
        super().__init__(options, context)
        assert isinstance(options, MqttLocalOptions)
        self.options = options
        self._sleep: SleepFn = sleep or asyncio.sleep
        o = options
        self.slots: list[_Slot] = []
        for entry in o.map:
            slot = _Slot(entry)
            if entry.detects_appliance:
                slot.detector = ApplianceDetector(
                    entry.threshold_w or o.power_threshold_w,
                    o.on_after_s if entry.on_after_s is None else entry.on_after_s,
                    o.off_after_s if entry.off_after_s is None else entry.off_after_s)
            self.slots.append(slot)
        self.filters = sorted({e.topic for e in o.map} | set(o.subscribe))
        self.link: Link | None = None
        self.connected = False
        self._refused = ""
        self.subscribed = False
        self.unmapped: dict[str, int] = {}
        self.broker_shown = strip_credentials(o.broker)  # health reaches the retained status

    # --- connection (one mqtt_link.Link at a time, on the loop) ---

    def _settings(self) -> ClientSettings:
        o = self.options
        password = read_secret(o.password_file, "password_file") if o.password_file else None
        return ClientSettings(client_id=o.client_id or f"edgeagent-{o.name}", protocol="3.1.1",
                              clean=True, keepalive=o.keepalive_s,
                              connect_timeout=CONNECT_TIMEOUT_S,
                              username=o.username, password=password if o.username else None)

    def _new_link(self, closed: asyncio.Future[str]) -> Link:
        url = urlsplit(self.options.broker)
        loop = asyncio.get_running_loop()

        def on_closed(_link: Link, reason: str) -> None:
            if not closed.done():
                closed.set_result(reason)

        link = Link(self._settings(), BrokerAddress(url.hostname or "127.0.0.1",
                                                    url.port or 1883, tls=False), on_closed)
        # paho calls these inside loop_read, on the loop; the work is done just after.

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            if rc.is_failure:
                self._refused = str(rc)
                return
            c.subscribe([(topic, 0) for topic in self.filters])  # clean session: every time
            loop.call_soon(self._on_link, True, "")

        def on_subscribe(_c: mqtt.Client, _u: Any, _m: int, codes: list[Any], _p: Any) -> None:
            refused = [str(rc) for rc in codes if rc.is_failure]
            loop.call_soon(self._on_subscribed, refused)

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            loop.call_soon(self.handle_message, msg.topic, bytes(msg.payload), bool(msg.retain))

        link.client.on_connect = on_connect
        link.client.on_subscribe = on_subscribe
        link.client.on_message = on_message
        return link

    async def _one_connection(self) -> bool:
        """Run one link to its end; True if the broker accepted it."""
        closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._refused = ""
        self.link = link = self._new_link(closed)
        link.start()
        try:
            reason = await closed
        finally:
            if not link.finished:  # cancelled: say goodbye to the broker
                with contextlib.suppress(OSError, ValueError):
                    link.client.disconnect()
                link.close()
            await link.wait_connect_worker(1.0)
            self.link = None
        accepted = self.connected
        if self._refused:
            reason = f"connection refused: {self._refused}"
        elif link.connect_error is not None:
            reason = f"cannot connect ({reason}); retrying"
        self._on_link(False, reason)
        return accepted

    async def _keep_connected(self) -> None:
        o = self.options
        backoff = Backoff(o.reconnect_min_s, o.reconnect_max_s, floor=o.reconnect_min_s / 2)
        while True:
            started = time.monotonic()
            accepted = await self._one_connection()
            if accepted and time.monotonic() - started > STABLE_CONNECTION_S:
                backoff.reset()
            await asyncio.sleep(backoff.next_delay())

    def _on_subscribed(self, refused: list[str]) -> None:
        self.subscribed = not refused
        if refused:
            self.count("subscribe_refused")
            self.set_health(HealthState.DEGRADED, f"subscription refused: {', '.join(refused)}")

    def _on_link(self, up: bool, reason: str) -> None:
        self.connected = up
        self.subscribed = self.subscribed and up
        if up:
            self.set_health(HealthState.OK, "")
        else:
            self.count("disconnects")
            self.set_health(HealthState.DEGRADED, f"broker {self.broker_shown}: {reason}")
        self._details()

    async def run(self) -> None:
        self.set_health(HealthState.STARTING, f"connecting to {self.broker_shown}")
        connection = asyncio.create_task(self._keep_connected(), name=f"{self.options.name}-link")
        try:
            while True:
                await self._sleep(self.options.tick_s)
                self.tick()
                if connection.done():
                    connection.result()  # it never ends on its own: raise what ended it
        finally:
            connection.cancel()
            await asyncio.gather(connection, return_exceptions=True)
            self.connected = False

    # --- messages to readings (event loop only) ---

    def handle_message(self, topic: str, payload: bytes, retained: bool = False) -> None:
        self.count("messages")
        slots = [s for s in self.slots if mqtt.topic_matches_sub(s.entry.topic, topic)]
        if not slots:
            self.count("unknown_topics")
            if topic in self.unmapped or len(self.unmapped) < 50:
                self.unmapped[topic] = self.unmapped.get(topic, 0) + 1
            log.debug("unmapped topic %s", topic)
            return
        if len(payload) > MAX_PAYLOAD_BYTES:
            self.count("oversized_payloads")
            seen = self.health.counters["oversized_payloads"]
            if seen in (1, 10, 100) or seen % 1000 == 0:  # counted always, logged sparingly
                log.warning("%s: payload of %d bytes over %d, dropped (%d so far)", topic,
                            len(payload), MAX_PAYLOAD_BYTES, seen)
            return
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            self.count("malformed_payloads")
            log.warning("%s: payload is not UTF-8: %r", topic, payload[:60])
            return
        try:
            doc: Any = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: `[` nested 100 000 deep
            if any(s.entry.field for s in slots):
                self.count("malformed_json")
                log.warning("%s: malformed JSON: %r", topic, text[:120])
                return
            doc = text  # ESPHome and Tasmota stat topics send plain values
        now = self.context.clock.monotonic()
        for slot in slots:
            if retained and slot.entry.kind == "sos":
                self.count("retained_presses_ignored")  # an old press replayed at subscribe
                continue
            self._apply(slot, topic, doc, now, retained)
        self._details()

    def _apply(self, slot: _Slot, topic: str, doc: Any, now: float,
               retained: bool = False) -> None:
        entry = slot.entry
        try:
            raw = lookup(doc, entry.field)
        except KeyError:
            self.count("missing_fields")
            log.debug("%s: no field %r", topic, entry.field)
            return
        try:
            sensor, value = convert(entry, raw)
        except BadValue as exc:
            self.count("bad_values")
            log.warning("%s %s: %s", topic, entry.field or "(payload)", exc)
            return
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            self.count("values_truncated")
            value = value[:MAX_TEXT_CHARS]
        self.count("values")
        if self._due(slot, value, now) or (sensor == "sos" and value is True):
            slot.last = (value, now)
            data: dict[str, Any] = {"topic": topic, "field": entry.field, "kind": entry.kind}
            if entry.kind in UNITS:
                data["unit"] = UNITS[entry.kind]
            if entry.kind in ("temperature", "humidity"):
                data["ambient"] = True  # a home-automation sensor measures the room, not her
            self.count("readings")
            if sensor == "sos":
                data["action"] = raw
            if retained:
                data["initial"] = True  # the state at subscribe: a baseline, not a change
            self.context.emit(self.reading(sensor, value, device=entry.device_name(),
                                           room=entry.room, role=_role(entry, sensor),
                                           data=data))
        if slot.detector is not None and isinstance(value, float):
            self._appliance(slot, slot.detector.feed(value, now))

    def _due(self, slot: _Slot, value: Any, now: float) -> bool:
        if slot.last is None or now - slot.last[1] >= self.options.report_interval_s:
            return True
        old = slot.last[0]
        if isinstance(value, float) and isinstance(old, float):
            moved = abs(value - old)
            return moved > 0 and moved >= DEFAULT_STEP.get(slot.entry.kind, 0.0)
        return bool(value != old)

    def _appliance(self, slot: _Slot, change: bool | None) -> None:
        det = slot.detector
        if change is None or det is None:
            return
        entry = slot.entry
        now = self.context.clock.monotonic()
        data: dict[str, Any] = {"power_w": det.power_w, "threshold_w": det.threshold_w}
        if change is False and det.on_since is not None:
            data["on_for_s"] = round(now - det.on_since, 1)
        self.count("appliance_on" if change else "appliance_off")
        self.context.emit(self.reading("appliance", change, device=entry.device_name(),
                                       room=entry.room, role=entry.role, data=data))

    def tick(self) -> None:
        """Run appliance timers: a kettle that stays on needs no new report to count."""
        now = self.context.clock.monotonic()
        for slot in self.slots:
            if slot.detector is not None:
                self._appliance(slot, slot.detector.tick(now))

    def _details(self) -> None:
        self.health.details = {
            "broker": self.broker_shown, "connected": self.connected,
            "subscriptions": list(self.filters),
            "unmapped_topics": dict(self.unmapped),
            "appliances": {s.entry.device_name(): {"role": s.entry.role, "on": s.detector.on,
                                                    "power_w": s.detector.power_w}
                           for s in self.slots if s.detector is not None},
        }

    async def close(self) -> None:
        link = self.link
        if link is not None and not link.finished:
            with contextlib.suppress(OSError, ValueError):
                link.client.disconnect()
            link.close()
