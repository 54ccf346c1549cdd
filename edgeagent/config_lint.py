"""Commissioning lint: a config that validates can still switch safety rules off.

Errors (a role one typo away from a rule's role) stop `config check` and `run`:
the rule would be silently gone. Warnings (a placeholder home id, no sensors, no
bathroom or bedroom, a time zone other than the machine's, simulated drivers) are
shown by `config check` and `doctor`; on a real install (/etc/edgeagent)
simulated drivers and the mock pin factory are failures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from edgeagent.config_roles import Finding, extra_roles, named_values, role_errors
from edgeagent.i18n import _
from edgeagent.names import (
    KNOWN_ROOMS,
    canonical_room,
)

if TYPE_CHECKING:
    from edgeagent.config import AgentConfig
    from edgeagent.driver import DriverOptions

REAL_INSTALL_DIR = Path("/etc/edgeagent")
PLACEHOLDER_IDS = frozenset({"change-me", "changeme", "change_me", "todo", "xxx"})


def mock_pin_factory(options: DriverOptions) -> str | None:
    """Where a GPIO driver gets gpiozero's mock pins: its `pin_factory`, else the environment."""
    if not hasattr(options, "pin"):
        return None
    factory = getattr(options, "pin_factory", None)
    if isinstance(factory, str):
        return "pin_factory" if factory.lower() == "mock" else None
    env = os.environ.get("GPIOZERO_PIN_FACTORY", "")
    return "GPIOZERO_PIN_FACTORY" if env.lower() == "mock" else None


def is_simulated(options: DriverOptions) -> bool:
    """A driver whose readings are made up: a mock or replay driver, or GPIO on mock pins."""
    return (options.type.startswith("mock.") or options.type == "replay"
            or mock_pin_factory(options) is not None)


def system_zone() -> str | None:
    """The machine's IANA zone name ($TZ, then /etc/localtime's link), or None if unknown."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz and not tz.startswith("/"):
        return tz
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return None
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else None


def lint(config: AgentConfig, config_path: str | None,  # noqa: C901, PLR0912 - a flat list of independent findings, one if per finding
         machine_zone: str | None = None) -> list[Finding]:
    """Everything worth telling a technician about a valid config."""
    out = role_errors(config.drivers, extra_roles(config.heuristics))
    if config.home.id.casefold() in PLACEHOLDER_IDS:
        out.append(Finding("warning", "home.id", _(
            "home id {id!r} is a placeholder: set the platform's id").format(id=config.home.id)))
    enabled = [(i, d) for i, d in enumerate(config.drivers) if d.enabled]
    if not enabled:
        out.append(Finding("warning", "drivers", _("no sensors configured")))
    aliases = config.home.room_aliases
    rooms: set[str] = set()
    declared = (KNOWN_ROOMS | set(config.heuristics.bathroom_rooms)
                | set(config.heuristics.bedroom_rooms)
                | {canonical_room(target) or "" for target in aliases.values()})
    for index, options in enabled:
        for key, what, value in named_values(options, f"drivers[{index}]"):
            if what != "room":
                continue
            room = canonical_room(value, aliases) or ""
            rooms.add(room)
            if room not in declared:
                out.append(Finding("warning", key, _(
                    "room {value!r} is not a known room; declare it in home.room_aliases "
                    "(known: {known})").format(value=value, known=", ".join(sorted(KNOWN_ROOMS)))))
    if enabled and not rooms & set(config.heuristics.bathroom_rooms):
        out.append(Finding("warning", "drivers", _(
            "no sensor in a room that counts as bathroom ({rooms}): bathroom_overstay is off"
        ).format(rooms=", ".join(config.heuristics.bathroom_rooms))))
    if enabled and not rooms & set(config.heuristics.bedroom_rooms):
        out.append(Finding("warning", "drivers", _(
            "no sensor in a room that counts as bedroom ({rooms}): night rules see less"
        ).format(rooms=", ".join(config.heuristics.bedroom_rooms))))
    zone = machine_zone if machine_zone is not None else system_zone()
    if zone and zone != config.home.timezone:
        out.append(Finding("warning", "home.timezone", _(
            "{zone} differs from this machine's zone {machine}").format(
                zone=config.home.timezone, machine=zone)))
    real = config_path is not None and Path(config_path).resolve().is_relative_to(
        REAL_INSTALL_DIR)
    for index, options in enumerate(config.drivers):
        if options.enabled and is_simulated(options):
            source = mock_pin_factory(options)
            if options.type.startswith("mock.") or options.type == "replay":
                what, key = f"type {options.type!r}", f"drivers[{index}].type"
            elif source == "pin_factory":
                what, key = "pin_factory = 'mock'", f"drivers[{index}].pin_factory"
            else:
                what, key = "GPIOZERO_PIN_FACTORY=mock", f"drivers[{index}]"
            text = (_("{name}: simulated driver ({what}) on a real install: its events are "
                      "made up") if real else
                    _("{name}: simulated driver ({what}): its events are made up"))
            out.append(Finding("fail" if real else "warning", key,
                               text.format(name=options.name, what=what)))
    return out
