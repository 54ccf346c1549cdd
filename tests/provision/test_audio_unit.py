"""Sound access for the unit: a drop-in only while an [[outputs]] table plays sound."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeagent.cli.main import main
from edgeagent.provision.audio_unit import DROPIN_FILE
from edgeagent.provision.install import Installer, unit_source
from edgeagent.provision.system import RootSystem

EXE = "/opt/edgeagent/venv/bin/edgeagent"
ANALYZE = shutil.which("systemd-analyze")
CONFIG = "etc/edgeagent/edgeagent.toml"
VOICE = '[[outputs]]\ntype = "audio.speech"\nname = "voice"\n'
LIGHT = '[[outputs]]\ntype = "gpio.led"\nname = "call-light"\npin = 23\n'


def install(root: Path) -> list[str]:
    changes = Installer(RootSystem(root), executable=EXE).install()
    return [f"{c.action} {c.target}" for c in changes]


def test_the_sound_dropin_comes_with_a_speaking_output_and_goes_with_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(root)
    dropin = root / DROPIN_FILE.lstrip("/")
    assert not dropin.exists()                       # a mute kit gets no sound devices
    config = root / CONFIG
    base = config.read_text()
    config.write_text(base + LIGHT)
    install(root)
    assert not dropin.exists()                       # a light needs no sound either
    config.write_text(base + LIGHT + VOICE)
    done = install(root)
    text = dropin.read_text()
    assert "DeviceAllow=char-alsa rw" in text.splitlines()
    assert "SupplementaryGroups=audio" in text.splitlines()
    assert dropin.stat().st_mode & 0o777 == 0o644
    assert "update systemd" in done                  # daemon-reload after the change
    assert f"unchanged {DROPIN_FILE}" in install(root)
    config.write_text(base + LIGHT)                  # the speaker is taken out
    assert f"remove {DROPIN_FILE}" in install(root)
    assert not dropin.exists()


def test_a_bad_config_leaves_sound_access_alone_and_names_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    install(root)
    (root / CONFIG).write_text(VOICE.replace('name = "voice"', 'name = "voice"\nvolume = 3'))
    assert main(["--lang", "en", "install", "--root", str(root), "--executable", EXE]) == 0
    out = capsys.readouterr().out
    assert "outputs[0].volume" in out and "sound access left as it is" in out
    assert not (root / DROPIN_FILE.lstrip("/")).exists()


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed here")
def test_the_unit_with_the_sound_dropin_keeps_its_exposure(tmp_path: Path) -> None:
    """The drop-in merged into the unit (what systemd does) scores as the unit alone."""
    from edgeagent.provision.audio_unit import DROPIN_TEXT

    exe = Path(sys.executable).parent / "edgeagent"
    if not exe.exists():
        pytest.skip("no edgeagent console script beside this interpreter")
    unit = unit_source().replace("/usr/bin/edgeagent", str(exe))
    extra = [line for line in DROPIN_TEXT.splitlines()
             if line and not line.startswith(("#", "["))]
    merged = unit.replace("[Service]\n", "[Service]\n" + "\n".join(extra) + "\n", 1)
    scores = []
    for name, text in (("alone", unit), ("with-audio", merged)):
        path = tmp_path / name / "edgeagent.service"
        path.parent.mkdir()
        path.write_text(text)
        done = subprocess.run([ANALYZE, "security", "--offline=true", str(path)],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0 and "offline" in done.stderr:
            pytest.skip(f"this systemd-analyze has no --offline: {done.stderr.strip()}")
        match = re.search(r"Overall exposure level for edgeagent\.service: ([0-9.]+)",
                          done.stdout)
        assert match, done.stdout[-2000:] + done.stderr
        scores.append(float(match.group(1)))
    assert scores[1] <= scores[0] <= 1.5
