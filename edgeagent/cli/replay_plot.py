"""`replay --plot`: the replayed days as one picture a care manager can take in at a glance.

A row per day, 24 hours across, a lane per room: light marks where the
sensors saw her (10-minute slots), coloured bars for alerts from raised to
resolved, hatched spans for gaps in the recording. matplotlib is an optional
extra (`pip install edgeagent[plot]`): a kit never draws, so it does not carry it.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from edgeagent.cli.replay_days import Day
from edgeagent.errors import EdgeAgentError
from edgeagent.heuristics.localtime import LocalTime
from edgeagent.heuristics.replay import ACTIVITY_BUCKET_S, ReplayResult
from edgeagent.i18n import _
from edgeagent.models import Severity

COLOURS = {Severity.CRITICAL: "#d62728", Severity.WARNING: "#ff7f0e", Severity.INFO: "#1f77b4"}
ACTIVITY_COLOUR = "#b9c7d6"
GAP_COLOUR = "#888888"
HOME_LANE = "(home)"  # alerts that name no room
MAX_DAYS = 62  # a taller picture is unreadable; replay a shorter log for more


class PlotUnavailable(EdgeAgentError):
    """matplotlib is missing, or the log is too long or empty to draw."""


def _pyplot() -> Any:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ModuleNotFoundError:
        raise PlotUnavailable(_("--plot needs matplotlib: pip install 'edgeagent[plot]'")
                              ) from None
    matplotlib.use("Agg")  # files only, no display
    return importlib.import_module("matplotlib.pyplot")


def _hour(when: datetime, day_start: datetime) -> float:
    return (when - day_start).total_seconds() / 3600


def _segments(start: datetime, end: datetime) -> list[tuple[datetime, float, float]]:
    """(local midnight, from hour, to hour) for each day a span touches."""
    out = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        nxt = day + timedelta(days=1)
        lo, hi = max(start, day), min(end, nxt)
        if hi > lo:
            out.append((day, _hour(lo, day), _hour(hi, day)))
        day = nxt
    return out


def plot_days(days: list[Day], result: ReplayResult, local: LocalTime, path: Path) -> None:  # noqa: C901, PLR0912 - one branch per series drawn; matplotlib calls read best in sequence
    """Write the PNG to `path`."""
    if not days:
        raise PlotUnavailable(_("nothing to plot: the log has no mapped reading"))
    if len(days) > MAX_DAYS:
        raise PlotUnavailable(_("--plot draws at most {max} days; this log covers {days}: cut "
                                "the log to the weeks to show").format(max=MAX_DAYS,
                                                                       days=len(days)))
    plt = _pyplot()
    rooms = sorted({room for room, _slot in result.activity})
    if any(not e.room or e.room not in rooms for d in days for e in d.episodes):
        rooms += sorted({e.room or HOME_LANE for d in days for e in d.episodes} - set(rooms))
    lanes = max(1, len(rooms))
    row = lanes + 1  # a blank lane between days
    index = {day.day: n for n, day in enumerate(days)}
    fig, ax = plt.subplots(figsize=(11, 0.9 + 0.22 * row * len(days)), dpi=110)

    def lane_y(day_n: int, room: str) -> float:
        return day_n * row + (rooms.index(room) if room in rooms else 0)

    for room, slot in result.activity:
        when = local.local(float(slot))
        n = index.get(when.date())
        if n is None:
            continue
        start = _hour(when, when.replace(hour=0, minute=0, second=0, microsecond=0))
        ax.broken_barh([(start, ACTIVITY_BUCKET_S / 3600)], (lane_y(n, room) + 0.2, 0.6),
                       facecolors=ACTIVITY_COLOUR, linewidth=0)
    for day in days:
        for gap in day.gaps:
            for midnight, lo, hi in _segments(gap.start, gap.end):
                n = index.get(midnight.date())
                if n is not None:
                    ax.broken_barh([(lo, hi - lo)], (n * row - 0.1, lanes + 0.2),
                                   facecolors="none", edgecolors=GAP_COLOUR, hatch="///",
                                   linewidth=0.5)
        for e in day.episodes:
            end = e.closed or local.local(result.last or e.opened.timestamp())
            end = max(end, e.opened + timedelta(minutes=10))  # visible even when brief
            for midnight, lo, hi in _segments(e.opened, end):
                n = index.get(midnight.date())
                if n is not None:
                    ax.broken_barh([(lo, hi - lo)], (lane_y(n, e.room or HOME_LANE), 1.0),
                                   facecolors=COLOURS[e.severity], linewidth=0)
            n = index[day.day]
            ax.text(min(_hour(e.opened, e.opened.replace(hour=0, minute=0, second=0,
                                                         microsecond=0)), 21.5),
                    lane_y(n, e.room or HOME_LANE) + 0.5, f" {e.type}", fontsize=6,
                    va="center", ha="left", color="black")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xticklabels([f"{h:02d}:00" for h in range(0, 25, 3)], fontsize=7)
    ax.set_ylim(len(days) * row - 1, -1)  # the first day at the top
    ticks = [n * row + lane + 0.5 for n in range(len(days)) for lane in range(lanes)]
    ax.set_yticks(ticks)
    ax.set_yticklabels(rooms * len(days) if rooms else [""] * len(days), fontsize=6)
    for n, day in enumerate(days):
        ax.text(-0.09, n * row + lanes / 2, day.day.strftime("%a\n%m-%d"), fontsize=8,
                fontweight="bold", ha="right", va="center",
                transform=ax.get_yaxis_transform())
        if n:
            ax.axhline(n * row - 0.5, color="#dddddd", linewidth=0.6)
    ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
    ax.set_axisbelow(True)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLOURS.values()]
    handles += [plt.Rectangle((0, 0), 1, 1, color=ACTIVITY_COLOUR),
                plt.Rectangle((0, 0), 1, 1, facecolor="none", edgecolor=GAP_COLOUR,
                              hatch="///")]
    ax.legend(handles, ["critical alert", "warning", "info", "sensor activity",
                        "recording gap"], loc="upper center", bbox_to_anchor=(0.5, 1.0),
              ncols=5, fontsize=7, frameon=False, borderaxespad=-2.2)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
