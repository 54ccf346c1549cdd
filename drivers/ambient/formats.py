"""What every advertisement format decodes to, its errors, and the dispatcher by service UUID.

Pure: bytes in, an `EnvFrame` or an `AdvertPayloadError` (a `PayloadError`)
out. The driver only ever catches `PayloadError`, so a new format cannot
crash the agent with some other exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeagent.errors import PayloadError
from edgeagent.i18n import N_  # reasons stay English (logs, JSON); the CLI localizes

Value = float | int | bool | str

# What a room thermometer can physically report; outside this the frame is
# garbage (a misread format, a dying battery), not a cold or hot home.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "temperature": (-40.0, 85.0),
    "humidity": (0.0, 100.0),
    "battery": (0.0, 100.0),
}


class AdvertPayloadError(PayloadError):
    """Service data that does not decode. `fmt` names the format, `reason` says why."""

    def __init__(self, fmt: str, reason: str) -> None:
        self.fmt = fmt
        self.reason = reason
        super().__init__(f"{fmt}: {reason}")


class EncryptedPayloadError(AdvertPayloadError):
    """The sensor encrypts its advertisements; without its bind key nothing can be read."""


class DecryptionError(AdvertPayloadError):
    """An encrypted frame whose MIC does not match: the wrong bind key, or a corrupt frame."""


class ImplausibleValueError(AdvertPayloadError):
    """The frame decoded, but a value is outside what the sensor can measure."""


@dataclass(slots=True)
class EnvFrame:
    """One decoded advertisement. `values` uses BTHome property names.

    A second object of the same name (two temperature probes) is kept as
    `temperature_2`, and so on.
    """

    fmt: str
    values: dict[str, Value] = field(default_factory=dict)
    packet_id: int | None = None
    mac: str | None = None
    trigger_based: bool = False
    unparsed: str | None = None
    encrypted: bool = False
    counter: int | None = None

    def add(self, name: str, value: Value) -> None:
        key, n = name, 1
        while key in self.values:
            n += 1
            key = f"{name}_{n}"
        self.values[key] = value


def check_plausible(frame: EnvFrame) -> EnvFrame:
    for name, (low, high) in PLAUSIBLE.items():
        value = frame.values.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) \
                and not low <= value <= high:
            raise ImplausibleValueError(frame.fmt, N_(
                "{name} {value} outside the plausible range {low:g}..{high:g}").format(
                name=name, value=value, low=low, high=high))
    return frame


def decode(uuid16: str, payload: bytes, *, mac: str | None = None,
           key: bytes | None = None) -> EnvFrame:
    """Decode service data keyed by a 16-bit UUID ("fcd2" BTHome, "181a" ATC/pvvx).

    `mac` and `key` (the device's bind key) open encrypted BTHome frames.
    """
    from . import atc, bthome  # noqa: PLC0415 - the format modules import this one

    uuid = uuid16.lower()
    if uuid == bthome.SERVICE_UUID16:
        return check_plausible(bthome.parse(payload, mac=mac, key=key))
    if uuid == atc.SERVICE_UUID16:
        return check_plausible(atc.parse(payload))
    raise AdvertPayloadError("unknown", N_("no decoder for service data UUID 0x{uuid}").format(
        uuid=uuid))


SUPPORTED_UUIDS = ("fcd2", "181a")
