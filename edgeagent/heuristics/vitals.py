"""Vital signs against the care plan's limits, confirmed by a second reading.

A single odd value is usually a cuff put on badly or a finger moving under
the oximeter; an alert needs two readings outside the limits within
`confirm_minutes`. A reading back inside the limits clears the pending one
and resolves an open alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeagent.heuristics.reasons import Reason, say
from edgeagent.heuristics.settings import VitalLimits
from edgeagent.heuristics.values import finite_number
from edgeagent.models import Reading, Severity

UNITS = {"heart_rate": "bpm", "spo2": "%", "systolic": "mmHg", "diastolic": "mmHg",
         "temperature": "°C", "weight": "kg"}
LABELS = {"heart_rate": "heart rate", "spo2": "SpO2", "systolic": "systolic blood pressure",
          "diastolic": "diastolic blood pressure", "temperature": "body temperature",
          "weight": "weight"}
# A thermometer reading below this is a room sensor, not a body temperature.
BODY_TEMPERATURE_MIN = 30.0


def measurements(reading: Reading) -> dict[str, float]:  # noqa: C901 - one branch per reading shape drivers send (number, pair, dict)
    """The vital values in a reading, tolerant of the shapes drivers use.

    Blood pressure may come as a dict value (`{"systolic": .., "diastolic": ..}`),
    or as the systolic number with the rest in `data`.
    """
    sensor = reading.sensor
    if sensor == "blood_pressure":
        out: dict[str, float] = {}
        sources: list[dict[str, Any]] = [reading.data]
        if isinstance(reading.value, dict):
            sources.insert(0, reading.value)
        for name in ("systolic", "diastolic"):
            for source in sources:
                number = finite_number(source.get(name))
                if number is not None:
                    out[name] = number
                    break
        if "systolic" not in out:
            number = finite_number(reading.value)
            if number is not None:
                out["systolic"] = number
        return out
    number = finite_number(reading.value)
    if number is None:
        return {}
    if sensor == "temperature" and number < BODY_TEMPERATURE_MIN:
        return {}
    if sensor in UNITS:
        return {sensor: number}
    return {}


def bounds(limits: VitalLimits, name: str) -> tuple[float | None, float | None]:
    return {
        "heart_rate": (limits.heart_rate_min, limits.heart_rate_max),
        "spo2": (limits.spo2_min, None),
        "systolic": (limits.systolic_min, limits.systolic_max),
        "diastolic": (limits.diastolic_min, limits.diastolic_max),
        "temperature": (limits.temperature_min, limits.temperature_max),
        "weight": (limits.weight_min, limits.weight_max),
    }[name]


def violation(limits: VitalLimits, name: str, value: float) -> Reason | None:
    """How `value` breaks the limits, or None when it is fine."""
    low, high = bounds(limits, name)
    if low is not None and value < low:
        return say("below", limit=f"{low:g}", unit=UNITS[name])
    if high is not None and value > high:
        return say("above", limit=f"{high:g}", unit=UNITS[name])
    return None


def severity_of(limits: VitalLimits, name: str, values: list[float]) -> Severity:
    if name == "heart_rate" and any(
        v < limits.critical_heart_rate_min or v > limits.critical_heart_rate_max for v in values
    ):
        return Severity.CRITICAL
    if name == "spo2" and any(v < limits.critical_spo2_min for v in values):
        return Severity.CRITICAL
    return Severity.WARNING


@dataclass(frozen=True, slots=True)
class VitalVerdict:
    """What the confirmation step decided for one measurement."""

    action: str  # "raise" | "resolve" | "pending" | "none"
    name: str
    reason: Reason | None = None
    severity: Severity = Severity.WARNING


def judge(limits: VitalLimits, pending: dict[str, list[float]], name: str, value: float,
          at: float) -> VitalVerdict:
    """Update `pending` (name -> [time, value]) and say whether to raise, resolve or wait."""
    broken = violation(limits, name, value)
    label, unit = LABELS[name], UNITS[name]
    if broken is None:
        pending.pop(name, None)
        return VitalVerdict("resolve", name,
                            say("vital_back", label=label, value=f"{value:g}", unit=unit))
    first = pending.get(name)
    if first is not None and at - first[0] <= limits.confirm_minutes * 60:
        pending.pop(name, None)
        minutes = round((at - first[0]) / 60)
        return VitalVerdict(
            "raise", name,
            say("vital_out", label=label, first=f"{first[1]:g}", unit=unit, value=f"{value:g}",
                minutes=minutes, broken=broken),
            severity_of(limits, name, [first[1], value]),
        )
    pending[name] = [at, value]
    return VitalVerdict("pending", name)
