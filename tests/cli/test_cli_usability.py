"""The CLI's edges: `--lang` anywhere, an unknown language refused, a closed pipe is no crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeagent import i18n
from edgeagent.cli.main import build_parser, main
from tests.heuristics.test_casas_and_replay import write_log


@pytest.fixture(autouse=True)
def english_afterwards() -> object:
    yield
    i18n.set_language("en")


@pytest.mark.parametrize("argv", [
    ["--lang", "zh_CN", "doctor"],
    ["doctor", "--lang", "zh_CN"],
    ["outbox", "stats", "--lang", "zh_CN"],
    ["config", "check", "--lang", "zh_CN"],
    ["install", "--lang", "zh_CN"],
])
def test_lang_is_accepted_before_or_after_any_command(argv: list[str]) -> None:
    args = build_parser(argv).parse_args(argv)
    assert args.lang == "zh_CN"


def test_lang_after_the_command_switches_the_messages(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(tmp_path / "missing.toml"), "--lang", "zh_CN"]) == 2
    assert "文件不存在" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--lang", "fr", "doctor"], ["doctor", "--lang", "fr"],
                                  ["outbox", "stats", "--lang", "zh_TW"]])
def test_an_unknown_language_is_a_usage_error_naming_the_accepted_ones(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown language" in err and "en, zh_CN" in err


@pytest.mark.parametrize("spelling", ["zh_CN.UTF-8", "zh-cn", "en_GB", "C"])
def test_locale_spellings_of_shipped_languages_are_accepted(spelling: str) -> None:
    assert i18n.check_language(spelling) == spelling


def test_a_reader_that_leaves_early_ends_replay_quietly(tmp_path: Path) -> None:
    log, sensor_map = write_log(tmp_path)
    log.write_text(log.read_text() * 200)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeagent.cli.main", "replay", str(log), "--map",
         str(sensor_map)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head` that has read all it wants: nobody reads any more
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_pair_without_bluetooth_says_so_and_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "edgeagent.toml"
    config.write_text('[home]\nid = "test-home-01"\n')
    no_bus = f"unix:path={tmp_path / 'no-system-bus'}"  # no D-Bus, hence no BlueZ
    proc = subprocess.run(
        [sys.executable, "-m", "edgeagent.cli.main", "pair", "-c", str(config),
         "--scan-timeout", "1"], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=no_bus, LANG="C"))
    assert proc.returncode == 1
    assert "Bluetooth is not available here" in proc.stderr
    assert "systemctl status bluetooth" in proc.stderr
    assert "Traceback" not in proc.stderr
