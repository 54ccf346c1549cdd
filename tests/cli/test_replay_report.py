"""`edgeagent replay` for a care manager: days, how long alerts stayed open, gaps, a picture."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest

from edgeagent.cli.main import main
from tests.heuristics.test_casas_and_replay import MAP, write_log

# Out of bed at 02:10 and then nothing at all until 10:00: a critical alert that stays
# open past the end of the night, and a silence of almost 8 h.
QUIET_NIGHT = """\
2026-03-02 22:30:00.000000 M_BED ON
2026-03-02 22:31:00.000000 MAT ON
2026-03-03 02:10:00.000000 MAT OFF
2026-03-03 02:11:00.000000 M_BATH ON
2026-03-03 10:00:00.000000 M_KITCHEN ON
2026-03-04 09:00:00.000000 M_KITCHEN ON
"""
ARGS = ["--timezone", "Europe/Amsterdam"]


def write_night(tmp_path: Path, text: str = QUIET_NIGHT) -> list[str]:
    (tmp_path / "night.txt").write_text(text)
    (tmp_path / "map.toml").write_text(MAP)
    return ["replay", str(tmp_path / "night.txt"), "--map", str(tmp_path / "map.toml"), *ARGS]


def test_text_is_grouped_by_day_with_how_long_each_alert_stayed_open(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, sensor_map = write_log(tmp_path)
    assert main(["replay", str(log), "--map", str(sensor_map), *ARGS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [
        "Mon 2026-03-02", "  no alerts", "Tue 2026-03-03",
        "  02:31  critical bed_exit_no_return  (bathroom)  -> 02:41  open 10 min"]
    assert lines[4].strip().startswith("out of bed since 02:10")
    assert lines[5].strip() == "resolved: motion in kitchen at 02:41"


def test_a_silence_longer_than_gap_hours_is_flagged_under_its_day(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = write_night(tmp_path)
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "!! no event 02:11 to 10:00 (7 h 49 min > 6 h)" in text
    assert "!! no event 10:00 to 03-04 09:00 (23 h 00 min > 6 h)" in text
    assert text.index("Tue 2026-03-03") < text.index("no event 02:11") < text.index(
        "Wed 2026-03-04")
    assert main([*args, "--gap-hours", "8"]) == 0
    text = capsys.readouterr().out
    assert "no event 02:11" not in text and "no event 10:00" in text


def test_gap_hours_out_of_range_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*write_night(tmp_path), "--gap-hours", "0"])
    assert exit_info.value.code == 2
    assert "--gap-hours" in capsys.readouterr().err


def test_an_alert_open_when_the_log_ends_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The log ends at 02:40 with the mat still empty: the 02:31 alert is never resolved.
    night = "\n".join(QUIET_NIGHT.splitlines()[:4]) + "\n2026-03-03 02:40:00.000000 MAT OFF\n"
    args = write_night(tmp_path, night)
    assert main([*args, "--json"]) == 0
    assert [a["state"] for a in json.loads(capsys.readouterr().out)["alerts"]] == ["raised"]
    assert main(args) == 0
    assert ("02:31  critical bed_exit_no_return  (bathroom)  -> still open when the log ends"
            in capsys.readouterr().out)


def test_json_output_keeps_its_fields_with_or_without_plot(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = write_night(tmp_path)
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"log", "format", "timezone", "alerts", "summary", "malformed"}
    assert {tuple(sorted(a)) for a in doc["alerts"]} == {
        ("alert_id", "local", "reason", "severity", "state", "ts", "type")}
    pytest.importorskip("matplotlib")
    assert main([*args, "--json", "--plot", str(tmp_path / "p.png")]) == 0
    assert json.loads(capsys.readouterr().out) == doc


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_plot_draws_a_row_per_day_and_the_critical_alert_in_red(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = pytest.importorskip("matplotlib.image")
    args = write_night(tmp_path)
    two_days, three_days = tmp_path / "two.png", tmp_path / "three.png"
    assert main([*args, "--plot", str(two_days)]) == 0
    night = QUIET_NIGHT + "2026-03-05 09:00:00.000000 M_KITCHEN ON\n"
    assert main([*write_night(tmp_path, night), "--plot", str(three_days)]) == 0
    assert f"wrote {three_days}" in capsys.readouterr().err
    (w2, h2), (w3, h3) = _png_size(two_days), _png_size(three_days)
    assert w2 == w3 and h3 > h2  # one more day, one more row
    pixels = image.imread(str(three_days))[:, :, :3]
    red = ((abs(pixels[:, :, 0] - 0xd6 / 255) < 0.02) & (abs(pixels[:, :, 1] - 0x27 / 255) < 0.02)
           & (abs(pixels[:, :, 2] - 0x28 / 255) < 0.02))
    assert red.sum() > 200  # the bed exit without return, open from 02:31 until 10:00


def test_plot_without_matplotlib_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    assert main([*write_night(tmp_path), "--plot", str(tmp_path / "p.png")]) == 2
    assert "pip install 'edgeagent[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()
