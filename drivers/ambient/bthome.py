"""BTHome v2 service data (16-bit UUID 0xFCD2) to typed values; pure, no I/O.

Why a parser of our own: the format is small, open (https://bthome.io/format/)
and sent by the cheapest room thermometers (pvvx firmware on Xiaomi LYWSD03MMC,
Shelly BLU H&T, ESPHome/DIY sensors), and the agent must run offline on a Pi
without Home Assistant's libraries.

Layout: one device-information byte, then objects `<id><value>` with
little-endian integers whose size, sign and factor the object id fixes.

    device info: bit 0 encryption, bit 2 trigger-based, bits 5-7 version (2)

Encrypted frames (https://bthome.io/encryption/) are AES-CCM with the
device's 16-byte bind key: device info, ciphertext, a 4-byte counter and a
4-byte MIC; the nonce is the MAC (6 bytes as written), the UUID little-endian
(d2 fc), the device-info byte and the counter. Without a key they are
rejected with a reason; with the wrong key the MIC fails (`DecryptionError`).
Whether a counter is new is the caller's business (it keeps per-device state).

Object ids this table does not know stop the walk (their length is unknown):
what came before is kept and the frame says where it stopped (`unparsed`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from edgeagent.i18n import N_

from .formats import AdvertPayloadError, DecryptionError, EncryptedPayloadError, EnvFrame

SERVICE_UUID16 = "fcd2"
_UUID_LE = bytes.fromhex(SERVICE_UUID16)[::-1].hex()  # the nonce's "d2fc"

BTHOME_VERSION = 2
_ENCRYPTED = 0x01
_TRIGGER_BASED = 0x04
KEY_BYTES = 16
_COUNTER_BYTES = 4
_MIC_BYTES = 4

BUTTON_EVENTS: dict[int, str] = {
    0x00: "none", 0x01: "press", 0x02: "double_press", 0x03: "triple_press",
    0x04: "long_press", 0x05: "long_double_press", 0x06: "long_triple_press",
    0x80: "hold_press",
    0xFE: "hold_press",  # Shelly BLU firmware before 1.0.20
}
"""The button event (object 0x3A) values of https://bthome.io/format/."""


def mac_bytes(mac: str) -> bytes:
    """`AA:BB:CC:DD:EE:FF` (or `-`/no separators) as 6 bytes; ValueError otherwise."""
    cleaned = mac.replace(":", "").replace("-", "").strip()
    raw = bytes.fromhex(cleaned) if len(cleaned) == 12 else b""
    if len(raw) != 6:
        raise ValueError(f"{mac!r} is not a MAC address like AA:BB:CC:DD:EE:FF")
    return raw


