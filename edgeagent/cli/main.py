"""`edgeagent` command line. Each command group lives in its own module with a `register()`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from edgeagent import __version__
from edgeagent.i18n import N_, _, check_language, ngettext, set_language

# Command modules, in help order. A module that is not installed is skipped, so a
# trimmed build still has a working CLI.
COMMAND_MODULES = (
    "edgeagent.cli.core_commands",
    "edgeagent.cli.status",
    "edgeagent.cli.demo",
    "edgeagent.cli.ble",
    "edgeagent.cli.replay",
    "edgeagent.cli.evaluate",
    "edgeagent.cli.doctor",
    "edgeagent.cli.diagnostics",
    "edgeagent.cli.walk_test",
    "edgeagent.cli.provision",
    "edgeagent.cli.update",
)

# Each top-level command, its module and its one-line help. Only the chosen command's
# module is imported (`--version`, `--help`, `status` stay fast on a Pi); a test keeps
# this table equal to what the modules register.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("edgeagent.cli.core_commands", N_("run the agent (systemd runs this)")),
    "config": ("edgeagent.cli.core_commands", N_("validate a config file")),
    "schema": ("edgeagent.cli.core_commands", N_("print the event JSON Schema")),
    "status": ("edgeagent.cli.status",
               N_("is the agent running: uptime, broker, outbox, drivers, alerts")),
    "demo": ("edgeagent.cli.demo", N_("simulated home, private mosquitto, accelerated clock")),
    "ble": ("edgeagent.cli.ble", N_("Bluetooth LE monitors: decode a payload, scan")),
    "replay": ("edgeagent.cli.replay", N_("run the safety heuristics over a recorded sensor log")),
    "evaluate": ("edgeagent.cli.evaluate",
                 N_("score the safety heuristics on a recorded home with injected falls")),
    "doctor": ("edgeagent.cli.doctor",
               N_("check everything: config, drivers, BLE, MQTT, clock, disk, service")),
    "watch": ("edgeagent.cli.diagnostics", N_("live readings and events from the running daemon")),
    "test-alarm": ("edgeagent.cli.diagnostics",
                   N_("send a test alert end to end and wait for the broker's PUBACK")),
    "outbox": ("edgeagent.cli.diagnostics", N_("the offline buffer: stats, export, purge")),
    "bundle": ("edgeagent.cli.diagnostics",
               N_("write a support bundle (secrets redacted) to send to support")),
    "walk-test": ("edgeagent.cli.walk_test",
                  N_("commissioning: tick every sensor, test alarms, acceptance report")),
    "install": ("edgeagent.cli.provision",
                N_("install user, directories and the systemd unit (root; idempotent)")),
    "uninstall": ("edgeagent.cli.provision",
                  N_("remove the unit; keep config and outbox unless --purge")),
    "identity": ("edgeagent.cli.provision", N_("the kit's TLS key and certificate")),
    "pair": ("edgeagent.cli.provision",
             N_("find a BLE health monitor, test it, add it to the config")),
    "update": ("edgeagent.cli.update", N_("signed update bundles: build, verify, apply")),
}


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv` (after the global options), or None."""
    words = iter(argv)
    for word in words:
        if word == "--lang":
            next(words, None)
        elif word in ("-h", "--help", "--version"):
            return None
        elif not word.startswith("-"):
            return word
    return None


def lang_in(argv: Sequence[str]) -> str | None:
    """The last valid `--lang X`/`--lang=X` anywhere in `argv` (argparse reports bad ones)."""
    found = None
    for index, word in enumerate(argv):
        if word == "--":
            break
        value = (argv[index + 1] if word == "--lang" and index + 1 < len(argv)
                 else word.partition("=")[2] if word.startswith("--lang=") else None)
        if value is not None:
            try:
                found = check_language(value)
            except ValueError:
                continue
    return found


