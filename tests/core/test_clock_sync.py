"""Clock sync state from timesyncd's flag, chrony and timedatectl: no adjtimex (ProtectClock).

The flag file is a temporary path; `chronyc` and `timedatectl` are small
stand-in scripts on PATH printing what the real tools print, and counting
how often they are run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeagent import clock_sync
from edgeagent.clock_sync import ClockSyncProbe

# `chronyc -n -c tracking` of a synchronised and an unsynchronised chronyd.
CHRONY_SYNCED = ("A29FC87B,162.159.200.123,3,1767225600.123456789,-0.000012345,0.000001,"
                 "0.000020,-2.345,0.001,0.050,0.012345,0.001234,1024.5,Normal\n")
CHRONY_UNSYNCED = ("00000000,0.0.0.0,0,0.000000000,0.000000000,0.000000000,0.000000000,"
                   "0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised\n")


class FakeTools:
    """A PATH holding only the stand-ins written so far; each logs its runs to a file."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.runs = tmp_path / "runs.log"
        monkeypatch.setenv("PATH", str(self.bin))

    def tool(self, name: str, stdout: str, code: int = 0) -> None:
        script = self.bin / name
        script.write_text(f"#!/bin/sh\necho \"{name} $*\" >> '{self.runs}'\n"
                          f"printf '%s' '{stdout}'\nexit {code}\n")
        script.chmod(0o755)

    def ran(self) -> list[str]:
        return self.runs.read_text().splitlines() if self.runs.exists() else []


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTools:
    return FakeTools(tmp_path, monkeypatch)


def test_timesyncd_flag_file_alone_decides_without_running_anything(tmp_path, tools):
    flag = tmp_path / "synchronized"
    tools.tool("timedatectl", "no\n")
    probe = ClockSyncProbe(flag)
    flag.touch()
    assert probe() is True and probe.source == "timesyncd"
    assert tools.ran() == []
    flag.unlink()
    assert probe() is False  # asks timedatectl now, which says no
    assert probe.source == "timedatectl"


@pytest.mark.parametrize(("stdout", "synced"), [(CHRONY_SYNCED, True),
                                                (CHRONY_UNSYNCED, False)])
def test_chrony_tracking_leap_status(tmp_path, tools, stdout, synced):
    tools.tool("chronyc", stdout)
    tools.tool("timedatectl", "yes\n" if not synced else "no\n")  # chrony answers first
    probe = ClockSyncProbe(tmp_path / "no-flag")
    assert probe() is synced
    assert probe.source == "chrony"
    assert tools.ran() == ["chronyc -n -c tracking"]


def test_chrony_not_answering_falls_back_to_timedatectl(tmp_path, tools):
    tools.tool("chronyc", "506 Cannot talk to daemon\n", code=1)
    tools.tool("timedatectl", "yes\n")
    probe = ClockSyncProbe(tmp_path / "no-flag")
    assert probe() is True and probe.source == "timedatectl"
    assert tools.ran() == ["chronyc -n -c tracking", "timedatectl show -p NTPSynchronized --value"]


@pytest.mark.parametrize(("stdout", "code", "synced"), [
    ("yes\n", 0, True), ("no\n", 0, False), ("", 1, False), ("maybe\n", 0, False)])
def test_timedatectl_ntp_synchronized(tmp_path, tools, stdout, code, synced):
    tools.tool("timedatectl", stdout, code)
    assert ClockSyncProbe(tmp_path / "no-flag")() is synced


def test_no_source_at_all_is_unsynced(tmp_path, tools):
    probe = ClockSyncProbe(tmp_path / "no-flag")
    assert probe() is False and probe.source == "none"


def test_commands_run_at_most_once_per_interval(tmp_path, tools):
    tools.tool("chronyc", CHRONY_UNSYNCED)
    now = [100.0]
    probe = ClockSyncProbe(tmp_path / "no-flag", command_interval=60, monotonic=lambda: now[0])
    for _ in range(5):
        assert probe() is False
        now[0] += 5
    assert len(tools.ran()) == 1
    tools.tool("chronyc", CHRONY_SYNCED)  # chronyd synchronises
    now[0] += 60
    assert probe() is True
    assert len(tools.ran()) == 2


def test_sync_state_module_does_not_use_adjtimex():
    """ProtectClock=yes filters adjtimex(): the agent's probe must not depend on it."""
    source = Path(clock_sync.__file__).read_text()
    assert "adjtimex" not in source.replace("`adjtimex()`", "")
    assert "ctypes" not in source
