"""The user docs name only commands and config keys that exist.

A reader copies `edgeagent ...` lines and ```toml blocks out of the docs; a command the
CLI does not have, or a key the config refuses, is a broken promise. This walks every
user-facing page: each `edgeagent` command line in a code span or block must parse down
to a real (sub)command with real long options, and each key of a ```toml block, and each
`section.key` row of README's configuration reference, must be a field of the config
models (AgentConfig, HeuristicsSettings, each driver's and output's Options). The
evidence the docs cite (tests, bench scripts and their options) must exist too.
"""

from __future__ import annotations

import argparse
import re
import tomllib
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edgeagent.cli.main import build_parser
from edgeagent.config import AgentConfig
from edgeagent.driver import available_driver_types, load_driver_class
from edgeagent.output import available_output_types, load_output_class

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = sorted(
    [*ROOT.glob("docs/*.md"), ROOT / "README.md", ROOT / "systemd" / "README.md",
     *ROOT.glob("drivers/*/README.md")])

_CODE = re.compile(r"^```[^\n]*\n(.*?)^```|`([^`\n]+)`", re.S | re.M)
_COMMAND = re.compile(r"(?:^|(?<=[\s(=$\"']))edgeagent((?:[ \t]+[^\s|;&`)]+)+)", re.M)
_OR = "\u00a6"  # stands for a `|` between alternatives in a usage line
_TOML_BLOCK = re.compile(r"^```toml\n(.*?)^```", re.S | re.M)
# Words that end what the docs show of a command: a comment, an ellipsis, a redirect.
_STOP = re.compile(r"^(#|…|\.\.\.|>|<|2>|&&)")
# README's configuration reference: | `section.key` | default | meaning |
_REFERENCE_ROW = re.compile(r"^\| `([a-z_]+(?:\.[a-z_0-9]+)+)` \|", re.M)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _doc_commands() -> Iterator[tuple[str, list[str]]]:
    """(where, words after `edgeagent`) for every command line in the docs' code."""
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for code in _CODE.finditer(text):
            body = code.group(1) if code.group(1) is not None else code.group(2)
            # `a\|b` in a table cell is a choice between words, not a shell pipe.
            body = re.sub(r"\\\n\s*", " ", body).replace("\\|", _OR)
            for found in _COMMAND.finditer(body):
                words = []
                for word in found.group(1).split():
                    if _STOP.match(word):
                        break
                    words.append(word)
                if words:
                    where = f"{path.relative_to(ROOT)}:{_line(text, code.start())}"
                    yield where, words


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def command_problem(parser: argparse.ArgumentParser, words: list[str]) -> str | None:
    """Why `edgeagent <words>` is not a command of `parser`, or None if it is one."""
    path = ["edgeagent"]
    known = set(_options(parser))
    words = list(words)
    # Global options before the command (`edgeagent --lang zh_CN doctor`).
    while words and words[0].startswith("-"):
        flag = words.pop(0).strip("[]").split("=")[0]
        if flag not in known:
            return f"edgeagent has no global option {flag}"
        if flag == "--lang" and words:
            words.pop(0)
    current = parser
    while words and _subparsers(current):
        choices = _subparsers(current)
        word = words[0]
        if word.startswith(("-", "[")) or word.isupper():
            break  # an option or a placeholder: the group's own parser takes it
        alternatives = [alt.strip("[]") for alt in word.split(_OR)]
        for alt in alternatives:
            if alt not in choices:
                return f"{' '.join(path)} has no subcommand {alt!r} (has: {', '.join(choices)})"
        words.pop(0)
        path.append(word.replace(_OR, "|"))
        for alt in alternatives:
            known |= _options(choices[alt])
        if len(alternatives) > 1:
            # `outbox stats|export [--since SEQ]|purge --delivered`: the later choices
            # follow a `|`; options are checked against all of them.
            later = [part.strip("[]") for word in words for part in word.split(_OR)[1:]]
            for alt in later:
                if re.fullmatch(r"[a-z][a-z-]*", alt):
                    if alt not in choices:
                        return f"{' '.join(path)} has no subcommand {alt!r}"
                    known |= _options(choices[alt])
            break
        current = choices[word]
    for word in words:
        for part in word.split(_OR):
            flag = part.strip("[](),").split("=")[0]
            if flag.startswith("--") and len(flag) > 2 and flag not in known:
                return f"{' '.join(path)} has no option {flag}"
    return None


