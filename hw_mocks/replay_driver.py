"""`replay`: a recorded home (CASAS-format log + sensor map) played as a live driver.

The lines are parsed and mapped by `edgeagent.casas` (the same code
`edgeagent replay` backtests with), so a replayed motion is exactly the
Reading a live PIR driver would have emitted: sensor `motion`/`door`/`bed`,
room and role from the map. Only the timing is this driver's: the log's
time offsets are laid on the injected clock (`speed` log seconds per clock
second), each reading stamped at its own due time, so an accelerated demo
clock or a test's ManualClock plays the log faster without losing order.

`start = "first"` plays from the first line at once; `start =
"time_of_day"` skips to the first line at or after the clock's local time
of day (in `timezone`, the home's zone), so night rules see night lines at
night. Bad lines are counted and skipped; a missing file or map is a
`DriverError` (the supervisor shows it and retries).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from edgeagent.casas import CasasRecord, LineError, MapError, SensorMap, load_map, parse_lines
from edgeagent.casas import to_reading as casas_reading
from edgeagent.config import TimeZoneName
from edgeagent.driver import Driver, DriverContext, DriverOptions, HealthState
from edgeagent.errors import DriverError


class ReplayOptions(DriverOptions):
    path: Path = Field(description="the log: YYYY-MM-DD HH:MM:SS[.ffffff] SENSOR VALUE [...]")
    map: Path = Field(description="TOML sensor map: [sensors.ID] kind, room, role")
    timezone: TimeZoneName = Field(default="UTC", description="zone of the log's local times")
    speed: float = Field(default=1.0, gt=0, le=1_000_000,
                         description="log seconds played per clock second")
    start: Literal["first", "time_of_day"] = "first"
    loop: bool = False
    poll_interval: float = Field(default=0.02, gt=0, le=5,
                                 description="real seconds between looks at the clock")


class ReplayDriver(Driver):
    """Plays a recorded log through the readings path, following the injected clock."""

    Options: ClassVar[type[DriverOptions]] = ReplayOptions
    options: ReplayOptions

    def __init__(self, options: DriverOptions, context: DriverContext) -> None:
        super().__init__(options, context)
        self.zone = ZoneInfo(self.options.timezone)
        self.sensor_map: SensorMap | None = None
        self.unmapped: dict[str, int] = {}
        self.finished = False

    def _load_map(self) -> SensorMap:
        try:
            return load_map(self.options.map)
        except MapError as exc:
            raise DriverError(f"{self.name}: sensor map: {exc}") from exc

    def _records(self) -> Iterator[CasasRecord]:
        """Parsed lines of the log, lazily (CASAS files can be large); bad lines counted."""
        try:
            handle = self.options.path.open(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise DriverError(f"{self.name}: cannot read {self.options.path}: {exc}") from exc
        with handle:
            for item in parse_lines(handle):
                if isinstance(item, LineError):
                    self.count("bad_lines")
                    if self.health.counters["bad_lines"] <= 5:
                        self.context.logger.warning("%s: %s line %d: %s", self.name,
                                                    self.options.path, item.line, item.reason)
                    continue
                yield item

    def _first(self, records: Iterator[CasasRecord]) -> tuple[CasasRecord | None, datetime]:
        """The first record to play and the log time that corresponds to "now"."""
        first = next(records, None)
        if first is None or self.options.start == "first":
            return first, first.when if first else datetime.min
        now = self.context.clock.wall().astimezone(self.zone)
        wanted = now.time().replace(tzinfo=None)
        day = first.when.date()
        anchor = datetime.combine(day, wanted)
        if anchor < first.when:
            anchor += timedelta(days=1)
        record: CasasRecord | None = first
        while record is not None and record.when < anchor:
            self.count("skipped_lines")
            record = next(records, None)
        return record, anchor

    async def run(self) -> None:
        self.sensor_map = self._load_map()
        while True:
            await self._play_once()
            if not self.options.loop:
                break
            self.count("passes")
        self.finished = True
        self.set_health(HealthState.OK,
                        f"finished {self.options.path.name}: "
                        f"{self.health.counters.get('readings', 0)} readings")
        await asyncio.Event().wait()  # stay, finished: returning would be a restart

    async def _play_once(self) -> None:
        clock = self.context.clock
        records = self._records()
        record, log_zero = self._first(records)
        if record is None:
            self.set_health(HealthState.DEGRADED, f"{self.options.path}: no usable line")
            return
        mono_zero = clock.monotonic()
        self.set_health(HealthState.OK,
                        f"playing {self.options.path.name} at {self.options.speed}x")
        while record is not None:
            due = mono_zero + (record.when - log_zero).total_seconds() / self.options.speed
            while clock.monotonic() < due:
                await asyncio.sleep(self.options.poll_interval)
            self._emit(record, due)
            self.health.details["log_time"] = record.when.isoformat()
            record = next(records, None)

    def _emit(self, record: CasasRecord, due: float) -> None:
        assert self.sensor_map is not None
        self.count("lines")
        spec = self.sensor_map.sensors.get(record.sensor)
        if spec is None:
            self.unmapped[record.sensor] = self.unmapped.get(record.sensor, 0) + 1
            self.count("unmapped_lines")
            self.health.details["unmapped_sensors"] = sorted(self.unmapped)
            return
        reading = casas_reading(record, spec, self.zone, mono=due)
        if reading is None:
            self.count("ignored_lines")
            return
        clock = self.context.clock
        wall = clock.wall() - timedelta(seconds=max(0.0, clock.monotonic() - due))
        data: dict[str, Any] = dict(reading.data)
        data["log_time"] = record.when.isoformat()
        self.count("readings")
        self.context.emit(dataclasses.replace(reading, driver=self.options.name, wall=wall,
                                              data=data))
