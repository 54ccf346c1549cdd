"""Keeps every configured driver running: start, restart with backoff, watchdog, health.

A driver that raises is restarted with jittered backoff and reported; it never
takes the agent down. A driver stuck in a call that never returns (a hung
library call) is caught by its `watchdog_s` and replaced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeagent.backoff import Backoff
from edgeagent.driver import Driver, DriverOptions, HealthState
from edgeagent.driver_failures import DriverFailureLog
from edgeagent.errors import DriverError, HardwareUnavailable

log = logging.getLogger(__name__)

RAN_WELL_S = 60.0  # a driver that ran this long before failing starts its backoff afresh


@dataclass(slots=True)
class DriverSlot:
    """One configured driver and its restart history."""

    options: DriverOptions
    driver: Driver | None = None
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    watchdog_restarts: int = 0
    last_error: str = ""
    readings: int = 0
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 60.0))

    def health(self) -> dict[str, Any]:
        base: dict[str, Any] = {"type": self.options.type, "restarts": self.restarts,
                                "watchdog_restarts": self.watchdog_restarts,
                                "readings": self.readings, "last_error": self.last_error}
        if self.driver is not None:
            base.update(self.driver.health.as_dict())
        else:
            base["state"] = str(HealthState.STARTING)
        return base


def enabled(options: Sequence[DriverOptions]) -> dict[str, DriverOptions]:
    """The enabled driver tables by name, in config order."""
    return {o.name: o for o in options if o.enabled}


class DriverSupervisor:
    """One task per enabled driver; `make_driver` builds a fresh driver for each run."""

    def __init__(self, options: Sequence[DriverOptions],
                 make_driver: Callable[[DriverOptions], Driver]) -> None:
        self._make_driver = make_driver
        self._slots = [DriverSlot(o) for o in enabled(options).values()]
        self._running = False
        # A driver failing again and again for one reason: logged once, then a summary.
        self.failures = DriverFailureLog(log, time.monotonic)

    @property
    def slots(self) -> tuple[DriverSlot, ...]:
        return tuple(self._slots)

    def health(self) -> dict[str, dict[str, Any]]:
        return {slot.options.name: slot.health() for slot in self._slots}

    def start(self) -> None:
        """Start every driver (on the running loop)."""
        self._running = True
        for slot in self._slots:
            self._start(slot)

    async def stop(self) -> None:
        """Cancel every driver and wait for each to close."""
        self._running = False
        await self._cancel(self._slots)

    def note_reading(self, name: str) -> None:
        """A reading from driver `name`: counted, and it proves the driver alive."""
        for slot in self._slots:
            if slot.options.name == name:
                slot.readings += 1
                if slot.driver is not None:
                    slot.driver.last_alive = time.monotonic()
                return

    async def reconfigure(self, options: Sequence[DriverOptions],
                          keep: Sequence[str]) -> None:
        """Adopt new driver tables: the drivers named in `keep` run on untouched, every
        other one is stopped, and the new tables start (a reload)."""
        by_name = {slot.options.name: slot for slot in self._slots}
        stopping = [s for name, s in by_name.items() if name not in keep]
        await self._cancel(stopping)
        slots = []
        for name, opts in enabled(options).items():
            slot = by_name[name] if name in keep and name in by_name else DriverSlot(opts)
            if slot.task is None and self._running:
                self._start(slot)
            slots.append(slot)
        self._slots = slots

    def check_watchdogs(self, now: float) -> None:
        """Restart a driver silent past its `watchdog_s`: stuck in a call that never returns.

        The stuck call's thread cannot be killed; its task is cancelled and a fresh
        driver started, so the others (and this one's future readings) carry on.
        """
        for slot in self._slots:
            limit = slot.options.watchdog_s
            driver, task = slot.driver, slot.task
            if not limit or driver is None or task is None or task.done():
                continue
            silent = now - driver.last_alive
            if silent <= limit:
                continue
            reason = f"watchdog: no reading or heartbeat for {silent:.1f}s (limit {limit:g}s)"
            log.warning("driver %s %s; restarting it", slot.options.name, reason)
            driver.set_health(HealthState.FAILED, reason)
            slot.last_error = reason
            slot.restarts += 1
            slot.watchdog_restarts += 1
            task.cancel()
            driver.last_alive = now
            self._start(slot)

    def _start(self, slot: DriverSlot) -> None:
        slot.task = asyncio.create_task(self._supervise(slot), name=slot.options.name)

    @staticmethod
    async def _cancel(slots: Sequence[DriverSlot]) -> None:
        for slot in slots:
            if slot.task is not None:
                slot.task.cancel()
        await asyncio.gather(*(s.task for s in slots if s.task), return_exceptions=True)

    async def _supervise(self, slot: DriverSlot) -> None:
        """Run one driver forever: restart on failure with jittered backoff."""
        while True:
            started = time.monotonic()
            driver: Driver | None = None  # this run's driver, even after a watchdog restart
            missing: dict[str, str] = {}  # what HardwareUnavailable says is absent, and the fix
            try:
                driver = slot.driver = self._make_driver(slot.options)
                await driver.run()
                reason = "driver returned"
            except asyncio.CancelledError:
                raise
            except HardwareUnavailable as exc:
                reason = f"hardware unavailable: {exc}"
                missing = {"missing": exc.missing, "fix": exc.fix} if exc.missing else {}
            except DriverError as exc:
                reason = str(exc)
            except Exception as exc:
                log.exception("driver %s crashed", slot.options.name)
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                if driver is not None:
                    try:
                        await driver.close()
                    except Exception:
                        log.exception("driver %s close failed", slot.options.name)
            if driver is not None:
                driver.set_health(HealthState.FAILED, reason)
                driver.health.details.update(missing)  # doctor names it once, with the fix
            slot.last_error = reason
            slot.restarts += 1
            if time.monotonic() - started > RAN_WELL_S:
                slot.backoff.reset()
                self.failures.ran_well(slot.options.name)
            delay = slot.backoff.next_delay() + 0.5
            self.failures.stopped(slot.options.name, reason, slot.restarts, delay)
            await asyncio.sleep(delay)