def decrypt(data: bytes, mac: str, key: bytes) -> tuple[bytes, int]:
    """(plain frame with the encryption bit cleared, counter) of one encrypted frame."""
    if len(data) < 1 + _COUNTER_BYTES + _MIC_BYTES:
        raise AdvertPayloadError("bthome", N_(
            "encrypted frame of {size} bytes is truncated (needs at least {needed}: info, "
            "counter, MIC)").format(size=len(data), needed=1 + _COUNTER_BYTES + _MIC_BYTES))
    try:
        address = mac_bytes(mac)
    except ValueError as exc:
        raise AdvertPayloadError("bthome", str(exc)) from None
    if len(key) != KEY_BYTES:
        raise AdvertPayloadError("bthome", N_("a bind key is {size} bytes, got {got}").format(
            size=KEY_BYTES, got=len(key)))
    info = data[0]
    ciphertext = data[1:-(_COUNTER_BYTES + _MIC_BYTES)]
    counter = data[-(_COUNTER_BYTES + _MIC_BYTES):-_MIC_BYTES]
    mic = data[-_MIC_BYTES:]
    nonce = address + bytes.fromhex(_UUID_LE) + bytes([info]) + counter
    try:
        plain = AESCCM(key, tag_length=_MIC_BYTES).decrypt(nonce, ciphertext + mic, None)
    except InvalidTag:
        raise DecryptionError("bthome", N_(
            "MIC check failed: wrong bind key for this device, or a corrupt frame")) from None
    return bytes([info & ~_ENCRYPTED]) + plain, int.from_bytes(counter, "little")


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One BTHome object id: name, byte length (None = length-prefixed), sign, factor."""

    name: str
    length: int | None
    signed: bool = False
    factor: float = 1.0
    kind: str = "numeric"  # numeric | binary | event | text | raw


def _n(name: str, length: int, factor: float = 1.0, *, signed: bool = False) -> ObjectSpec:
    return ObjectSpec(name, length, signed, factor)


def _b(name: str) -> ObjectSpec:
    return ObjectSpec(name, 1, kind="binary")


# From the "Sensor data", "Binary sensor data", "Events" and "Device information"
# tables of https://bthome.io/format/ (BTHome v2).
OBJECTS: dict[int, ObjectSpec] = {
    0x00: _n("packet_id", 1),
    0x01: _n("battery", 1),
    0x02: _n("temperature", 2, 0.01, signed=True),
    0x03: _n("humidity", 2, 0.01),
    0x04: _n("pressure", 3, 0.01),
    0x05: _n("illuminance", 3, 0.01),
    0x06: _n("mass_kg", 2, 0.01),
    0x07: _n("mass_lb", 2, 0.01),
    0x08: _n("dewpoint", 2, 0.01, signed=True),
    0x09: _n("count", 1),
    0x0A: _n("energy", 3, 0.001),
    0x0B: _n("power", 3, 0.01),
    0x0C: _n("voltage", 2, 0.001),
    0x0D: _n("pm2_5", 2),
    0x0E: _n("pm10", 2),
    0x0F: _b("generic_boolean"),
    0x10: _b("power_on"),
    0x11: _b("opening"),
    0x12: _n("co2", 2),
    0x13: _n("tvoc", 2),
    0x14: _n("moisture", 2, 0.01),
    0x15: _b("battery_low"),
    0x16: _b("battery_charging"),
    0x17: _b("carbon_monoxide"),
    0x18: _b("cold"),
    0x19: _b("connectivity"),
    0x1A: _b("door"),
    0x1B: _b("garage_door"),
    0x1C: _b("gas_detected"),
    0x1D: _b("heat"),
    0x1E: _b("light"),
    0x1F: _b("lock"),
    0x20: _b("moisture_detected"),
    0x21: _b("motion"),
    0x22: _b("moving"),
    0x23: _b("occupancy"),
    0x24: _b("plug"),
    0x25: _b("presence"),
    0x26: _b("problem"),
    0x27: _b("running"),
    0x28: _b("safety"),
    0x29: _b("smoke"),
    0x2A: _b("sound"),
    0x2B: _b("tamper"),
    0x2C: _b("vibration"),
    0x2D: _b("window"),
    0x2E: _n("humidity", 1),
    0x2F: _n("moisture", 1),
    0x3A: ObjectSpec("button", 1, kind="event"),
    0x3C: ObjectSpec("dimmer", 2, kind="event"),
    0x3D: _n("count", 2),
    0x3E: _n("count", 4),
    0x3F: _n("rotation", 2, 0.1, signed=True),
    0x40: _n("distance_mm", 2),
    0x41: _n("distance_m", 2, 0.1),
    0x42: _n("duration", 3, 0.001),
    0x43: _n("current", 2, 0.001),
    0x44: _n("speed", 2, 0.01),
    0x45: _n("temperature", 2, 0.1, signed=True),
    0x46: _n("uv_index", 1, 0.1),
    0x47: _n("volume_l", 2, 0.1),
    0x48: _n("volume_ml", 2),
    0x49: _n("volume_flow_rate", 2, 0.001),
    0x4A: _n("voltage", 2, 0.1),
    0x4B: _n("gas", 3, 0.001),
    0x4C: _n("gas", 4, 0.001),
    0x4D: _n("energy", 4, 0.001),
    0x4E: _n("volume_l", 4, 0.001),
    0x4F: _n("water", 4, 0.001),
    0x50: _n("timestamp", 4),
    0x51: _n("acceleration", 2, 0.001),
    0x52: _n("gyroscope", 2, 0.001),
    0x53: ObjectSpec("text", None, kind="text"),
    0x54: ObjectSpec("raw", None, kind="raw"),
    0x55: _n("volume_storage", 4, 0.001),
    0x56: _n("conductivity", 2),
    0x57: _n("temperature", 1, signed=True),
    0x58: _n("temperature", 1, 0.35, signed=True),
    0x59: _n("count", 1, signed=True),
    0x5A: _n("count", 2, signed=True),
    0x5B: _n("count", 4, signed=True),
    0x5C: _n("power", 4, 0.01, signed=True),
    0x5D: _n("current", 2, 0.001, signed=True),
    0x5E: _n("direction", 2, 0.01),
    0x5F: _n("precipitation", 2, 0.1),
    0x60: _n("channel", 1),
    0xF0: _n("device_type_id", 2),
    0xF1: _n("firmware_version", 4),
    0xF2: _n("firmware_version", 3),
}


def _decimals(factor: float) -> int:
    text = f"{factor:.6f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def parse(data: bytes, *, mac: str | None = None, key: bytes | None = None) -> EnvFrame:  # noqa: C901, PLR0912 - the BTHome v2 frame layout, one branch per header flag and object kind, read top to bottom against the spec
    """Decode one BTHome v2 service-data payload (the bytes after the 0xFCD2 UUID).

    An encrypted frame is opened with `key` and the sender's `mac`; without
    them it raises `EncryptedPayloadError`. A MIC that does not match raises
    `DecryptionError`; anything else that cannot be decoded
    `AdvertPayloadError`; never another exception.
    """
    data = bytes(data)
    if not data:
        raise AdvertPayloadError("bthome", N_("empty service data (no device information byte)"))
    info = data[0]
    version = info >> 5
    if version != BTHOME_VERSION:
        raise AdvertPayloadError("bthome", N_(
            "BTHome version {version} in device information byte 0x{info:02x}; only version 2 "
            "is supported").format(version=version, info=info))
    counter: int | None = None
    if info & _ENCRYPTED:
        if key is None or mac is None:
            raise EncryptedPayloadError("bthome", N_(
                "encrypted BTHome frame and no bind key for this device (add it to the BLE "
                "keys file)"))
        data, counter = decrypt(data, mac, key)
    frame = EnvFrame(fmt="bthome", trigger_based=bool(info & _TRIGGER_BASED),
                     encrypted=counter is not None, counter=counter)
    pos = 1
    while pos < len(data):
        oid = data[pos]
        spec = OBJECTS.get(oid)
        if spec is None:
            frame.unparsed = f"unknown object id 0x{oid:02x} at byte {pos}"
            break
        pos += 1
        length = spec.length
        if length is None:
            if pos >= len(data):
                raise AdvertPayloadError("bthome", N_(
                    "object 0x{oid:02x} ({name}) has no length byte").format(oid=oid,
                                                                             name=spec.name))
            length = data[pos]
            pos += 1
        if pos + length > len(data):
            raise AdvertPayloadError("bthome", N_(
                "object 0x{oid:02x} ({name}) needs {length} bytes at byte {pos}, frame has "
                "{left}").format(oid=oid, name=spec.name, length=length, pos=pos,
                                 left=len(data) - pos))
        chunk = data[pos:pos + length]
        pos += length
        if spec.kind == "text":
            frame.add(spec.name, chunk.decode("utf-8", errors="replace"))
        elif spec.kind == "raw":
            frame.add(spec.name, chunk.hex())
        elif spec.kind == "binary":
            frame.add(spec.name, chunk[0] != 0)
        else:
            raw = int.from_bytes(chunk, "little", signed=spec.signed)
            if spec.factor == 1.0:
                frame.add(spec.name, raw)
            else:
                frame.add(spec.name, round(raw * spec.factor, _decimals(spec.factor)))
    if not frame.values and frame.unparsed:
        raise AdvertPayloadError("bthome", frame.unparsed)
    if "packet_id" in frame.values:
        frame.packet_id = int(frame.values["packet_id"])
    return frame
