"""Doctor's report for people (aligned, coloured on a TTY) and for machines (JSON)."""

from __future__ import annotations

import json

from .result import Report, Status

COLOURS = {Status.PASS: "\033[32m", Status.WARN: "\033[33m", Status.FAIL: "\033[31m",
           Status.SKIP: "\033[2m"}
RESET = "\033[0m"


def render_text(report: Report, *, colour: bool) -> str:
    width = max((len(c.name) for c in report.checks), default=10)
    lines = []
    for check in report.checks:
        tag = f"{str(check.status).upper():4}"
        if colour:
            tag = f"{COLOURS[check.status]}{tag}{RESET}"
        lines.append(f"{tag}  {check.name:<{width}}  {check.reason}")
        if check.fix and check.status in (Status.WARN, Status.FAIL):
            lines.append(f"{'':4}  {'':<{width}}  -> {check.fix}")
    counts = report.summary()
    lines.append("")
    lines.append(f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail, "
                 f"{counts['skip']} skipped ({report.mode}); exit {report.exit_code}")
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str) + "\n"
