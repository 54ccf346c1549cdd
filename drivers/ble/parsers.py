"""Bluetooth SIG health-profile characteristics: bytes in, typed frozen values out.

Pure functions, no I/O. Every parser either returns a frozen dataclass or
raises `GattPayloadError` with a reason a technician can read; arbitrary
bytes never raise anything else (the test suite fuzzes each parser).

Rules applied throughout (from the GATT Specification Supplement):

- Multi-byte fields are little-endian, in the order the flags enable them.
- IEEE-11073 SFLOAT (16 bit) and FLOAT (32 bit) special values (NaN, NRes,
  +INFINITY, -INFINITY, reserved) mean "no reading": the field becomes None and
  the special is recorded in `absent`, never turned into a number.
- A payload shorter than its flags promise is rejected ("truncated").
- Reserved (RFU) flag bits set are rejected: the sources we test against do
  so, and a device setting them is not following the profile version we
  implement, so its field layout cannot be trusted.
- Bytes beyond the last field the flags enable are ignored (later profile
  versions append fields), except in Heart Rate, where RR intervals fill the
  rest and an odd remainder is inconsistent.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from edgeagent.errors import EdgeAgentError, PayloadError
from edgeagent.i18n import N_  # reasons stay English (logs, JSON); `ble decode` localizes

SIG_BASE_UUID = "-0000-1000-8000-00805f9b34fb"
KPA_TO_MMHG = 7.500615758456563  # 1 kPa = 1000 / 133.322387415 mmHg
LB_TO_KG = 0.45359237
INCH_TO_M = 0.0254


class GattPayloadError(PayloadError):
    """A characteristic value did not decode. `reason` says why, in plain words."""

    def __init__(self, reason: str, uuid: str | None = None) -> None:
        self.reason = reason
        self.uuid = uuid
        super().__init__(reason if uuid is None else f"{uuid}: {reason}")


class UnknownCharacteristicError(EdgeAgentError, LookupError):
    """The UUID is not one of the characteristics this module decodes, or is not a UUID."""


# --- IEEE-11073-20601 numbers ---


class Special(StrEnum):
    """IEEE-11073 special values: each means the device has no number to give."""

    NAN = "NaN"
    NRES = "NRes"
    POSITIVE_INFINITY = "+INF"
    NEGATIVE_INFINITY = "-INF"
    RESERVED = "RFU"


_SFLOAT_SPECIALS = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x07FE: Special.POSITIVE_INFINITY,
    0x0802: Special.NEGATIVE_INFINITY,
    0x0801: Special.RESERVED,
}
_FLOAT_SPECIALS = {
    0x007FFFFF: Special.NAN,
    0x00800000: Special.NRES,
    0x007FFFFE: Special.POSITIVE_INFINITY,
    0x00800002: Special.NEGATIVE_INFINITY,
    0x00800001: Special.RESERVED,
}


@dataclass(frozen=True, slots=True)
class Ieee11073Number:
    """One decoded SFLOAT/FLOAT: a value, or the special that stands in for it.

    `exponent` tells the precision the device meant ("2.00" vs "2"), which
    `decimals` turns into a digit count for display.
    """

    value: float | None
    special: Special | None
    exponent: int

    @property
    def decimals(self) -> int:
        return max(0, -self.exponent)


def _scaled(mantissa: int, exponent: int) -> float:
    # Decimal keeps 189e-1 as 18.9 rather than 18.900000000000002.
    return float(Decimal(mantissa).scaleb(exponent))


def decode_sfloat(raw: int) -> Ieee11073Number:
    """16-bit SFLOAT: 4-bit signed exponent (high nibble), 12-bit signed mantissa."""
    raw &= 0xFFFF
    special = _SFLOAT_SPECIALS.get(raw)
    if special is not None:
        return Ieee11073Number(None, special, 0)
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    return Ieee11073Number(_scaled(mantissa, exponent), None, exponent)


def decode_float(raw: int) -> Ieee11073Number:
    """32-bit FLOAT: 8-bit signed exponent (high byte), 24-bit signed mantissa."""
    raw &= 0xFFFFFFFF
    special = _FLOAT_SPECIALS.get(raw)
    if special is not None:
        return Ieee11073Number(None, special, 0)
    mantissa = raw & 0x00FFFFFF
    if mantissa >= 0x00800000:
        mantissa -= 0x01000000
    exponent = raw >> 24
    if exponent >= 0x80:
        exponent -= 0x100
    return Ieee11073Number(_scaled(mantissa, exponent), None, exponent)


# --- Date Time (0x2A08), embedded in several measurements ---


@dataclass(frozen=True, slots=True)
class GattDateTime:
    """A device's own clock reading. Zero year/month/day mean "not known" (None).

    Kept as fields, not a datetime: a device with a wrong or unset clock still
    gives a valid measurement; `as_datetime()` is None when the fields do not
    form a real date.
    """

    year: int | None
    month: int | None
    day: int | None
    hour: int
    minute: int
    second: int

    def as_datetime(self) -> datetime | None:
        """Naive datetime in the device's local time, or None if incomplete or impossible."""
        if self.year is None or self.month is None or self.day is None:
            return None
        try:
            return datetime(self.year, self.month, self.day, self.hour, self.minute, self.second)
        except ValueError:
            return None

    def as_dict(self) -> dict[str, int | None]:
        return {
            "year": self.year, "month": self.month, "day": self.day,
            "hour": self.hour, "minute": self.minute, "second": self.second,
        }