def test_every_edgeagent_command_the_docs_name_exists_in_the_cli() -> None:
    parser = build_parser()
    problems = [f"{where}: `edgeagent {' '.join(words)}`: {problem}"
                for where, words in _doc_commands()
                if (problem := command_problem(parser, words))]
    assert not problems, "\n".join(problems)


def test_the_command_scan_sees_the_docs_and_catches_a_false_command() -> None:
    parser = build_parser()
    named = {" ".join(words[:n]) for _where, words in _doc_commands() for n in (1, 2)}
    assert {"outbox stats", "doctor", "run", "update apply"} <= named
    assert len(list(_doc_commands())) >= 30
    assert command_problem(parser, ["outbox", "stats"]) is None
    assert command_problem(parser, ["--lang", "zh_CN", "doctor", "--json"]) is None
    assert command_problem(parser, ["outbox", "shred"]) is not None
    assert command_problem(parser, ["doctor", "--frobnicate"]) is not None
    assert command_problem(parser, ["teleport"]) is not None
    assert command_problem(parser, ["outbox", f"stats{_OR}export", "[--since", "SEQ]"]) is None
    assert command_problem(parser, ["outbox", f"stats{_OR}shred"]) is not None
    assert command_problem(parser, ["outbox", f"stats{_OR}export", f"SEQ]{_OR}shred"]) is not None


# --- config keys -------------------------------------------------------------------


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (directly, optionally, or as list items)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            model = _model_in(arg)
            if model is not None:
                return model
    return None


def key_problems(model: type[BaseModel], table: dict[str, Any], where: str) -> list[str]:
    """Keys of `table` that `model` does not have, searched down nested models."""
    problems = []
    fields = model.model_fields
    names = set(fields) | {f.alias for f in fields.values() if f.alias}
    for key, value in table.items():
        if key not in names:
            problems.append(f"{where}.{key}: not a key of {model.__name__}")
            continue
        field = fields.get(key) or next(f for f in fields.values() if f.alias == key)
        inner = _model_in(field.annotation)
        if inner is None:
            continue
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if isinstance(item, dict):
                at = f"{where}.{key}" + (f"[{index}]" if isinstance(value, list) else "")
                problems += key_problems(inner, item, at)
    return problems


def _typed_tables(kind: str, tables: list[Any], where: str) -> list[str]:
    problems = []
    for index, table in enumerate(tables):
        at = f"{where}.{kind}[{index}]"
        try:
            cls = (load_driver_class if kind == "drivers" else load_output_class)(table["type"])
        except Exception as exc:  # an unknown type: its message is the finding
            problems.append(f"{at}: {exc}")
            continue
        problems += key_problems(cls.Options, table, at)
    return problems


def config_problems(document: dict[str, Any], where: str) -> list[str]:
    """Keys of a config document (as the docs show it) the config would refuse."""
    sections = {k: v for k, v in document.items() if k not in ("drivers", "outputs")}
    problems = key_problems(AgentConfig, sections, where)
    for kind in ("drivers", "outputs"):
        problems += _typed_tables(kind, document.get(kind, []), where)
    return problems


def _toml_blocks() -> Iterator[tuple[str, str]]:
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for block in _TOML_BLOCK.finditer(text):
            yield f"{path.relative_to(ROOT)}:{_line(text, block.start())}", block.group(1)


def _is_keys_file(document: dict[str, Any]) -> bool:
    """The BLE bind-keys file (`[devices."MAC"] key = ...`), not the agent's config."""
    return set(document) == {"devices"}


def test_every_toml_block_in_the_docs_is_valid_toml() -> None:
    problems = []
    for where, body in _toml_blocks():
        try:
            tomllib.loads(body)
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{where}: {exc}")
    assert not problems, "\n".join(problems)


def test_every_config_key_in_a_docs_toml_block_is_accepted_by_the_config() -> None:
    problems = []
    checked = 0
    for where, body in _toml_blocks():
        document = tomllib.loads(body)
        if _is_keys_file(document):
            continue
        checked += 1
        problems += config_problems(document, where)
    assert checked >= 5
    assert not problems, "\n".join(problems)


