"""Which GATT service and characteristics make up each supported SIG health profile.

Shared by the driver (what to subscribe to), the `ble scan` command (which
advertised services are health services) and the fake peripherals (what to
serve, with the properties the specification gives each characteristic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProfileName = Literal[
    "heart_rate", "pulse_oximeter", "blood_pressure", "thermometer", "weight_scale", "battery",
]


@dataclass(frozen=True, slots=True)
class Profile:
    """One SIG profile: its service, its measurement characteristics, the sensor name we emit."""

    name: ProfileName
    service: str
    characteristics: tuple[str, ...]
    sensor: str
    title: str


PROFILES: dict[str, Profile] = {
    "heart_rate": Profile("heart_rate", "180d", ("2a37",), "heart_rate", "Heart Rate"),
    "pulse_oximeter": Profile("pulse_oximeter", "1822", ("2a5f", "2a5e"), "spo2",
                              "Pulse Oximeter"),
    "blood_pressure": Profile("blood_pressure", "1810", ("2a35",), "blood_pressure",
                              "Blood Pressure"),
    "thermometer": Profile("thermometer", "1809", ("2a1c",), "temperature",
                           "Health Thermometer"),
    "weight_scale": Profile("weight_scale", "181d", ("2a9d",), "weight", "Weight Scale"),
    "battery": Profile("battery", "180f", ("2a19",), "battery", "Battery"),
}

# What the specifications say each characteristic supports (battery notify is optional).
CHARACTERISTIC_PROPERTIES: dict[str, tuple[str, ...]] = {
    "2a37": ("notify",),
    "2a5e": ("indicate",),
    "2a5f": ("notify",),
    "2a35": ("indicate",),
    "2a36": ("notify",),
    "2a1c": ("indicate",),
    "2a9d": ("indicate",),
    "2a19": ("read", "notify"),
}

HEALTH_SERVICES: dict[str, Profile] = {p.service: p for p in PROFILES.values()}


def profile_of_characteristic(short_uuid: str) -> Profile | None:
    for profile in PROFILES.values():
        if short_uuid in profile.characteristics:
            return profile
    return None
