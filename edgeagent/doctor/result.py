"""What one doctor check found: a status, a one-line reason, and what to do about it.

The status vocabulary is deliberately small so a technician (and a script)
can act on it: `pass`, `warn`, `fail`, and `skip` for checks that do not
apply here (no systemd on a laptop, no client certificate configured).
Skips do not change the exit code.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from edgeagent import __version__

EXIT_OK = 0
EXIT_WARN = 1
EXIT_FAIL = 2


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(slots=True)
class CheckResult:
    """One check. `name` is stable (`mqtt.tls.chain`) so scripts can key on it."""

    name: str
    status: Status
    reason: str
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "status": str(self.status),
                               "reason": self.reason}
        if self.fix:
            doc["fix"] = self.fix
        if self.details:
            doc["details"] = self.details
        return doc


def ok(name: str, reason: str, **details: Any) -> CheckResult:
    return CheckResult(name, Status.PASS, reason, "", details)


def warn(name: str, reason: str, fix: str, **details: Any) -> CheckResult:
    return CheckResult(name, Status.WARN, reason, fix, details)


def fail(name: str, reason: str, fix: str, **details: Any) -> CheckResult:
    return CheckResult(name, Status.FAIL, reason, fix, details)


def skip(name: str, reason: str, **details: Any) -> CheckResult:
    return CheckResult(name, Status.SKIP, reason, "", details)


@dataclass(slots=True)
class Report:
    """Every check of one doctor run, in the order they ran."""

    checks: list[CheckResult] = field(default_factory=list)
    mode: str = "standalone"
    generated_at: float = field(default_factory=time.time)

    def add(self, results: CheckResult | list[CheckResult]) -> None:
        if isinstance(results, CheckResult):
            self.checks.append(results)
        else:
            self.checks.extend(results)

    def by_name(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def named(self, prefix: str) -> list[CheckResult]:
        return [c for c in self.checks if c.name == prefix or c.name.startswith(prefix + ".")
                or c.name.startswith(prefix + "[")]

    @property
    def exit_code(self) -> int:
        statuses = {c.status for c in self.checks}
        if Status.FAIL in statuses:
            return EXIT_FAIL
        if Status.WARN in statuses:
            return EXIT_WARN
        return EXIT_OK

    def summary(self) -> dict[str, int]:
        counts = {str(s): 0 for s in Status}
        for check in self.checks:
            counts[str(check.status)] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "edgeagent": __version__,
            "host": platform.node(),
            "mode": self.mode,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.generated_at)),
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "checks": [c.as_dict() for c in self.checks],
        }
