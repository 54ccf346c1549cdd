"""`serial.bedmat`: a bed-exit mat controller on a serial port (USB adapter or UART), via pyserial.

The port is read without threads: its file descriptor is watched by the
event loop (`add_reader`), and each burst of bytes goes through a framing
(`framing.py`). Everything the line can do wrong is survived and shown in
health, never raised:

- the port is missing at start, or vanishes (USB unplugged): health
  `failed` with the reason, a `device_status = "offline"` reading, reopen
  with exponential backoff (real time: it is I/O retry, not a sensor
  timing), readings resume when it comes back;
- garbage bytes and partial frames: counted, skipped;
- a wrong baud rate turns every byte into garbage: after `garbage_limit`
  bytes without a valid frame, health `degraded` says "wrong baud rate?";
- the mat powered off with the adapter still plugged: no frame for
  `silence_timeout` seconds (injected clock) -> `device_status = "offline"`.

Readings: sensor `bed`, "in_bed"/"out_of_bed", with the same settle times
as `gpio.bedmat` (a mat's own state flips when a sleeper turns over).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, ClassVar, Literal

import serial
from edgeagent_drivers.gpio.timing import Change, Settler
from edgeagent_drivers.serial.framing import FrameProtocol, MatFrame, make_framing
from pydantic import Field, field_validator

from edgeagent.driver import (
    Driver,
    DriverContext,
    DriverOptions,
    HardwareCheck,
    HealthState,
    SerialPortCheck,
)
from edgeagent.models import Reading

TICK_PENDING = 0.02
TICK_IDLE = 0.2
READ_CHUNK = 4096


class SerialBedMatOptions(DriverOptions):
    port: str = Field(min_length=1, description="e.g. /dev/serial/by-id/usb-FTDI_...-if00-port0")
    baudrate: int = 9600
    framing: Literal["nmea-bed", "lines"] = "nmea-bed"
    exit_settle: float = Field(default=15.0, ge=0, le=600)
    entry_settle: float = Field(default=2.0, ge=0, le=600)
    silence_timeout: float = Field(default=30.0, gt=0,
                                   description="seconds without a valid frame = mat offline")
    garbage_limit: int = Field(default=256, ge=16,
                               description="bytes without a valid frame = wrong baud rate")
    reopen_initial: float = Field(default=0.5, gt=0, le=60)
    reopen_max: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("baudrate")
    @classmethod
    def _standard_rate(cls, value: int) -> int:
        if value not in serial.Serial.BAUDRATES:
            raise ValueError(f"{value} is not a standard baud rate (e.g. 9600, 19200, 115200)")
        return value


class SerialBedMatDriver(Driver):
    """In bed / out of bed from a serial mat controller, surviving unplugs and noise."""

    Options: ClassVar[type[DriverOptions]] = SerialBedMatOptions
    options: SerialBedMatOptions

    @classmethod
    def checks(cls, options: DriverOptions) -> list[HardwareCheck]:
        if not isinstance(options, SerialBedMatOptions):
            return []
        framing = options.framing
        return [SerialPortCheck(port=options.port, baudrate=options.baudrate, framing=framing,
                                framer=lambda: make_framing(framing))]

    def __init__(self, options: DriverOptions, context: DriverContext) -> None:
        super().__init__(options, context)
        o = self.options
        self.framing: FrameProtocol = make_framing(o.framing)
        self.machine = Settler(settle_on=o.entry_settle, settle_off=o.exit_settle)
        self._port: Any = None
        self._online: bool | None = None
        self._last_frame_at: float | None = None
        self._opened_at = 0.0
        self._pressure: int | None = None
        self._fault = False
        self._warned_baud = False

    # -- frames -> readings (pure enough to test without a port) -----------------

    def on_bytes(self, data: bytes) -> None:
        """Bytes as they came off the line."""
        t = self.context.clock.monotonic()
        stats = self.framing.stats
        before = stats.garbage_bytes
        for frame in self.framing.feed(data):
            self._on_frame(frame, t)
        self.health.counters["bytes"] = stats.bytes_in
        self.health.counters["frames"] = stats.frames
        self.health.counters["garbage_bytes"] = stats.garbage_bytes
        self.health.counters["bad_frames"] = stats.bad_frames
        if stats.garbage_bytes > before:
            self.context.logger.debug("%s: %d garbage bytes (%s)", self.name,
                                      stats.garbage_bytes - before, stats.last_error)
        self._update_health(t)

    def _on_frame(self, frame: MatFrame, t: float) -> None:
        self._last_frame_at = t
        self._warned_baud = False
        if self._online is not True:
            self._status("online", t, "valid frames")
        if frame.state == "fault":
            self._fault = True
            return
        self._fault = False
        self._pressure = frame.pressure
        self._emit(self.machine.feed(frame.state == "in_bed", t))

    def poll(self) -> None:
        """Timers by the injected clock: settle times, silence."""
        t = self.context.clock.monotonic()
        self._emit(self.machine.tick(t))
        if self._port is not None:
            since = self._last_frame_at if self._last_frame_at is not None else self._opened_at
            if t - since >= self.options.silence_timeout and self._online is not False:
                self._status("offline", t, f"no valid frame for {t - since:.0f} s")
        self._update_health(t)

    def _update_health(self, t: float) -> None:
        if self._port is None:
            return
        o = self.options
        stats = self.framing.stats
        if stats.since_good >= o.garbage_limit:
            reason = (f"no valid frame in {stats.since_good} bytes at {o.baudrate} baud: "
                      f"wrong baud rate or framing (expects {o.framing})? last error: "
                      f"{stats.last_error or 'none'}")
            if not self._warned_baud:
                self._warned_baud = True
                self.context.logger.warning("%s: %s", self.name, reason)
            self.set_health(HealthState.DEGRADED, reason)
        elif self._online is False:
            since = self._last_frame_at if self._last_frame_at is not None else self._opened_at
            self.set_health(HealthState.DEGRADED,
                            f"no frame from the mat for {t - since:.0f} s on {o.port} "
                            "(mat controller off or cable loose?)")
        elif self._fault:
            self.set_health(HealthState.DEGRADED,
                            "the mat reports a fault (pad unplugged from its controller?)")
        else:
            self.set_health(HealthState.OK, f"{o.port} at {o.baudrate} baud")

    def _status(self, value: str, t: float, reason: str) -> None:
        self._online = value == "online"
        self.context.emit(self._reading_at(t, "device_status", value, {"reason": reason}))

    def _emit(self, changes: list[Change]) -> None:
        for change in changes:
            data = dict(change.data)
            if self._pressure is not None:
                data["pressure"] = self._pressure
            value = "in_bed" if change.value else "out_of_bed"
            self.count("readings")
            self.context.emit(self._reading_at(change.at, "bed", value, data))

    def _reading_at(self, at: float, sensor: str, value: Any, data: dict[str, Any]) -> Reading:
        clock = self.context.clock
        now = clock.monotonic()
        return Reading(driver=self.options.name, device=self.options.name, sensor=sensor,
                       value=value, mono=at,
                       wall=clock.wall() - timedelta(seconds=max(0.0, now - at)),
                       room=self.options.room, data=data)

    def _deadline(self) -> float | None:
        return self.machine.deadline()

    def next_deadline(self) -> float | None:
        """Clock time of the next pending timer (the simulated home advances to it)."""
        return self._deadline()

    # -- the port -----------------------------------------------------------------

    def _open_port(self) -> Any:
        return serial.Serial(port=self.options.port, baudrate=self.options.baudrate,
                             timeout=0, exclusive=True)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        o = self.options
        delay = o.reopen_initial
        attempt = 0
        while True:
            try:
                port = self._open_port()
            except (serial.SerialException, OSError) as exc:
                attempt += 1
                self.count("open_failures")
                self.set_health(HealthState.FAILED,
                                f"cannot open {o.port}: {exc} (attempt {attempt}, "
                                f"retrying in {delay:.1f} s; USB unplugged or wrong port?)")
                if attempt == 1:
                    self.context.logger.warning("%s: %s", self.name, self.health.reason)
                await asyncio.sleep(delay)
                delay = min(delay * 2, o.reopen_max)
                continue
            attempt = 0
            delay = o.reopen_initial
            self.count("port_opened")
            reason = await self._read_until_lost(loop, port)
            self.count("disconnects")
            t = self.context.clock.monotonic()
            if self._online is not False:
                self._status("offline", t, f"port lost: {reason}")
            self.set_health(HealthState.FAILED, f"{o.port} vanished ({reason}); reopening")
            self.context.logger.warning("%s: %s", self.name, self.health.reason)
            await asyncio.sleep(o.reopen_initial)

    async def _read_until_lost(self, loop: asyncio.AbstractEventLoop, port: Any) -> str:
        lost: asyncio.Future[str] = loop.create_future()
        fd = port.fileno()

        def readable() -> None:
            try:
                data = port.read(READ_CHUNK)
            except (serial.SerialException, OSError) as exc:
                loop.remove_reader(fd)
                if not lost.done():
                    lost.set_result(str(exc))
                return
            if data:
                self.on_bytes(data)

        self._port = port
        self._opened_at = self.context.clock.monotonic()
        self._last_frame_at = None
        self.framing.reset()
        self.framing.stats.since_good = 0
        self._update_health(self._opened_at)
        loop.add_reader(fd, readable)
        try:
            while not lost.done():
                timeout = TICK_PENDING if self._deadline() is not None else TICK_IDLE
                await asyncio.wait({lost}, timeout=timeout)
                self.poll()
            return lost.result()
        finally:
            loop.remove_reader(fd)
            self._port = None
            port.close()