def test_every_key_of_the_readme_configuration_reference_exists() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    keys = _REFERENCE_ROW.findall(text)
    assert len(keys) >= 20
    problems = []
    for key in keys:
        *sections, leaf = key.split(".")
        document: dict[str, Any] = {leaf: "?"}
        for section in reversed(sections):
            document = {section: document}
        problems += key_problems(AgentConfig, document, "README.md")
    assert not problems, "\n".join(problems)


def test_the_key_check_refuses_a_misspelt_key() -> None:
    assert config_problems({"mqtt": {"max_inflight": 64}}, "x") == []
    assert config_problems({"mqtt": {"max_in_flight": 64}}, "x")
    assert config_problems({"heuristics": {"no_such_rule_setting": 1}}, "x")
    assert config_problems({"drivers": [{"type": "mock.stress", "name": "s", "rate": 1}]}, "x")
    assert config_problems({"drivers": [{"type": "no.such.driver", "name": "s"}]}, "x")


# --- evidence the docs cite ---------------------------------------------------------

_TEST_REF = re.compile(r"((?:tests/[\w/]+/)?(test_\w+\.py))(?:::(test_\w+))?")
_BENCH_REF = re.compile(r"(bench/\w+\.py)((?:[ \t]+--?[\w-]+(?:[ \t]+[^\s`|\\-][^\s`|]*)?)*)")


def _doc_texts() -> Iterator[tuple[str, str]]:
    for path in DOC_FILES:
        yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")


def test_every_test_the_docs_cite_as_evidence_exists() -> None:
    """A cited test may be shortened to a prefix of its name, never point at nothing."""
    by_name: dict[str, list[Path]] = {}
    for found in (ROOT / "tests").rglob("test_*.py"):
        by_name.setdefault(found.name, []).append(found)
    problems = []
    cited = 0
    for where, text in _doc_texts():
        for ref in _TEST_REF.finditer(text):
            path, name, test = ref.groups()
            cited += 1
            files = [ROOT / path] if path.startswith("tests/") else by_name.get(name, [])
            files = [f for f in files if f.exists()]
            if not files:
                problems.append(f"{where}: {path}: no such test file")
            elif test and not any(re.search(rf"def {test}\w*\(", f.read_text(encoding="utf-8"))
                                  for f in files):
                problems.append(f"{where}: {path}::{test}: no such test")
    assert cited >= 50
    assert not problems, "\n".join(problems)


def test_every_bench_script_and_flag_the_docs_name_exists() -> None:
    problems = []
    named = 0
    for where, text in _doc_texts():
        for ref in _BENCH_REF.finditer(text):
            script = ROOT / ref.group(1)
            named += 1
            if not script.exists():
                problems.append(f"{where}: {ref.group(1)}: no such script")
                continue
            source = script.read_text(encoding="utf-8")
            for flag in re.findall(r"(?<![\w-])--[\w-]+", ref.group(2)):
                if f'"{flag}"' not in source:
                    problems.append(f"{where}: {ref.group(1)} {flag}: no such option")
    assert named >= 10
    assert not problems, "\n".join(problems)


def _all_option_names() -> set[str]:
    """Every key any config section, driver or output accepts (nested models included)."""
    names: set[str] = set()
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            names.add(field.alias or name)
            inner = _model_in(field.annotation)
            if inner is not None:
                walk(inner)

    walk(AgentConfig)
    for type_name in available_driver_types():
        walk(load_driver_class(type_name).Options)
    for type_name in available_output_types():
        walk(load_output_class(type_name).Options)
    return names


def test_every_key_of_an_options_table_in_the_docs_is_accepted_somewhere() -> None:
    """Tables headed `key` (the drivers' READMEs, ble.md, environment.md): each key must
    be a field of some config, driver or output model, so a misspelt one fails here."""
    known = _all_option_names()
    problems = []
    checked = 0
    for where, text in _doc_texts():
        lines = text.splitlines()
        header = None
        for index, line in enumerate(lines):
            if not line.startswith("|"):
                header = None
                continue
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if re.fullmatch(r"\|[-| :]+\|", following):
                header = line.split("|")[1].strip().lower()
                continue
            if header != "key":
                continue
            for key in re.findall(r"`([a-z_][a-z_0-9.]*)`", line.split("|")[1]):
                checked += 1
                if key.rpartition(".")[2] not in known:
                    problems.append(f"{where}:{index + 1}: `{key}` is no config, driver "
                                    "or output key")
    assert checked >= 50
    assert not problems, "\n".join(problems)
