"""Spec encoders for the fake peripherals: values in, the bytes a real monitor would send.

The inverse of `edgeagent_drivers.ble.parsers`, written from the same GATT
specification text so that a fake monitor is only as well-behaved as the
spec says (the round trip is tested).
"""

from __future__ import annotations

import struct
from datetime import datetime
from decimal import Decimal

SFLOAT_NAN = 0x07FF
FLOAT_NAN = 0x007FFFFF


def sfloat(value: float | None, decimals: int = 1) -> bytes:
    """SFLOAT with `decimals` digits after the point (exponent -decimals); None -> NaN."""
    if value is None:
        return struct.pack("<H", SFLOAT_NAN)
    mantissa = int((Decimal(str(value)).scaleb(decimals)).to_integral_value())
    if not -2046 <= mantissa <= 2045:
        raise ValueError(f"{value} does not fit an SFLOAT with {decimals} decimals")
    return struct.pack("<H", ((-decimals & 0xF) << 12) | (mantissa & 0x0FFF))


def float32(value: float | None, decimals: int = 2) -> bytes:
    """FLOAT with `decimals` digits after the point; None -> NaN."""
    if value is None:
        return struct.pack("<I", FLOAT_NAN)
    mantissa = int((Decimal(str(value)).scaleb(decimals)).to_integral_value())
    return struct.pack("<I", ((-decimals & 0xFF) << 24) | (mantissa & 0x00FFFFFF))


def date_time(when: datetime) -> bytes:
    return struct.pack("<HBBBBB", when.year, when.month, when.day, when.hour, when.minute,
                       when.second)


def heart_rate(bpm: int, *, contact: bool | None = True, rr_s: tuple[float, ...] = (),
               energy_kj: int | None = None) -> bytes:
    flags = 0x01 if bpm > 255 else 0x00
    if contact is not None:
        flags |= 0x06 if contact else 0x04
    body = struct.pack("<H", bpm) if bpm > 255 else bytes([bpm])
    if energy_kj is not None:
        flags |= 0x08
        body += struct.pack("<H", energy_kj)
    if rr_s:
        flags |= 0x10
        body += b"".join(struct.pack("<H", round(rr * 1024)) for rr in rr_s)
    return bytes([flags]) + body


def plx_spot_check(spo2: float | None, pulse: float | None,
                   when: datetime | None = None) -> bytes:
    flags = 0x01 if when else 0x00
    body = sfloat(spo2, 0) + sfloat(pulse, 0)
    if when:
        body += date_time(when)
    return bytes([flags]) + body


def plx_continuous(spo2: float | None, pulse: float | None) -> bytes:
    return b"\x00" + sfloat(spo2, 0) + sfloat(pulse, 0)


def blood_pressure(systolic: float, diastolic: float, mean: float | None = None, *,
                   unit: str = "mmHg", pulse: float | None = None,
                   when: datetime | None = None, user_id: int | None = None) -> bytes:
    flags = 0x01 if unit == "kPa" else 0x00
    decimals = 1 if unit == "kPa" else 0
    if mean is None:
        mean = round(diastolic + (systolic - diastolic) / 3, decimals)
    body = sfloat(systolic, decimals) + sfloat(diastolic, decimals) + sfloat(mean, decimals)
    if when:
        flags |= 0x02
        body += date_time(when)
    if pulse is not None:
        flags |= 0x04
        body += sfloat(pulse, 0)
    if user_id is not None:
        flags |= 0x08
        body += bytes([user_id])
    return bytes([flags]) + body


def temperature(value: float | None, *, unit: str = "C", when: datetime | None = None,
                temperature_type: int | None = None) -> bytes:
    flags = 0x01 if unit == "F" else 0x00
    body = float32(value, 2)
    if when:
        flags |= 0x02
        body += date_time(when)
    if temperature_type is not None:
        flags |= 0x04
        body += bytes([temperature_type])
    return bytes([flags]) + body


def weight(value: float | None, *, unit: str = "kg", when: datetime | None = None) -> bytes:
    flags = 0x01 if unit == "lb" else 0x00
    step = 0.01 if unit == "lb" else 0.005
    raw = 0xFFFF if value is None else round(value / step)
    body = struct.pack("<H", raw)
    if when:
        flags |= 0x02
        body += date_time(when)
    return bytes([flags]) + body


def battery(percent: int) -> bytes:
    return bytes([percent])


# --- BTHome v2 advertisements (https://bthome.io/format/, /encryption/) ---

BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"


def bthome(*objects: tuple[int, int, int], trigger: bool = False) -> bytes:
    """A plain BTHome v2 frame from (object id, byte length, raw integer) triples."""
    body = b"".join(bytes([oid]) + raw.to_bytes(size, "little") for oid, size, raw in objects)
    return bytes([0x40 | (0x04 if trigger else 0)]) + body


def bthome_encrypted(plain: bytes, mac: str, key: bytes, counter: int) -> bytes:
    """A plain frame sealed as a device with this bind key sends it (AES-CCM, 4-byte MIC)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM  # noqa: PLC0415

    info = plain[0] | 0x01
    count = counter.to_bytes(4, "little")
    nonce = bytes.fromhex(mac.replace(":", "")) + b"\xd2\xfc" + bytes([info]) + count
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, plain[1:], None)
    return bytes([info]) + sealed[:-4] + count + sealed[-4:]


def bthome_button(event: int, packet_id: int, battery_pct: int | None = None) -> bytes:
    """A button frame as a Shelly BLU Button1 sends it: packet id, [battery], button event."""
    objects = [(0x00, 1, packet_id)]
    if battery_pct is not None:
        objects.append((0x01, 1, battery_pct))
    objects.append((0x3A, 1, event))
    return bthome(*objects, trigger=True)
