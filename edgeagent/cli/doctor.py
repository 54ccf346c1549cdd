"""`edgeagent doctor`: the header first, then every check.

A full doctor run takes seconds (BLE scans, serial listening, MQTT probes),
and loading the config model, the drivers and the MQTT client alone takes
most of a second on a Pi. So the text report's first line, naming the home
and the config file, is printed and flushed before any of that is imported:
the technician sees at once that doctor runs and on which config. Only this
module's light imports come before it; `--json` prints one document at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
import tomllib
from pathlib import Path

from edgeagent.config_path import CONFIG_HELP, resolve_config_path
from edgeagent.i18n import N_, _, untranslated

HELP = N_("check everything: config, drivers, BLE, MQTT, clock, disk, service")


def home_id(path: str) -> str | None:
    """`home.id` from the file as written (unvalidated: the checks validate it), else None."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    home = doc.get("home")
    value = home.get("id") if isinstance(home, dict) else None
    return value if isinstance(value, str) and value else None


def header(path: str | None) -> str:
    """The report's first line: which home and which config file doctor checks."""
    if path is None:
        return _("edgeagent doctor: built-in defaults (demo home), no config file")
    home = home_id(path)
    if home is None:
        return _("edgeagent doctor: config {path}").format(path=path)
    return _("edgeagent doctor: home {home}, config {path}").format(home=home, path=path)


def print_header(path: str | None) -> None:
    """Print and flush the header, wrapped on a narrow terminal (a phone's)."""
    text = header(path)
    if sys.stdout.isatty():
        columns = shutil.get_terminal_size().columns
        text = "\n".join(textwrap.wrap(text, max(20, columns), break_long_words=True,
                                       break_on_hyphens=False)) or text
    sys.stdout.write(text + "\n\n")
    sys.stdout.flush()


def cmd_doctor(args: argparse.Namespace) -> int:
    path = resolve_config_path(args.config)
    if not args.json:
        print_header(path)
    # The heavy part (config model, drivers, MQTT client) only after the header is out.
    from edgeagent.cli.diagnostics import run_doctor_command  # noqa: PLC0415

    if args.json:
        with untranslated():  # the JSON report is read by machines: English, like its codes
            return run_doctor_command(args, path)
    return run_doctor_command(args, path)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = sub.add_parser(
        "doctor", help=_(HELP),
        description=_("Run every check and print pass/warn/fail with a reason and a fix. "
                      "Asks the running daemon for live driver health over the control socket; "
                      "without a daemon, probes the hardware directly. "
                      "Exit 0 all pass, 1 any warning, 2 any failure."))
    doctor.add_argument("--config", "-c", help=_(CONFIG_HELP))
    doctor.add_argument("--socket", help=_("control socket (default: control.socket in the "
                                           "config)"))
    doctor.add_argument("--json", action="store_true", help=_("machine-readable report"))
    doctor.add_argument("--timeout", type=float, default=5.0, help=_("per network step (s)"))
    doctor.add_argument("--ble-scan-seconds", type=float, default=5.0,
                        help=_("how long to look for each BLE monitor (standalone only)"))
    doctor.add_argument("--serial-listen-seconds", type=float, default=3.0,
                        help=_("how long to wait for bytes from each serial port (standalone)"))
    doctor.add_argument("--no-network", action="store_true",
                        help=_("skip the active MQTT probes (DNS/TCP/TLS/auth/publish)"))
    doctor.set_defaults(func=cmd_doctor)


__all__ = ["register"]
