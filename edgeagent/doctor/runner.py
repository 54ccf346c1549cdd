"""Run every check family in order and collect one report. A check never crashes doctor."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edgeagent.config import AgentConfig
from edgeagent.i18n import _

from .ble_checks import check_ble
from .config_checks import check_config, check_secret_files
from .context import DoctorContext
from .driver_checks import check_drivers_live, check_drivers_standalone
from .mqtt_checks import check_mqtt
from .output_checks import check_outputs_live, check_outputs_standalone
from .result import CheckResult, Report, fail
from .system_checks import (
    check_clock,
    check_daemon,
    check_disk,
    check_outbox,
    check_systemd,
    check_version,
)

log = logging.getLogger(__name__)


def _guard(report: Report, family: str, fn: Callable[[], CheckResult | list[CheckResult]],
           env: DoctorContext) -> None:
    env.progress(_("checking {family}").format(family=family))
    try:
        report.add(fn())
    except Exception as exc:
        log.exception("doctor check %s crashed", family)
        report.add(fail(f"{family}.internal", _("the check itself failed: {error}: {exc}")
                        .format(error=type(exc).__name__, exc=exc),
                        _("please report this with a bundle")))


def run_doctor(config_path: str | None, env: DoctorContext | None = None) -> Report:
    """Standalone or CLI doctor: load the config from `config_path` and check everything."""
    env = env or DoctorContext()
    report = Report(mode="daemon" if env.live is not None else "standalone")
    report.add(check_version(env))
    results, config = check_config(config_path)
    report.add(results)
    if config is None:
        return report
    _run_families(report, config, env)
    return report


def run_doctor_for(config: AgentConfig, env: DoctorContext) -> Report:
    """Doctor on an already-loaded config (the daemon's remote `doctor` command)."""
    report = Report(mode="daemon" if env.live is not None else "standalone")
    report.add(check_version(env))
    report.add(check_secret_files(config))
    _run_families(report, config, env)
    return report


def _run_families(report: Report, config: AgentConfig, env: DoctorContext) -> None:
    _guard(report, "agent.daemon", lambda: check_daemon(env), env)
    live: dict[str, Any] | None = env.live
    if live is not None:
        _guard(report, "driver", lambda: check_drivers_live(config, live), env)
        _guard(report, "output", lambda: check_outputs_live(config, live), env)
    else:
        _guard(report, "driver",
               lambda: check_drivers_standalone(config, env.serial_listen_seconds), env)
        _guard(report, "ble", lambda: check_ble(config, env), env)
        _guard(report, "output", lambda: check_outputs_standalone(config), env)
    _guard(report, "mqtt", lambda: check_mqtt(config, env), env)
    _guard(report, "clock", lambda: check_clock(env), env)
    _guard(report, "outbox.disk", lambda: check_disk(config, env), env)
    _guard(report, "outbox", lambda: check_outbox(config, env), env)
    _guard(report, "systemd", lambda: check_systemd(env), env)
