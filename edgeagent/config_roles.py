"""Roles a driver table gives, checked against the roles the safety rules know.

Shared by config loading (a near-miss role is an error: the rule would be silently
gone) and `config check`'s lint. It knows driver options and the home's rule
settings only as values handed in, so the config module can call it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from edgeagent.i18n import _
from edgeagent.names import canonical_role, known_roles, near_rule_role

if TYPE_CHECKING:
    from edgeagent.driver import DriverOptions
    from edgeagent.heuristics.settings import HeuristicsSettings


@dataclass(frozen=True, slots=True)
class Finding:
    level: Literal["error", "warning", "fail"]
    key: str
    message: str


def named_values(options: DriverOptions, where: str) -> Iterator[tuple[str, str, str]]:
    """(key path, `room` or `role`, value) for every room/role a driver's options give."""
    stack: list[tuple[str, Any]] = [(where, options.model_dump())]
    while stack:
        key, value = stack.pop()
        if isinstance(value, dict):
            for k, v in value.items():
                path = f"{key}.{k}"
                if k in ("room", "role") and isinstance(v, str):
                    yield path, k, v
                else:
                    stack.append((path, v))
        elif isinstance(value, list):
            stack.extend((f"{key}[{i}]", v) for i, v in enumerate(value))


def extra_roles(heuristics: HeuristicsSettings) -> list[str]:
    """Roles the home's own rules declare (meal roles, daily checks): valid wherever used."""
    return [*heuristics.meal_roles,
            *(r for check in heuristics.daily_checks for r in check.roles)]


def role_errors(drivers: Sequence[DriverOptions], extra: Sequence[str]) -> list[Finding]:
    """Roles that are near misses of a rule's role: errors naming the key and valid roles."""
    out: list[Finding] = []
    for index, options in enumerate(drivers):
        for key, what, value in named_values(options, f"drivers[{index}]"):
            if what != "role":
                continue
            role = canonical_role(value) or ""
            near = near_rule_role(role)
            if near is not None and role not in extra:
                out.append(Finding("error", key, _(
                    "unknown role {value!r} (did you mean {near!r}?); roles: {roles}").format(
                        value=value, near=near, roles=", ".join(known_roles(extra)))))
    return out
