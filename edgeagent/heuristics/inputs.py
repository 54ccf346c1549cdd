"""Readings that are alerts by themselves: SOS, smoke/gas/CO, vital signs, device health.

No timers and no notion of where the resident is: each function turns one
reading into alert transitions on the `AlertBook`.
"""

from __future__ import annotations

from typing import Any

from edgeagent.heuristics import devices, vitals
from edgeagent.heuristics.alerts import AlertBook
from edgeagent.heuristics.reasons import say
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.heuristics.values import finite_number
from edgeagent.models import Draft, Reading, Severity

DETECTORS = {"smoke": "smoke", "gas": "gas", "co": "co"}


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() not in ("", "0", "false", "off", "no", "closed", "clear")
    return bool(value)


def _keep(draft: Draft | None) -> list[Draft]:
    return [draft] if draft is not None else []


def sos(book: AlertBook, settings: HeuristicsSettings, reading: Reading, at: float,
        hhmm: str) -> list[Draft]:
    """A press raises `sos`; a press while it is open escalates it."""
    if not truthy(reading.value):
        return []
    where = f" in {reading.room}" if reading.room else ""
    if book.is_open("sos"):
        return _keep(book.escalate_now(
            "sos", at, say("sos_again", time=hhmm, device=reading.device, where=where)))
    return _keep(book.raise_(
        "sos", Severity.CRITICAL, at, say("sos", device=reading.device, where=where),
        source={"device": reading.device, "room": reading.room},
        escalate_after=settings.escalate_critical_minutes * 60,
    ))


def sos_cancel(book: AlertBook, reading: Reading, at: float) -> list[Draft]:
    if not truthy(reading.value):
        return []
    return _keep(book.resolve("sos", at, say("sos_cancelled", device=reading.device)))


def detector(book: AlertBook, reading: Reading, at: float) -> list[Draft]:
    """Smoke, gas or CO: critical while active, one alert per detector."""
    type_ = DETECTORS[reading.sensor]
    if truthy(reading.value):
        return _keep(book.raise_(
            type_, Severity.CRITICAL, at,
            say("detector_on", detector=type_, device=reading.device),
            key=reading.device, source={"device": reading.device, "room": reading.room},
        ))
    return _keep(book.resolve(type_, at, say("detector_clear", detector=type_,
                                              device=reading.device),
                              key=reading.device))


def vital_signs(book: AlertBook, settings: HeuristicsSettings,
                pending: dict[str, list[float]], reading: Reading, at: float) -> list[Draft]:
    out: list[Draft] = []
    for name, value in vitals.measurements(reading).items():
        verdict = vitals.judge(settings.vitals, pending, name, value, at)
        if verdict.action == "raise":
            out += _keep(book.raise_(
                "vital_out_of_range", verdict.severity, at, verdict.reason or "", key=name,
                source={"device": reading.device}, extra={"vital": name, "value": value},
            ))
        elif verdict.action == "resolve":
            out += _keep(book.resolve("vital_out_of_range", at, verdict.reason or "", key=name))
    return out


def battery(book: AlertBook, settings: HeuristicsSettings, reading: Reading,
            at: float) -> list[Draft]:
    percent = finite_number(reading.value)
    if percent is None:
        return []
    action = devices.battery_action(settings, percent, book.is_open("low_battery",
                                                                    reading.device))
    if action == "raise":
        return _keep(book.raise_(
            "low_battery", Severity.WARNING, at,
            say("low_battery", device=reading.device, percent=f"{percent:g}",
                limit=f"{settings.low_battery_percent:g}"),
            key=reading.device, source={"device": reading.device}, extra={"battery": percent},
        ))
    if action == "resolve":
        return _keep(book.resolve("low_battery", at, say(
            "battery_ok", device=reading.device, percent=f"{percent:g}"), key=reading.device))
    return []


def device_status(book: AlertBook, reading: Reading, at: float) -> list[Draft]:
    action = devices.status_action(reading.value)
    if action == "raise":
        detail = reading.data.get("reason")
        reason = (say("device_offline_detail", device=reading.device, detail=str(detail))
                  if detail else say("device_offline", device=reading.device))
        return _keep(book.raise_(
            "device_offline", Severity.WARNING, at, reason, key=reading.device,
            source={"device": reading.device, "room": reading.room},
        ))
    if action == "resolve":
        return _keep(book.resolve("device_offline", at,
                                  say("device_online", device=reading.device),
                                  key=reading.device))
    return []