def _register(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return
        raise
    module.register(sub)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The CLI parser; given `argv`, only the chosen command's module is imported."""
    _argparse_speaks_our_language()
    parser = argparse.ArgumentParser(
        prog="edgeagent",
        description=_("Edge agent for home smart-care kits: sensors, local safety heuristics, "
                      "a durable outbox, MQTT to the municipal platform."),
    )
    parser.add_argument("--version", action="version", version=f"edgeagent {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help=_("more log output (-vv for debug)"))
    parser.add_argument("--lang", type=_language, help=_(LANG_HELP))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None if argv is None else chosen_command(argv)
    if argv is not None and wanted is None:
        modules: tuple[str, ...] = ()  # --help, --version or nothing: no command module
    elif wanted in COMMANDS:
        modules = (COMMANDS[wanted][0],)
    else:
        modules = COMMAND_MODULES  # everything (argparse names an unknown command)
    for name in modules:
        _register(sub, name)
    for command, (_module, text) in COMMANDS.items():
        if command not in sub.choices:  # listed in --help; its module loads when chosen
            sub.add_parser(command, help=_(text))
    for command_parser in _subparsers(parser):
        _accept_lang(command_parser)
    for each in (parser, *_subparsers(parser)):
        _speak_the_language(each)
    return parser


# argparse's own sentences (headings, "usage: ", parse errors), listed so that the
# catalogs carry them; `_argparse_speaks_our_language` makes argparse look them up there.
ARGPARSE_MESSAGES = (
    N_("usage: "), N_("positional arguments"), N_("options"),
    N_("show this help message and exit"), N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("unrecognized arguments: %s"), N_("the following arguments are required: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    N_("can't open '%(filename)s': %(error)s"), N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"), N_("one of the arguments %s is required"),
    N_("expected one argument"), N_("expected at most one argument"),
    N_("expected at least one argument"), N_("expected %s argument"),
    N_("expected %s arguments"), N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("unexpected option string: %s"),
)


def _argparse_speaks_our_language() -> None:
    """argparse's own sentences through our catalog, so `--lang` reaches them too.

    argparse looks each one up, when it needs it, with the `gettext`/`ngettext` it
    imported from the process-wide gettext domain (which `--lang` cannot reach and
    no catalog of ours serves); pointing those two names at ours does. In English
    our catalog returns argparse's own words unchanged.
    """
    argparse._ = _  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


def _speak_the_language(parser: argparse.ArgumentParser) -> None:
    """`--version`'s help, the one argparse sentence it does not look up in gettext."""
    action = parser._option_string_actions.get("--version")
    if action is not None:
        action.help = _("show program's version number and exit")


LANG_HELP = N_("language of messages: zh_CN, en (default: $LANG)")


def _language(value: str) -> str:
    """`--lang`'s type: a shipped language, else argparse's usage error (exit 2)."""
    try:
        return check_language(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below `parser` (commands and their subcommands), depth first."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found.append(child)
                found.extend(_subparsers(child))
    return found


def _accept_lang(parser: argparse.ArgumentParser) -> None:
    """`--lang` after any (sub)command too; SUPPRESS keeps one given before it."""
    existing = parser._option_string_actions.get("--lang")
    if existing is None:
        parser.add_argument("--lang", type=_language, default=argparse.SUPPRESS,
                            help=_(LANG_HELP))
    elif existing.type is None:
        existing.type = _language


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * verbosity
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if os.environ.get("INVOCATION_ID"):  # under systemd: journald adds the time
        fmt = "%(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=max(level, logging.DEBUG), format=fmt, stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    set_language(lang_in(argv))  # before the parsers: their help is in this language
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_gone()
    return code


def _reader_gone() -> int:
    """The reader of our output left (`edgeagent replay ... | head`): stop quietly.

    Python would print a BrokenPipeError traceback, and another at exit when it
    flushes stdout; pointing stdout at /dev/null silences the second. 141 is what a
    shell reports for a process ended by SIGPIPE.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + 13


if __name__ == "__main__":
    sys.exit(main())
