"""Doctor's report for people (aligned, coloured on a TTY) and for machines (JSON)."""

from __future__ import annotations

import json
import textwrap
import unicodedata

from edgeagent.i18n import N_, _

from .result import Report, Status

COLOURS = {Status.PASS: "\033[32m", Status.WARN: "\033[33m", Status.FAIL: "\033[31m",
           Status.SKIP: "\033[2m"}
RESET = "\033[0m"
TAGS = {Status.PASS: N_("PASS"), Status.WARN: N_("WARN"), Status.FAIL: N_("FAIL"),
        Status.SKIP: N_("SKIP")}


def _pad(text: str, width: int) -> str:
    """Left-align by terminal columns: a CJK character takes two."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - columns)


NARROW = 80  # columns: below this (a phone's terminal) each check's text goes under its name


def _wrapped(text: str, columns: int, indent: str) -> list[str]:
    return textwrap.wrap(text, max(20, columns - len(indent)), initial_indent=indent,
                         subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False) or [indent]


def render_text(report: Report, *, colour: bool, columns: int | None = None) -> str:
    """Aligned columns; on a terminal narrower than NARROW, name then wrapped text below."""
    width = max((len(c.name) for c in report.checks), default=10)
    narrow = columns is not None and columns < NARROW
    lines = []
    for check in report.checks:
        tag = _pad(_(TAGS[check.status]), 4)
        if colour:
            tag = f"{COLOURS[check.status]}{tag}{RESET}"
        show_fix = check.fix and check.status in (Status.WARN, Status.FAIL)
        if narrow:
            assert columns is not None
            lines.append(f"{tag}  {check.name}")
            lines += _wrapped(check.reason, columns, "      ")
            if show_fix:
                lines += _wrapped(f"-> {check.fix}", columns, "      ")
            continue
        lines.append(f"{tag}  {check.name:<{width}}  {check.reason}")
        if show_fix:
            lines.append(f"{'':4}  {'':<{width}}  -> {check.fix}")
    counts = report.summary()
    lines.append("")
    summary = _("{passed} pass, {warned} warn, {failed} fail, {skipped} skipped ({mode}); "
                "exit {code}").format(passed=counts["pass"], warned=counts["warn"],
                                      failed=counts["fail"], skipped=counts["skip"],
                                      mode=report.mode, code=report.exit_code)
    lines += _wrapped(summary, columns, "") if narrow and columns else [summary]
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str) + "\n"
