"""`run`, `config check`, `schema`: the daemon and the contracts it keeps."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from edgeagent.config import AgentConfig, load_config, resolve_config_path
from edgeagent.config_lint import lint
from edgeagent.config_path import CONFIG_HELP
from edgeagent.errors import ConfigError, OutboxError, OutboxLocked, OutboxUnwritable
from edgeagent.i18n import _, untranslated
from edgeagent.secrets import strip_credentials

if TYPE_CHECKING:  # the daemon's modules load only for `run` (`config check` stays fast)
    from edgeagent.supervisor import Agent

log = logging.getLogger(__name__)
EXIT_CONFIG = 2
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: the outbox is busy (another agent, a held lock); retry later


def load_or_explain(path: str | None) -> AgentConfig | None:
    """The config, or None after printing the one-line reason (file, key, why)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print("edgeagent: " + _("config error: {reason}").format(reason=exc), file=sys.stderr)
        return None


async def run_agent(agent: Agent) -> None:
    import asyncio  # noqa: PLC0415
    import signal  # noqa: PLC0415

    from edgeagent.reload import install_sighup  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    install_sighup(loop, agent.reload_from_file)  # systemctl reload: edgeagent/reload.py
    await agent.run(stop)


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from edgeagent import instance_lock  # noqa: PLC0415
    from edgeagent.supervisor import Agent  # noqa: PLC0415

    if args.verbose == 0:
        logging.getLogger().setLevel(logging.INFO)
    config = load_or_explain(resolve_config_path(args.config))
    if config is None:
        return EXIT_CONFIG
    try:
        lock = instance_lock.hold_instance_lock(config.outbox.path,
                                                instance_lock.INSTANCE_WAIT_S)
        try:
            agent = Agent(config)
        except BaseException:
            lock.release()
            raise
    except ConfigError as exc:
        print("edgeagent: " + _("config error: {reason}").format(reason=exc), file=sys.stderr)
        return EXIT_CONFIG
    except OutboxUnwritable as exc:  # restarting cannot fix a file mode: the unit stops
        print(f"edgeagent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OutboxLocked as exc:  # another agent or a held lock: systemd tries again
        print(f"edgeagent: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL
    except OutboxError as exc:  # an I/O error at open: said plainly, the file untouched
        print(f"edgeagent: {exc}", file=sys.stderr)
        return 1
    with lock:
        asyncio.run(run_agent(agent))
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    path = args.path or resolve_config_path(args.config)
    shown = path or "<built-in defaults>"
    config = load_or_explain(path)
    if config is None:
        return EXIT_CONFIG
    if args.json:
        with untranslated():  # JSON is read by machines: English whatever --lang says
            findings = lint(config, path)
    else:
        findings = lint(config, path)
    failed = [f for f in findings if f.level != "warning"]
    summary: dict[str, Any] = {
        "file": shown, "home": config.home.id,
        "drivers": [f"{d.name} ({d.type})" for d in config.drivers],
        "brokers": [strip_credentials(url) for url in config.mqtt.urls],
        "warnings": [{"key": f.key, "reason": f.message} for f in findings
                     if f.level == "warning"],
        "failures": [{"key": f.key, "reason": f.message} for f in failed],
    }
    if args.json:
        print(json.dumps({"ok": not failed, **summary}, ensure_ascii=False))
    else:
        for finding in findings:
            label = _("WARN") if finding.level == "warning" else _("FAIL")
            print(f"{label} {finding.key}: {finding.message}")
        verdict = "FAIL" if failed else "OK"
        print(_("{file}: {verdict} — home {home}, {drivers} drivers, brokers {brokers}").format(
            file=shown, verdict=verdict, home=config.home.id, drivers=len(config.drivers),
            brokers=", ".join(summary["brokers"])))
    return EXIT_CONFIG if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    from edgeagent.schema.generate import render  # noqa: PLC0415

    sys.stdout.write(render())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help=_("run the agent (systemd runs this)"))
    run.add_argument("--config", "-c", help=_(CONFIG_HELP))
    run.set_defaults(func=cmd_run)

    config = sub.add_parser("config", help=_("validate a config file"))
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    check = config_sub.add_parser(
        "check", help=_("validate the config and lint it for commissioning; exit 2 naming the "
                        "key on error (warnings do not change the exit code)"))
    check.add_argument("path", nargs="?", help=_("config file (same as --config)"))
    check.add_argument("--config", "-c", help=_(CONFIG_HELP))
    check.add_argument("--json", action="store_true", help=_("one JSON document on stdout"))
    check.set_defaults(func=cmd_config_check)

    schema = sub.add_parser("schema", help=_("print the event JSON Schema"))
    schema.set_defaults(func=cmd_schema)
