"""Bytes from a serial bed mat -> frames. Pure: no port, no clock, never raises on input.

A serial line delivers whatever it likes: the tail of a frame sent before
we opened the port, line noise when a USB adapter is plugged in, bytes
at the wrong baud rate, a modem manager's AT probes. A `FrameProtocol`
buffers partial frames across `feed()` calls, skips and counts everything
that is not a well-formed frame, and keeps enough statistics for the driver
to tell "wrong baud rate" from "mat silent".

Two framings ship (see docs/serial-bedmat-protocol.md):
- `nmea-bed`: `$BED,<IN|OUT|FLT>,<pressure>*<XOR checksum>\\r\\n`, NMEA 0183 style;
- `lines`: one state word per line (`IN`/`OUT`, `ON`/`OFF`, `1`/`0`), for
  mats whose USB adapter only forwards the relay state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

MatState = Literal["in_bed", "out_of_bed", "fault"]


@dataclass(frozen=True, slots=True)
class MatFrame:
    """One decoded report from the mat."""

    state: MatState
    pressure: int | None = None
    raw: bytes = b""


@dataclass(slots=True)
class FramingStats:
    """Counters a driver turns into health: garbage and bad frames are normal in small numbers."""

    bytes_in: int = 0
    frames: int = 0
    garbage_bytes: int = 0
    bad_frames: int = 0
    since_good: int = 0  # bytes received since the last good frame
    last_error: str = ""
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str, detail: str) -> None:
        self.bad_frames += 1
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.last_error = detail


class FrameProtocol(Protocol):
    """What the serial driver needs from a framing."""

    name: ClassVar[str]
    stats: FramingStats

    def feed(self, data: bytes) -> list[MatFrame]:
        """Append bytes, return every frame they complete. Never raises."""
        ...

    def reset(self) -> None:
        """Forget a partial frame (the port was closed and reopened)."""
        ...


def nmea_checksum(body: bytes) -> int:
    """XOR of the bytes between `$` and `*`, as in NMEA 0183."""
    value = 0
    for byte in body:
        value ^= byte
    return value


class NmeaBedFraming:
    """`$BED,<state>,<pressure>*<CS>\\r\\n`: ASCII, self-delimiting, checksummed.

    `$` always starts a new frame (it cannot occur inside one), so a frame
    is decoded whatever garbage came before it. A frame longer than
    `MAX_FRAME` bytes is abandoned, so garbage never grows the buffer.
    """

    name: ClassVar[str] = "nmea-bed"
    MAX_FRAME: ClassVar[int] = 82  # NMEA 0183's own sentence limit
    _SHAPE: ClassVar[re.Pattern[bytes]] = re.compile(
        rb"^\$([A-Z0-9,.\-]{1,74})\*([0-9A-Fa-f]{2})\r?\n$")
    _STATES: ClassVar[dict[bytes, MatState]] = {
        b"IN": "in_bed", b"OUT": "out_of_bed", b"FLT": "fault"}

    def __init__(self) -> None:
        self.stats = FramingStats()
        self._partial: bytearray | None = None

    def reset(self) -> None:
        if self._partial is not None:
            self.stats.garbage_bytes += len(self._partial)
        self._partial = None

    def feed(self, data: bytes) -> list[MatFrame]:
        frames: list[MatFrame] = []
        stats = self.stats
        stats.bytes_in += len(data)
        for byte in data:
            stats.since_good += 1
            if byte == 0x24:  # "$"
                if self._partial is not None:
                    stats.garbage_bytes += len(self._partial)
                    stats.error("truncated", "frame cut short by a new '$'")
                self._partial = bytearray(b"$")
                continue
            if self._partial is None:
                stats.garbage_bytes += 1
                continue
            self._partial.append(byte)
            if byte == 0x0A:  # "\n"
                raw = bytes(self._partial)
                self._partial = None
                frame = self._decode(raw)
                if frame is None:
                    stats.garbage_bytes += len(raw)
                else:
                    stats.frames += 1
                    stats.since_good = 0
                    frames.append(frame)
            elif len(self._partial) > self.MAX_FRAME:
                stats.garbage_bytes += len(self._partial)
                stats.error("overlong", f"no end of frame within {self.MAX_FRAME} bytes")
                self._partial = None
        return frames

    def _decode(self, raw: bytes) -> MatFrame | None:
        match = self._SHAPE.match(raw)
        if match is None:
            self.stats.error("shape", f"not a $...*CS frame: {raw[:40]!r}")
            return None
        body, checksum = match.group(1), int(match.group(2), 16)
        if nmea_checksum(body) != checksum:
            self.stats.error("checksum", f"checksum {checksum:02X} != "
                                         f"{nmea_checksum(body):02X} in {raw[:40]!r}")
            return None
        fields = body.split(b",")
        if fields[0] != b"BED" or len(fields) != 3:
            self.stats.error("sentence", f"unknown sentence {raw[:40]!r}")
            return None
        state = self._STATES.get(fields[1])
        if state is None or not fields[2].isdigit() or len(fields[2]) > 5:
            self.stats.error("fields", f"bad state or pressure in {raw[:40]!r}")
            return None
        return MatFrame(state=state, pressure=int(fields[2]), raw=raw)


def encode_nmea_bed(state: Literal["IN", "OUT", "FLT"], pressure: int) -> bytes:
    """One `nmea-bed` frame (what the mat sends); used by docs and tools."""
    body = f"BED,{state},{pressure}".encode("ascii")
    return b"$" + body + f"*{nmea_checksum(body):02X}\r\n".encode("ascii")


class LineStateFraming:
    """One state word per line, no checksum: `IN`/`OUT`, `ON`/`OFF`, `1`/`0` (any case).

    The framing of the simplest USB adapters that forward a mat's relay.
    Without a checksum, only whole known words count; anything else on a
    line is garbage. Lines longer than `MAX_LINE` are abandoned.
    """

    name: ClassVar[str] = "lines"
    MAX_LINE: ClassVar[int] = 32
    _WORDS: ClassVar[dict[bytes, MatState]] = {
        b"IN": "in_bed", b"ON": "in_bed", b"1": "in_bed",
        b"OUT": "out_of_bed", b"OFF": "out_of_bed", b"0": "out_of_bed",
        b"FAULT": "fault", b"FLT": "fault",
    }

    def __init__(self) -> None:
        self.stats = FramingStats()
        self._line = bytearray()
        self._overlong = False

    def reset(self) -> None:
        self.stats.garbage_bytes += len(self._line)
        self._line.clear()
        self._overlong = False

    def feed(self, data: bytes) -> list[MatFrame]:
        frames: list[MatFrame] = []
        self.stats.bytes_in += len(data)
        for byte in data:
            self.stats.since_good += 1
            if byte not in (0x0A, 0x0D):
                if len(self._line) >= self.MAX_LINE:
                    self._overlong = True
                    self.stats.garbage_bytes += 1
                else:
                    self._line.append(byte)
                continue
            line = bytes(self._line).strip()
            self._line.clear()
            if self._overlong:
                self._overlong = False
                self.stats.garbage_bytes += len(line)
                self.stats.error("overlong", f"line longer than {self.MAX_LINE} bytes")
                continue
            if not line:
                continue
            state = self._WORDS.get(line.upper())
            if state is None:
                self.stats.garbage_bytes += len(line)
                self.stats.error("word", f"unknown line {line[:32]!r}")
                continue
            self.stats.frames += 1
            self.stats.since_good = 0
            frames.append(MatFrame(state=state, raw=line))
        return frames


FRAMINGS: dict[str, type[NmeaBedFraming] | type[LineStateFraming]] = {
    NmeaBedFraming.name: NmeaBedFraming,
    LineStateFraming.name: LineStateFraming,
}


def make_framing(name: str) -> FrameProtocol:
    return FRAMINGS[name]()
