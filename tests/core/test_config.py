"""A bad config names the file, the key and the reason, and exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeagent.cli.main import main
from edgeagent.config import load_config
from edgeagent.errors import ConfigError
from edgeagent.schema.generate import SHIPPED, render


def check(path: Path) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "edgeagent.cli.main", "config", "check",
                           str(path)], capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr + proc.stdout


@pytest.mark.parametrize(("text", "key", "reason"), [
    ('[mqtt]\nkeepalive = "often"\n', "mqtt.keepalive", "must be an integer"),
    ('[home]\nid = "h"\ntimezon = "UTC"\n', "home.timezon", "unknown key"),
    ('[home]\ntimezone = "Mars/Olympus"\n', "home.timezone", "unknown time zone"),
    ('[mqtt]\nurls = ["http://x"]\n', "mqtt.urls", "scheme"),
    ('[[drivers]]\ntype = "mock.stress"\nname = "s"\nrate_hz = "fast"\n',
     "drivers[0].rate_hz", "must be a number"),
    ('[[drivers]]\ntype = "no.such"\nname = "s"\n', "drivers[0].type", "unknown driver type"),
    ('[[drivers]]\ntype = "mock.stress"\n', "drivers[0].name", "missing"),
    ('[[drivers]]\ntype = "mock.stress"\nname = "a"\n[[drivers]]\ntype = "mock.stress"\n'
     'name = "a"\n', "drivers[1].name", "already used"),
    ("[home\n", "", "not valid TOML"),
    # Hostile numbers and text: each refused naming the key, never a traceback.
    ("x = " + "[" * 5000 + "]" * 5000 + "\n", "", "nested too deeply"),
    ("[outbox]\nretention_hours = 1e308\n", "outbox.retention_hours", "out of range"),
    ("[mqtt]\nsession_expiry = 1" + "0" * 400 + "\n", "mqtt.session_expiry", "401 digits"),
    ("[heuristics]\nsettle_minutes = inf\n", "heuristics.settle_minutes", "finite"),
    ("[heuristics]\nmat_stuck_hours = 1e6\n", "heuristics.mat_stuck_hours", "out of range"),
    ('[[drivers]]\ntype = "mock.stress"\nname = "s"\nwatchdog_s = 1e11\n',
     "drivers[0].watchdog_s", "out of range"),
    ('[mqtt]\ntopic_prefix = "care\\u0000x"\n', "mqtt.topic_prefix", "pattern"),
    ('[mqtt]\ntopic_prefix = "care\\nx"\n', "mqtt.topic_prefix", "pattern"),
    ('[home]\nid = "h1\\u0000"\n', "home.id", "pattern"),
])
def test_bad_config_names_key_and_reason(tmp_path, text, key, reason):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert reason in info.value.reason
    code, output = check(path)
    assert code == 2
    assert str(path) in output and key in output and "Traceback" not in output


def test_missing_file_exit_2(tmp_path, capsys):
    assert main(["config", "check", str(tmp_path / "nope.toml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_run_with_bad_config_exits_2_without_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[outbox]\nmax_bytes = -1\n')
    proc = subprocess.run([sys.executable, "-m", "edgeagent.cli.main", "run", "--config",
                           str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "outbox.max_bytes" in proc.stderr and "Traceback" not in proc.stderr


def test_good_config_passes_and_reports(tmp_path, capsys):
    path = tmp_path / "ok.toml"
    path.write_text('[home]\nid = "sh-0042"\n[[drivers]]\ntype = "mock.stress"\nname = "s"\n')
    assert main(["config", "check", "--json", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["home"] == "sh-0042" and out["drivers"] == ["s (mock.stress)"]


def test_example_configs_are_valid():
    examples = sorted(Path(__file__).parents[2].joinpath("examples").glob("*.toml"))
    assert examples, "examples/ should hold at least one config"
    for path in examples:
        load_config(path)


def test_shipped_schema_matches_models(capsys):
    assert SHIPPED.read_text() == render(), "run: edgeagent schema > " + str(SHIPPED)
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "edgeagent event v1"


def test_secret_readable_by_others_is_refused(tmp_path):
    from edgeagent.secrets import read_secret

    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    secret.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        read_secret(secret, "mqtt.password_file")
    assert "chmod 600" in str(info.value) and "hunter2" not in str(info.value)
    secret.chmod(0o600)
    assert read_secret(secret, "mqtt.password_file") == "hunter2"


def test_run_refuses_world_readable_password_file(tmp_path):
    secret = tmp_path / "mqtt.pw"
    secret.write_text("s3cr3t-planted\n")
    secret.chmod(0o644)
    path = tmp_path / "agent.toml"
    path.write_text(f'[mqtt]\nusername = "home-1"\npassword_file = "{secret}"\n'
                    f'[outbox]\npath = "{tmp_path}/outbox.db"\n')
    proc = subprocess.run([sys.executable, "-m", "edgeagent.cli.main", "run", "--config",
                           str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "mqtt.password_file" in proc.stderr and "chmod 600" in proc.stderr
    assert "s3cr3t-planted" not in proc.stderr + proc.stdout
    assert not (tmp_path / "outbox.db").exists()


def test_config_errors_speak_the_technicians_language(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[home]\nid = "h"\ntimezon = "UTC"\n')
    proc = subprocess.run([sys.executable, "-m", "edgeagent.cli.main", "--lang", "zh_CN",
                           "config", "check", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "配置错误" in proc.stderr and "未知的配置项" in proc.stderr
    assert "home.timezon" in proc.stderr  # the key path stays as written in the file


def test_numbers_at_their_ceiling_are_accepted(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text("[outbox]\nretention_hours = 87600\nmax_bytes = 1_000_000_000_000\n"
                    "[heuristics]\nsettle_minutes = 5256000\n")
    config = load_config(path)
    assert config.outbox.retention_hours == 87_600


def test_symlinked_outbox_is_refused_and_the_other_database_untouched(tmp_path):
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE patients (name TEXT)")
    before = other.read_bytes()
    (tmp_path / "outbox.db").symlink_to(other)
    path = tmp_path / "agent.toml"
    path.write_text(f'[outbox]\npath = "{tmp_path}/outbox.db"\n')
    proc = subprocess.run([sys.executable, "-m", "edgeagent.cli.main", "run", "--config",
                           str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "outbox.path" in proc.stderr and "symbolic link" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert other.read_bytes() == before


def test_driver_types_are_looked_up_once_each_and_the_count_is_capped(monkeypatch):
    """Looking a type up scans every installed package; 20 000 drivers took 92 s."""
    import edgeagent.config as config_module
    from edgeagent.config import MAX_DRIVERS, parse_config

    lookups: list[str] = []
    real = config_module.load_driver_class

    def counting(type_name: str):
        lookups.append(type_name)
        return real(type_name)

    monkeypatch.setattr(config_module, "load_driver_class", counting)
    many = [{"type": "mock.stress" if i % 2 else "mock.home", "name": f"d{i}"}
            for i in range(MAX_DRIVERS)]
    assert len(parse_config({"drivers": many}).drivers) == MAX_DRIVERS
    assert sorted(lookups) == ["mock.home", "mock.stress"]
    too_many = [*many, {"type": "mock.stress", "name": "one-more"}]
    with pytest.raises(ConfigError) as info:
        parse_config({"drivers": too_many})
    assert info.value.key == "drivers" and f"at most {MAX_DRIVERS}" in info.value.reason
