"""Every option has help; every example the `--help` texts and README show works.

Examples in help texts are `edgeagent ...` lines and `e.g. VALUE` hints. Each
line must parse in full; those that need no hardware, network or root are run
and must exit 0. Each `e.g.` value must be accepted by its option's type and
choices. README's command examples parse the same way (its `PATH` placeholder
stands for the example config, which `config check` then validates for real).
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeagent.cli.main import build_parser, main
from tests.core.test_docs_truth import _doc_commands

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_LINE = re.compile(r"^\s+(edgeagent [^#\n]*?)\s*(?:#.*)?$", re.M)
EG = re.compile(r"\be\.g\.\s+(\"[^\"]+\"|[^\s,;)]+)")
# Commands an example may be run with here: no hardware, network, root or daemon.
SAFE_TO_RUN = (("ble", "decode"), ("ble", "decode-advert"), ("schema",), ("config", "check"))
PLACEHOLDERS = {"PATH": str(ROOT / "examples" / "edgeagent.toml")}


def all_parsers() -> Iterator[tuple[list[str], argparse.ArgumentParser]]:
    """(command path, parser) for the top level and every (sub)command."""
    def walk(parser: argparse.ArgumentParser, path: list[str]) -> Iterator[
            tuple[list[str], argparse.ArgumentParser]]:
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                seen: set[int] = set()
                for name, child in action.choices.items():
                    if id(child) not in seen:  # aliases share a parser
                        seen.add(id(child))
                        yield from walk(child, [*path, name])
    yield from walk(build_parser(["every-command"]), [])


def help_examples() -> list[tuple[str, list[str]]]:
    found = []
    for path, parser in all_parsers():
        for line in EXAMPLE_LINE.findall(parser.format_help()):
            words = shlex.split(line)[1:]
            if words[: len(path)] == path and len(words) > len(path):
                found.append((" ".join(path), words))
    return found


def run_or_parse(words: list[str]) -> int:
    """Exit code of running `words` if safe, else 0 once argparse took every word."""
    if any(tuple(words[: len(safe)]) == safe for safe in SAFE_TO_RUN):
        return main(words)
    build_parser(words).parse_args(words)  # SystemExit(2) on anything it refuses
    return 0


def test_every_option_and_argument_has_help() -> None:
    missing = [f"edgeagent {' '.join(path)} {'/'.join(a.option_strings) or a.dest}"
               for path, parser in all_parsers() for a in parser._actions
               if not isinstance(a, (argparse._HelpAction, argparse._VersionAction,
                                     argparse._SubParsersAction))
               and not a.help]
    assert missing == []


def test_help_texts_show_examples() -> None:
    assert ("ble decode", ["ble", "decode", "2a37", "0648"]) in help_examples()


@pytest.mark.parametrize(("where", "words"), help_examples(),
                         ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_every_example_in_a_help_text_works(where: str, words: list[str]) -> None:
    assert run_or_parse(words) == 0, f"`edgeagent {' '.join(words)}` from `{where} --help`"


def test_every_e_g_value_in_a_help_text_is_accepted_by_its_option() -> None:
    checked, refused = 0, []
    for path, parser in all_parsers():
        for action in parser._actions:
            for value in EG.findall(action.help or ""):
                value = value.strip('"')
                if not action.option_strings and not action.metavar and action.nargs == 0:
                    continue
                checked += 1
                try:
                    converted = action.type(value) if callable(action.type) else value
                except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
                    refused.append(f"{' '.join(path)} {action.dest}={value}: {exc}")
                    continue
                if action.choices is not None and converted not in action.choices:
                    refused.append(f"{' '.join(path)} {action.dest}={value}: not a choice")
    assert checked >= 3
    assert refused == []


def readme_examples() -> list[tuple[str, list[str]]]:
    return [(where, [PLACEHOLDERS.get(w, w) for w in words])
            for where, words in _doc_commands() if where.startswith("README.md")]


def test_readme_shows_command_examples() -> None:
    assert ["config", "check", PLACEHOLDERS["PATH"]] in [w for _, w in readme_examples()]


@pytest.mark.parametrize(("where", "words"), readme_examples(),
                         ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_every_command_example_in_the_readme_works(
        where: str, words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_or_parse(words) == 0, f"{where}: `edgeagent {' '.join(words)}`"
    capsys.readouterr()


def test_a_broken_example_is_caught() -> None:
    assert run_or_parse(["ble", "decode", "2a37", "0e4800"]) != 0  # the old example
    with pytest.raises(SystemExit):
        run_or_parse(["doctor", "--no-such-option"])
