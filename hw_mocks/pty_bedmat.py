"""A serial bed-exit mat on a real pseudo-terminal, for tests and the demo.

`os.openpty()` gives a master/slave pair; the driver opens the slave with
pyserial exactly as it would open `/dev/ttyUSB0`. Like udev's
`/dev/serial/by-id/...` links, the emulator publishes a stable symlink
(`port`) to whichever `/dev/pts/N` is current, so an unplug (`disconnect()`:
both ends closed, link removed; the driver's reads fail with EIO) and a
replug (`reconnect()`: a new pair behind the same link) look to the driver
like a USB adapter going and coming back.

It speaks the `nmea-bed` framing (docs/serial-bedmat-protocol.md) with its
own encoder, so a framing bug in the driver is not mirrored here, and it
misbehaves on request: garbage bytes, a frame split across writes, a
wrong baud rate (every byte mangled the way a UART sampling at the wrong
rate mangles it).
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import tty
from pathlib import Path
from typing import Literal

MatWord = Literal["IN", "OUT", "FLT"]


def mat_frame(state: MatWord, pressure: int) -> bytes:
    """`$BED,<state>,<pressure>*<XOR of the body, 2 hex digits>\\r\\n`."""
    body = b"BED," + state.encode() + b"," + str(pressure).encode()
    checksum = 0
    for byte in body:
        checksum ^= byte
    return b"$%s*%02X\r\n" % (body, checksum)


def wrong_baud(data: bytes, rng: random.Random) -> bytes:
    """What a UART at the wrong rate makes of `data`: mostly 0x00/0x80/0xF8-like bytes."""
    out = bytearray()
    for byte in data:
        out.append(rng.choice((0x00, 0x80, 0xF8, 0xFE, 0xE0, 0x78)) | (byte & 0x01))
        if byte & 0x10:
            out.append(0x00)
    return bytes(out)


class PtyBedMat:
    """The mat's side of a pty pair, behind a stable symlink."""

    def __init__(self, link_dir: Path | None = None, name: str = "ttyBEDMAT",
                 seed: int = 7) -> None:
        self._own_dir = link_dir is None
        self.link_dir = Path(link_dir or tempfile.mkdtemp(prefix="pty-bedmat-"))
        self.port = str(self.link_dir / name)
        self.rng = random.Random(seed)
        self.wrong_baud = False
        self.state: MatWord = "OUT"
        self.pressure = 0
        self.sent_frames = 0
        self.bytes_written = 0
        self._master: int | None = None
        self._slave: int | None = None

    @property
    def connected(self) -> bool:
        return self._master is not None

    def start(self) -> PtyBedMat:
        """Plug in: a fresh pty pair, raw mode, the symlink pointing at its slave."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation, as a USB serial adapter
        self._master, self._slave = master, slave
        self.link_dir.mkdir(parents=True, exist_ok=True)
        link = Path(self.port)
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(os.ttyname(slave))
        return self

    def disconnect(self) -> None:
        """Unplug: close both ends (the driver's reads fail) and remove the link."""
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        with contextlib.suppress(FileNotFoundError):
            Path(self.port).unlink()

    def reconnect(self) -> PtyBedMat:
        self.disconnect()
        return self.start()

    def close(self) -> None:
        self.disconnect()
        if self._own_dir:
            with contextlib.suppress(OSError):
                self.link_dir.rmdir()

    def __enter__(self) -> PtyBedMat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what goes on the wire -------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Raw bytes on the line (mangled if `wrong_baud`). Dropped while unplugged."""
        if self._master is None:
            return
        if self.wrong_baud:
            data = wrong_baud(data, self.rng)
        os.write(self._master, data)
        self.bytes_written += len(data)

    def report(self, state: MatWord | None = None, pressure: int | None = None) -> bytes:
        """Send one status frame (the mat sends one per change and every few seconds)."""
        if state is not None:
            self.state = state
            if pressure is None:
                pressure = 620 if state == "IN" else 12
        if pressure is not None:
            self.pressure = pressure
        frame = mat_frame(self.state, self.pressure)
        self.write(frame)
        self.sent_frames += 1
        return frame

    def garbage(self, count: int) -> bytes:
        """Line noise without `$`, so it cannot start a frame."""
        data = bytes(self.rng.choice([b for b in range(256) if b != 0x24]) for _ in range(count))
        self.write(data)
        return data

    def partial(self, state: MatWord, pressure: int, cut: int) -> bytes:
        """The first `cut` bytes of a frame; `write(rest)` later completes it."""
        frame = mat_frame(state, pressure)
        self.write(frame[:cut])
        return frame[cut:]
