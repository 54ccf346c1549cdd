"""`edgeagent` command line. Each command group lives in its own module with a `register()`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from edgeagent import __version__

# Command modules, in help order. A module that is not installed is skipped, so a
# trimmed build still has a working CLI.
COMMAND_MODULES = (
    "edgeagent.cli.core_commands",
    "edgeagent.cli.demo",
    "edgeagent.cli.ble",
    "edgeagent.cli.replay",
    "edgeagent.cli.evaluate",
    "edgeagent.cli.diagnostics",
    "edgeagent.cli.provision",
    "edgeagent.cli.update",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeagent",
        description="Edge agent for home smart-care kits: sensors, local safety heuristics, "
                    "a durable outbox, MQTT to the municipal platform.",
    )
    parser.add_argument("--version", action="version", version=f"edgeagent {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    parser.add_argument("--lang", help="language of messages: zh_CN, en (default: $LANG)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * verbosity
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if os.environ.get("INVOCATION_ID"):  # under systemd: journald adds the time
        fmt = "%(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=max(level, logging.DEBUG), format=fmt, stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose)
    if args.lang:
        from edgeagent.provision.i18n import set_language  # noqa: PLC0415

        set_language(args.lang)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