# --- a bounds-checked reader ---


class _Reader:
    """Reads little-endian fields; running past the end raises GattPayloadError."""

    def __init__(self, payload: bytes, what: str) -> None:
        self.data = bytes(payload)
        self.pos = 0
        self.what = what

    def _take(self, size: int, field_name: str) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise GattPayloadError(N_(
                "truncated {what}: {field} needs bytes {start}..{end}, payload has {size}"
            ).format(what=self.what, field=field_name, start=self.pos, end=end - 1,
                     size=len(self.data)))
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def u8(self, name: str) -> int:
        return self._take(1, name)[0]

    def u16(self, name: str) -> int:
        value: int = struct.unpack("<H", self._take(2, name))[0]
        return value

    def u24(self, name: str) -> int:
        return int.from_bytes(self._take(3, name), "little")

    def sfloat(self, name: str) -> Ieee11073Number:
        return decode_sfloat(self.u16(name))

    def float32(self, name: str) -> Ieee11073Number:
        return decode_float(int.from_bytes(self._take(4, name), "little"))

    def date_time(self, name: str) -> GattDateTime:
        year, month, day, hour, minute, second = struct.unpack("<HBBBBB", self._take(7, name))
        return GattDateTime(year or None, month or None, day or None, hour, minute, second)

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


def _check_reserved(flags: int, reserved_mask: int, what: str) -> None:
    if flags & reserved_mask:
        raise GattPayloadError(N_(
            "{what}: reserved flag bits 0x{bits:02x} set (flags 0x{flags:02x})"
        ).format(what=what, bits=flags & reserved_mask, flags=flags))


def _absent(**numbers: Ieee11073Number | None) -> tuple[tuple[str, str], ...]:
    """(field, special) pairs for fields the device marked as having no value."""
    return tuple(
        (name, str(n.special)) for name, n in numbers.items() if n is not None and n.special
    )


def _value(number: Ieee11073Number | None) -> float | None:
    return None if number is None else number.value


# --- Heart Rate Measurement 0x2A37 ---


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """Heart Rate Measurement. `sensor_contact` is None when the sensor cannot tell.

    RR intervals are kept raw (units of 1/1024 s, as sent); `rr_intervals_s`
    converts them.
    """

    heart_rate_bpm: int
    sensor_contact: bool | None
    energy_expended_kj: int | None
    rr_intervals_raw: tuple[int, ...]

    @property
    def rr_intervals_s(self) -> tuple[float, ...]:
        return tuple(rr / 1024 for rr in self.rr_intervals_raw)


