"""The evaluation as a table against the targets, and the docs block that holds it.

A row is one recorded home, or many homes pooled (synthetic homes of one
layout): `pooled` adds their days, alerts and falls before taking the
figures. `write_block` replaces the text between `<!-- NAME:begin -->` and
`<!-- NAME:end -->` in a document, so each generator owns its own block
(`evaluation` for the recorded homes, `synthetic` for the generated ones).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeagent.errors import EdgeAgentError
from edgeagent.evaluation.run import HomeEvaluation

MAX_CRITICAL_PER_30D = 1.0
NIGHT_MEDIAN_MINUTES = 25.0
NIGHT_MAX_MINUTES = 60.0
DAY_MEDIAN_MINUTES = 150.0


@dataclass(frozen=True, slots=True)
class Row:
    """The figures of one table line."""

    name: str
    homes: int
    days: float
    critical: int
    night_injected: int
    night_minutes: tuple[float, ...]
    day_injected: int
    day_minutes: tuple[float, ...]

    @property
    def critical_per_30d(self) -> float:
        return round(self.critical * 30 / self.days, 2) if self.days > 0 else 0.0

    @property
    def critical_ok(self) -> bool:
        return self.critical_per_30d <= MAX_CRITICAL_PER_30D

    @property
    def nights_all(self) -> bool | None:
        """None when there was no night fall to inject (no annotated sleep)."""
        return len(self.night_minutes) == self.night_injected if self.night_injected else None

    @property
    def nights_fast(self) -> bool | None:
        m = self.night_minutes
        if not m:
            return None
        return statistics.median(m) <= NIGHT_MEDIAN_MINUTES and max(m) <= NIGHT_MAX_MINUTES

    @property
    def days_all(self) -> bool | None:
        return len(self.day_minutes) == self.day_injected if self.day_injected else None

    @property
    def days_fast(self) -> bool | None:
        m = self.day_minutes
        return statistics.median(m) <= DAY_MEDIAN_MINUTES if m else None

    @property
    def meets_targets(self) -> bool:
        """Every applicable target met (a home without annotated sleep has no night figure)."""
        checks = (self.critical_ok, self.nights_all, self.nights_fast, self.days_all,
                  self.days_fast)
        return all(c is not False for c in checks)


def pooled(name: str, results: Iterable[HomeEvaluation]) -> Row:
    """One row for many homes: alerts per 30 days over all their days, falls pooled."""
    homes, days, critical, n_night, n_day = 0, 0.0, 0, 0, 0
    night: list[float] = []
    day: list[float] = []
    for r in results:
        homes += 1
        days += r.days
        critical += len(r.critical)
        n_night += len(r.night)
        n_day += len(r.day)
        night += [f.minutes for f in r.night if f.minutes is not None]
        day += [f.minutes for f in r.day if f.minutes is not None]
    return Row(name, homes, days, critical, n_night, tuple(night), n_day, tuple(day))


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def _median_max(minutes: Sequence[float]) -> str:
    if not minutes:
        return "-"
    return f"{statistics.median(minutes):.1f} / {max(minutes):.1f}"


def markdown_table(rows: Sequence[Row], first_column: str = "home") -> str:
    """The table, with the targets in the header and ✓/✗ per figure."""
    head = (f"| {first_column} | days | critical alerts / 30 days (≤ 1) "
            "| night falls alerted critical (all) | night: median / max minutes (≤ 25 / ≤ 60) "
            "| day falls alerted (all) | day: median / max minutes (median ≤ 150) |\n"
            "|---|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        nights = (f"{len(r.night_minutes)} / {r.night_injected}{_mark(r.nights_all)}"
                  if r.night_injected else "no annotated sleep")
        days = f"{len(r.day_minutes)} / {r.day_injected}{_mark(r.days_all)}"
        lines.append(f"| {r.name} | {r.days:.1f} | {r.critical_per_30d:.1f}{_mark(r.critical_ok)} "
                     f"| {nights} | {_median_max(r.night_minutes)}{_mark(r.nights_fast)} "
                     f"| {days} | {_median_max(r.day_minutes)}{_mark(r.days_fast)} |")
    return "\n".join(lines)


class BlockError(EdgeAgentError, ValueError):
    """The document lacks the block's markers (or has them out of order)."""


def replace_block(text: str, name: str, body: str) -> str:
    """`text` with everything between the `name` markers replaced by `body`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if len(pattern.findall(text)) != 1:
        raise BlockError(f"expected one '{begin}' ... '{end}' block")
    return pattern.sub(lambda _: f"{begin}\n{body.strip()}\n{end}", text)


def write_block(path: str | Path, name: str, body: str) -> None:
    target = Path(path)
    target.write_text(replace_block(target.read_text(encoding="utf-8"), name, body),
                      encoding="utf-8")
