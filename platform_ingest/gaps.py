"""Per-home `seq` bookkeeping, pure: the contiguous watermark, the gaps above it, backoff.

A home's events may arrive out of order (alerts drain first after an outage), so a
missing seq is a gap only once it has stayed missing for `gap_grace_s`; then the
platform asks the agent to `resend` it, less often each time it stays open.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_SEQS_PER_ASK = 10_000  # the agent's limit per `resend` command
MAX_RANGES_PER_ASK = 100  # keeps the command well under the agent's 4 KiB payload limit
BACKOFF_CAP = 8  # the n-th ask waits gap_grace_s * 2 ** min(n, BACKOFF_CAP)

Range = tuple[int, int]


def advance(watermark: int, present: Iterable[int],
            lost: Iterable[Range]) -> tuple[int, list[Range]]:
    """The new watermark and the missing ranges above it.

    `present` are stored seqs above `watermark`; `lost` ranges (the agent said it
    cannot answer them) count as settled, so the watermark moves past them.
    """
    runs: list[Range] = []
    for seq in sorted(set(present)):
        if seq <= watermark:
            continue
        if runs and seq == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    runs.extend((max(low, watermark + 1), high) for low, high in lost if high > watermark)
    merged: list[Range] = []
    for low, high in sorted(runs):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    mark = settled_to = watermark
    gaps: list[Range] = []
    for low, high in merged:
        if low > settled_to + 1:
            gaps.append((settled_to + 1, low - 1))
        elif not gaps:
            mark = high  # contiguous with the watermark
        settled_to = high
    return mark, gaps


def next_ask_delay(gap_grace_s: float, attempts: int) -> float:
    """Seconds before asking again after `attempts` asks of the same gap."""
    return float(gap_grace_s * 2 ** min(attempts, BACKOFF_CAP))


def limit_ask(ranges: list[Range]) -> list[Range]:
    """The first ranges (cut if need be) that fit one `resend` command."""
    out: list[Range] = []
    budget = MAX_SEQS_PER_ASK
    for low, asked_high in ranges[:MAX_RANGES_PER_ASK]:
        if budget <= 0:
            break
        high = min(asked_high, low + budget - 1)
        out.append((low, high))
        budget -= high - low + 1
    return out


def overlaps(a: Range, b: Range) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]