def parse_heart_rate(payload: bytes) -> HeartRateMeasurement:
    r = _Reader(payload, "heart rate measurement")
    flags = r.u8("flags")
    _check_reserved(flags, 0xE0, "heart rate measurement")
    bpm = r.u16("heart rate (uint16)") if flags & 0x01 else r.u8("heart rate (uint8)")
    contact_bits = (flags >> 1) & 0x03
    contact = None if contact_bits < 2 else contact_bits == 3
    energy = r.u16("energy expended") if flags & 0x08 else None
    rr: tuple[int, ...] = ()
    if flags & 0x10:
        if r.remaining == 0:
            raise GattPayloadError(N_(
                "heart rate measurement: RR-interval flag set but no RR bytes"))
        if r.remaining % 2:
            raise GattPayloadError(N_(
                "heart rate measurement: {count} RR-interval bytes is not a whole number of "
                "uint16 values").format(count=r.remaining))
        rr = tuple(r.u16("RR interval") for _ in range(r.remaining // 2))
    return HeartRateMeasurement(bpm, contact, energy, rr)


# --- Pulse oximeter: PLX Spot-check 0x2A5E and Continuous 0x2A5F ---

_PLX_MEASUREMENT_STATUS = {
    5: "measurement_ongoing",
    6: "early_estimated_data",
    7: "validated_data",
    8: "fully_qualified_data",
    9: "data_from_measurement_storage",
    10: "data_for_demonstration",
    11: "data_for_testing",
    12: "calibration_ongoing",
    13: "measurement_unavailable",
    14: "questionable_measurement_detected",
    15: "invalid_measurement_detected",
}
_PLX_DEVICE_STATUS = {
    0: "extended_display_update_ongoing",
    1: "equipment_malfunction_detected",
    2: "signal_processing_irregularity_detected",
    3: "inadequate_signal_detected",
    4: "poor_signal_detected",
    5: "low_perfusion_detected",
    6: "erratic_signal_detected",
    7: "nonpulsatile_signal_detected",
    8: "questionable_pulse_detected",
    9: "signal_analysis_ongoing",
    10: "sensor_interference_detected",
    11: "sensor_unconnected_to_user",
    12: "unknown_sensor_connected",
    13: "sensor_displaced",
    14: "sensor_malfunctioning",
    15: "sensor_disconnected",
}


def _bit_names(value: int, names: dict[int, str]) -> tuple[str, ...]:
    return tuple(name for bit, name in sorted(names.items()) if value & (1 << bit))


@dataclass(frozen=True, slots=True)
class PlxSpotCheck:
    """PLX Spot-check Measurement: one SpO2 / pulse pair, optionally timestamped."""

    spo2_pct: float | None
    pulse_rate_bpm: float | None
    timestamp: GattDateTime | None
    measurement_status: tuple[str, ...] | None
    device_and_sensor_status: tuple[str, ...] | None
    pulse_amplitude_index: float | None
    device_clock_not_set: bool
    absent: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    """PLX Continuous Measurement: normal, and optionally fast/slow, SpO2 and pulse."""

    spo2_pct: float | None
    pulse_rate_bpm: float | None
    spo2_fast_pct: float | None
    pulse_rate_fast_bpm: float | None
    spo2_slow_pct: float | None
    pulse_rate_slow_bpm: float | None
    measurement_status: tuple[str, ...] | None
    device_and_sensor_status: tuple[str, ...] | None
    pulse_amplitude_index: float | None
    absent: tuple[tuple[str, str], ...] = field(default=())


def parse_plx_spot_check(payload: bytes) -> PlxSpotCheck:
    what = "PLX spot-check measurement"
    r = _Reader(payload, what)
    flags = r.u8("flags")
    _check_reserved(flags, 0xE0, what)
    spo2 = r.sfloat("SpO2")
    pulse = r.sfloat("pulse rate")
    ts = r.date_time("timestamp") if flags & 0x01 else None
    status = _bit_names(r.u16("measurement status"), _PLX_MEASUREMENT_STATUS) \
        if flags & 0x02 else None
    device = _bit_names(r.u24("device and sensor status"), _PLX_DEVICE_STATUS) \
        if flags & 0x04 else None
    pai = r.sfloat("pulse amplitude index") if flags & 0x08 else None
    return PlxSpotCheck(
        spo2.value, pulse.value, ts, status, device, _value(pai), bool(flags & 0x10),
        _absent(spo2_pct=spo2, pulse_rate_bpm=pulse, pulse_amplitude_index=pai),
    )


def parse_plx_continuous(payload: bytes) -> PlxContinuous:
    what = "PLX continuous measurement"
    r = _Reader(payload, what)
    flags = r.u8("flags")
    _check_reserved(flags, 0xE0, what)
    spo2 = r.sfloat("SpO2")
    pulse = r.sfloat("pulse rate")
    fast = (r.sfloat("SpO2 fast"), r.sfloat("pulse rate fast")) if flags & 0x01 else (None, None)
    slow = (r.sfloat("SpO2 slow"), r.sfloat("pulse rate slow")) if flags & 0x02 else (None, None)
    status = _bit_names(r.u16("measurement status"), _PLX_MEASUREMENT_STATUS) \
        if flags & 0x04 else None
    device = _bit_names(r.u24("device and sensor status"), _PLX_DEVICE_STATUS) \
        if flags & 0x08 else None
    pai = r.sfloat("pulse amplitude index") if flags & 0x10 else None
    return PlxContinuous(
        spo2.value, pulse.value, _value(fast[0]), _value(fast[1]), _value(slow[0]),
        _value(slow[1]), status, device, _value(pai),
        _absent(spo2_pct=spo2, pulse_rate_bpm=pulse, spo2_fast_pct=fast[0],
                pulse_rate_fast_bpm=fast[1], spo2_slow_pct=slow[0],
                pulse_rate_slow_bpm=slow[1], pulse_amplitude_index=pai),
    )


# --- Blood Pressure Measurement 0x2A35 / Intermediate Cuff Pressure 0x2A36 ---

PressureUnit = Literal["mmHg", "kPa"]


@dataclass(frozen=True, slots=True)
class BloodPressureStatus:
    body_movement_detected: bool
    cuff_too_loose: bool
    irregular_pulse_detected: bool
    pulse_rate_range: Literal["in_range", "above_upper_limit", "below_lower_limit", "reserved"]
    improper_measurement_position: bool

    @property
    def pulse_rate_in_range(self) -> bool:
        return self.pulse_rate_range == "in_range"

    @property
    def pulse_rate_exceeds_upper_limit(self) -> bool:
        return self.pulse_rate_range == "above_upper_limit"

    @property
    def pulse_rate_below_lower_limit(self) -> bool:
        return self.pulse_rate_range == "below_lower_limit"


def _bp_status(raw: int) -> BloodPressureStatus:
    ranges = ("in_range", "above_upper_limit", "below_lower_limit", "reserved")
    return BloodPressureStatus(
        bool(raw & 0x01), bool(raw & 0x02), bool(raw & 0x04),
        ranges[(raw >> 3) & 0x03],  # type: ignore[arg-type]
        bool(raw & 0x20),
    )


def _to_mmhg(value: float | None, unit: PressureUnit) -> float | None:
    if value is None:
        return None
    return value if unit == "mmHg" else round(value * KPA_TO_MMHG, 1)


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """Blood Pressure Measurement in the unit the cuff sent; `*_mmhg` convert."""

    systolic: float | None
    diastolic: float | None
    mean_arterial_pressure: float | None
    unit: PressureUnit
    timestamp: GattDateTime | None
    pulse_rate_bpm: float | None
    user_id: int | None
    status: BloodPressureStatus | None
    absent: tuple[tuple[str, str], ...] = field(default=())

    @property
    def systolic_mmhg(self) -> float | None:
        return _to_mmhg(self.systolic, self.unit)

    @property
    def diastolic_mmhg(self) -> float | None:
        return _to_mmhg(self.diastolic, self.unit)

    @property
    def mean_arterial_pressure_mmhg(self) -> float | None:
        return _to_mmhg(self.mean_arterial_pressure, self.unit)


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure:
    """Cuff pressure while the cuff inflates (same layout as 0x2A35, one value used)."""

    cuff_pressure: float | None
    unit: PressureUnit
    timestamp: GattDateTime | None
    pulse_rate_bpm: float | None
    user_id: int | None
    status: BloodPressureStatus | None
    absent: tuple[tuple[str, str], ...] = field(default=())

    @property
    def cuff_pressure_mmhg(self) -> float | None:
        return _to_mmhg(self.cuff_pressure, self.unit)


def _parse_bp_layout(payload: bytes, what: str) -> tuple[
    Ieee11073Number, Ieee11073Number, Ieee11073Number, PressureUnit, GattDateTime | None,
    Ieee11073Number | None, int | None, BloodPressureStatus | None,
]:
    r = _Reader(payload, what)
    flags = r.u8("flags")
    _check_reserved(flags, 0xE0, what)
    unit: PressureUnit = "kPa" if flags & 0x01 else "mmHg"
    first = r.sfloat("systolic / cuff pressure")
    second = r.sfloat("diastolic")
    third = r.sfloat("mean arterial pressure")
    ts = r.date_time("timestamp") if flags & 0x02 else None
    pulse = r.sfloat("pulse rate") if flags & 0x04 else None
    user = r.u8("user id") if flags & 0x08 else None
    status = _bp_status(r.u16("measurement status")) if flags & 0x10 else None
    return first, second, third, unit, ts, pulse, user, status


def parse_blood_pressure(payload: bytes) -> BloodPressureMeasurement:
    sys_, dia, mean, unit, ts, pulse, user, status = _parse_bp_layout(
        payload, "blood pressure measurement")
    return BloodPressureMeasurement(
        sys_.value, dia.value, mean.value, unit, ts, _value(pulse),
        None if user == 0xFF else user,  # 0xFF = unknown user
        status,
        _absent(systolic=sys_, diastolic=dia, mean_arterial_pressure=mean, pulse_rate_bpm=pulse),
    )


def parse_intermediate_cuff_pressure(payload: bytes) -> IntermediateCuffPressure:
    cuff, _dia, _mean, unit, ts, pulse, user, status = _parse_bp_layout(
        payload, "intermediate cuff pressure")
    return IntermediateCuffPressure(
        cuff.value, unit, ts, _value(pulse), None if user == 0xFF else user, status,
        _absent(cuff_pressure=cuff, pulse_rate_bpm=pulse),
    )


# --- Temperature Measurement 0x2A1C ---

TEMPERATURE_TYPES = {
    1: "armpit", 2: "body", 3: "ear", 4: "finger", 5: "gastro_intestinal_tract",
    6: "mouth", 7: "rectum", 8: "toe", 9: "tympanum",
}


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """Health Thermometer reading in the unit the device sent; `celsius` converts."""

    temperature: float | None
    unit: Literal["C", "F"]
    timestamp: GattDateTime | None
    temperature_type: int | None
    absent: tuple[tuple[str, str], ...] = field(default=())

    @property
    def temperature_type_name(self) -> str | None:
        if self.temperature_type is None:
            return None
        return TEMPERATURE_TYPES.get(self.temperature_type, "reserved")

    @property
    def celsius(self) -> float | None:
        if self.temperature is None:
            return None
        if self.unit == "C":
            return self.temperature
        return round((self.temperature - 32) * 5 / 9, 2)


def parse_temperature(payload: bytes) -> TemperatureMeasurement:
    what = "temperature measurement"
    r = _Reader(payload, what)
    flags = r.u8("flags")
    _check_reserved(flags, 0xF8, what)
    unit: Literal["C", "F"] = "F" if flags & 0x01 else "C"
    temp = r.float32("temperature")
    ts = r.date_time("timestamp") if flags & 0x02 else None
    kind = r.u8("temperature type") if flags & 0x04 else None
    if temp.value is not None:
        floor = -273.15 if unit == "C" else -459.67
        if temp.value < floor:
            raise GattPayloadError(N_(
                "{what}: {value:g} °{unit} is below absolute zero; not a temperature"
            ).format(what=what, value=temp.value, unit=unit))
    return TemperatureMeasurement(temp.value, unit, ts, kind, _absent(temperature=temp))


# --- Weight Measurement 0x2A9D ---


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """Weight Scale reading in the unit the scale sent; `weight_kg` converts.

    `weight` is None when the scale sent 0xFFFF ("measurement unsuccessful").
    """

    weight: float | None
    unit: Literal["kg", "lb"]
    timestamp: GattDateTime | None
    user_id: int | None
    bmi: float | None
    height: float | None
    height_unit: Literal["m", "in"] | None

    @property
    def weight_kg(self) -> float | None:
        if self.weight is None:
            return None
        return self.weight if self.unit == "kg" else round(self.weight * LB_TO_KG, 3)


def parse_weight(payload: bytes) -> WeightMeasurement:
    what = "weight measurement"
    r = _Reader(payload, what)
    flags = r.u8("flags")
    _check_reserved(flags, 0xF0, what)
    imperial = bool(flags & 0x01)
    raw = r.u16("weight")
    # 0.01 lb or 0.005 kg per step; 0xFFFF = "measurement unsuccessful".
    weight = None if raw == 0xFFFF else (_scaled(raw, -2) if imperial else _scaled(raw * 5, -3))
    ts = r.date_time("timestamp") if flags & 0x02 else None
    user = r.u8("user id") if flags & 0x04 else None
    bmi = height = None
    height_unit: Literal["m", "in"] | None = None
    if flags & 0x08:
        bmi = _scaled(r.u16("BMI"), -1)
        raw_height = r.u16("height")
        height = _scaled(raw_height, -1) if imperial else _scaled(raw_height, -3)
        height_unit = "in" if imperial else "m"
    return WeightMeasurement(
        weight, "lb" if imperial else "kg", ts, None if user == 0xFF else user, bmi, height,
        height_unit,
    )


# --- Battery Level 0x2A19 ---


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    percent: int


def parse_battery_level(payload: bytes) -> BatteryLevel:
    r = _Reader(payload, "battery level")
    level = r.u8("level")
    if level > 100:
        raise GattPayloadError(N_("battery level {level} outside 0..100 %").format(level=level))
    return BatteryLevel(level)


# --- dispatch ---

Measurement = (
    HeartRateMeasurement | PlxSpotCheck | PlxContinuous | BloodPressureMeasurement
    | IntermediateCuffPressure | TemperatureMeasurement | WeightMeasurement | BatteryLevel
)

PARSERS: dict[str, Callable[[bytes], Measurement]] = {
    "2a37": parse_heart_rate,
    "2a5e": parse_plx_spot_check,
    "2a5f": parse_plx_continuous,
    "2a35": parse_blood_pressure,
    "2a36": parse_intermediate_cuff_pressure,
    "2a1c": parse_temperature,
    "2a9d": parse_weight,
    "2a19": parse_battery_level,
}

CHARACTERISTIC_NAMES = {
    "2a37": "Heart Rate Measurement",
    "2a5e": "PLX Spot-check Measurement",
    "2a5f": "PLX Continuous Measurement",
    "2a35": "Blood Pressure Measurement",
    "2a36": "Intermediate Cuff Pressure",
    "2a1c": "Temperature Measurement",
    "2a9d": "Weight Measurement",
    "2a19": "Battery Level",
}

_UUID16 = re.compile(r"^(?:0x)?([0-9a-f]{4})$")
_UUID128 = re.compile(r"^([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def short_uuid(uuid: str) -> str:
    """'2A37', '0x2a37' or the full SIG-base 128-bit form -> '2a37'.

    Raises UnknownCharacteristicError for anything that is not such a UUID.
    """
    text = uuid.strip().lower()
    m = _UUID16.match(text)
    if m:
        return m.group(1)
    m = _UUID128.match(text)
    if m and text.endswith(SIG_BASE_UUID) and m.group(1).startswith("0000"):
        return m.group(1)[4:]
    raise UnknownCharacteristicError(N_(
        "{uuid!r} is not a 16-bit UUID (2a37, 0x2A37) or a Bluetooth-base 128-bit UUID"
    ).format(uuid=uuid))


def full_uuid(uuid: str) -> str:
    """The 128-bit lowercase form bleak uses for a 16-bit SIG UUID."""
    return f"0000{short_uuid(uuid)}{SIG_BASE_UUID}"


def decode(uuid: str, payload: bytes) -> Measurement:
    """Decode `payload` with the parser for characteristic `uuid` (16-bit or 128-bit form)."""
    short = short_uuid(uuid)
    parser = PARSERS.get(short)
    if parser is None:
        known = ", ".join(sorted(PARSERS))
        raise UnknownCharacteristicError(N_(
            "no parser for characteristic {uuid} (known: {known})").format(uuid=short,
                                                                            known=known))
    try:
        return parser(bytes(payload))
    except GattPayloadError as exc:
        exc.uuid = short
        raise
