"""`edgeagent doctor`: every check a technician needs, one line each, with what to do.

One module per check family (config, drivers, BLE, MQTT, system); the
runner calls them in order and never lets one crash the report. Exit code:
0 all pass, 1 any warn, 2 any fail. The same checks answer the remote
`doctor` command over MQTT, with the daemon's live health instead of
probing the hardware a second time.
"""

from __future__ import annotations

from .context import DoctorContext
from .render import render_json, render_text
from .result import EXIT_FAIL, EXIT_OK, EXIT_WARN, CheckResult, Report, Status
from .runner import run_doctor, run_doctor_for

__all__ = [
    "EXIT_FAIL", "EXIT_OK", "EXIT_WARN", "CheckResult", "DoctorContext", "Report", "Status",
    "render_json", "render_text", "run_doctor", "run_doctor_for",
]
