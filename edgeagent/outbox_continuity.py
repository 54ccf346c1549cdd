"""`seq` never goes back: a lost outbox file is noticed, and a new one continues above it.

While running, the outbox file is checked against the one that was opened
(device and inode): a removed data directory is logged loudly and reported
in status at once, and the seq high-water mark is written back so that the
restart that follows still knows where `seq` stood. At start, a new outbox
(or one older than the mark) continues above the highest mark known (the
file beside the outbox, the broker's retained status) and stores an
`outbox_lost` event naming the range of seqs that may be missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from edgeagent.clock import Clock
from edgeagent.config import MqttConfig
from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox
from edgeagent.seq_mark import SeqMark, lost_range, remote_mark
from edgeagent.status_readback import READBACK_TIMEOUT_S, read_retained_status

log = logging.getLogger(__name__)


async def continue_seq(outbox: Outbox, mqtt: MqttConfig, home: str, clock: Clock,
                       *, readback_timeout: float = READBACK_TIMEOUT_S) -> Draft | None:
    """Move a lost outbox's numbering above every seq issued before; the event to store.

    Reads the broker's retained status only when the outbox is new or older than its
    mark file, and never longer than `readback_timeout`: a kit must start without a link.
    Whatever goes wrong here is logged; the agent starts regardless.
    """
    try:
        return await _continue_seq(outbox, mqtt, home, clock, readback_timeout)
    except Exception:
        log.exception("checking seq continuity failed; numbering goes on from %d",
                      outbox.last_seq + 1)
        return None


async def _continue_seq(outbox: Outbox, mqtt: MqttConfig, home: str, clock: Clock,
                        readback_timeout: float) -> Draft | None:
    local = outbox.earlier_mark
    behind = local is not None and outbox.last_seq < local.last_seq
    remote: SeqMark | None = None
    if outbox.fresh or behind:
        status = None
        with contextlib.suppress(TimeoutError):
            status = await asyncio.wait_for(
                asyncio.to_thread(read_retained_status, mqtt, home, readback_timeout),
                readback_timeout + 1.0)
        remote = remote_mark(status)
    acked = outbox.stats().last_delivered_seq
    missing = lost_range(fresh=outbox.fresh, last_seq=outbox.last_seq, last_acked_seq=acked,
                         marks=[local, remote])
    if missing is None:
        return None
    first, last = missing
    known = max(m.last_seq for m in (local, remote) if m is not None)
    outbox.continue_above(last)
    outbox.write_mark()
    log.critical("the outbox at %s is not the one that numbered events before (%s); "
                 "seq %d-%d may be missing at the platform; numbering continues at %d "
                 "(high-water mark: file %s, broker %s)", outbox.path,
                 "new file" if outbox.fresh else "older than its high-water mark",
                 first, last, last + 1, _seq(local), _seq(remote))
    return Draft(
        kind=Kind.STATUS, type="outbox_lost", severity=Severity.WARNING,
        source={"driver": "edgeagent", "device": "outbox"},
        mono=clock.monotonic(), wall=clock.wall(),
        data={"from_seq": first, "to_seq": last, "last_known_seq": known,
              "reason": "new outbox file" if outbox.fresh else "outbox older than its "
                        "seq high-water mark",
              "high_water_file": _seq(local), "high_water_broker": _seq(remote)},
    )


def _seq(mark: SeqMark | None) -> int | None:
    return None if mark is None else mark.high_water_seq


class OutboxFileWatch:
    """Notices the open outbox file vanishing or being replaced; says so once, loudly."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.problem: str | None = None

    def check(self) -> None:
        problem = self.outbox.file_problem()
        if problem == self.problem:
            return
        self.problem = problem
        if problem is None:
            log.warning("outbox file %s is in place again", self.outbox.path)
            return
        kept = self.outbox.write_mark()
        log.critical("%s. Seq high-water mark %d %s; restart the agent to continue in a new "
                     "outbox (it will not reuse a seq and will report the range that may be "
                     "missing)", problem, self.outbox.high_water_seq,
                     f"written to {self.outbox.mark_path}" if kept else "could NOT be written")

    def as_dict(self) -> dict[str, Any] | None:
        return None if self.problem is None else {"problem": self.problem}
