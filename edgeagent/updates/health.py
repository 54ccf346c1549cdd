"""Is the agent healthy after a switch? A baseline before, a verdict after, polled.

Healthy means: systemd saw READY=1 (a `Type=notify` unit is `active` only
after it), the control socket answers, the broker link is up, every driver
that was healthy before the switch is healthy again, and the outbox carries
on from the same `seq` (its last seq is not below the one before). The
updater takes the probe as a function, so a test can watch an agent process
it started itself.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent.control import ControlClient
from edgeagent.errors import DaemonUnreachable


@dataclass(frozen=True, slots=True)
class Baseline:
    """What was true before the switch (empty when the agent was not running)."""

    healthy_drivers: frozenset[str] = frozenset()
    last_seq: int = 0
    reloads: int = 0  # the agent's reload counters before a config change
    reloads_refused: int = 0
    await_reload: bool = False  # healthy only once the agent has applied a new reload


@dataclass(slots=True)
class Verdict:
    healthy: bool
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)


# probe(baseline) -> Verdict: one look, no waiting.
Probe = Callable[[Baseline], Verdict]


def baseline_from_socket(socket: Path) -> Baseline:
    try:
        status = ControlClient(socket, timeout=5).request({"cmd": "status"})
    except (DaemonUnreachable, RuntimeError, OSError, ValueError):
        return Baseline()
    drivers = status.get("drivers") or {}
    healthy = frozenset(name for name, h in drivers.items()
                        if isinstance(h, dict) and h.get("state") == "ok")
    counters = status.get("counters") or {}
    return Baseline(healthy, int((status.get("outbox") or {}).get("last_seq") or 0),
                    int(counters.get("reloads") or 0), int(counters.get("reloads_refused") or 0))


def control_probe(socket: Path) -> Probe:
    """The agent's own view, through its control socket."""

    def probe(baseline: Baseline) -> Verdict:
        try:
            status = ControlClient(socket, timeout=5).request({"cmd": "status"})
        except (DaemonUnreachable, RuntimeError, OSError, ValueError) as exc:
            return Verdict(False, f"control socket: {exc}")
        if baseline.await_reload:
            counters = status.get("counters") or {}
            if int(counters.get("reloads_refused") or 0) > baseline.reloads_refused:
                return Verdict(False, "the agent refused the new config on reload (see its log)")
            if int(counters.get("reloads") or 0) <= baseline.reloads:
                return Verdict(False, "the new config is not loaded yet")
        mqtt = (status.get("mqtt") or {}).get("state")
        if mqtt != "connected":
            return Verdict(False, f"broker link {mqtt}")
        drivers = status.get("drivers") or {}
        for name in sorted(baseline.healthy_drivers):
            state = (drivers.get(name) or {}).get("state")
            if state != "ok":
                return Verdict(False, f"driver {name} {state or 'missing'}")
        last_seq = int((status.get("outbox") or {}).get("last_seq") or 0)
        if last_seq < baseline.last_seq:
            return Verdict(False, f"outbox seq went back from {baseline.last_seq} to {last_seq}")
        return Verdict(True, details={"last_seq": last_seq, "version": status.get("version")})

    return probe


def systemd_probe(unit: str, inner: Probe) -> Probe:
    """READY=1 first (`systemctl is-active` of a Type=notify unit), then `inner`."""

    def probe(baseline: Baseline) -> Verdict:
        state = subprocess.run(["systemctl", "is-active", unit],  # noqa: S603, S607
                               check=False, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        if state != "active":
            return Verdict(False, f"{unit} {state or 'unknown'} (no READY=1)")
        return inner(baseline)

    return probe


def wait_healthy(probe: Probe, baseline: Baseline, timeout_s: float, *,
                 interval_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> Verdict:
    """Poll until healthy or `timeout_s`; the last unhealthy reason otherwise."""
    deadline = clock() + timeout_s
    verdict = probe(baseline)
    while not verdict.healthy:
        if clock() >= deadline:
            verdict.reason = f"not healthy within {timeout_s:g} s: {verdict.reason}"
            return verdict
        sleep(interval_s)
        verdict = probe(baseline)
    return verdict
