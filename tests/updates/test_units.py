"""systemd/edgeagent-updater.{service,path}: valid, and wired to what the CLI reads and writes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeagent.cli.main import build_parser
from edgeagent.updates.request import REQUEST

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
ANALYZE = shutil.which("systemd-analyze")


def test_the_path_unit_watches_the_request_the_updater_takes():
    path_unit = (SYSTEMD / "edgeagent-updater.path").read_text()
    service = (SYSTEMD / "edgeagent-updater.service").read_text()
    assert f"PathExists=/var/lib/edgeagent/{REQUEST}\n" in path_unit
    assert "Unit=edgeagent-updater.service\n" in path_unit
    exec_start = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    argv = exec_start.removeprefix("ExecStart=").split()
    assert argv[0] == "/opt/edgeagent/current/bin/edgeagent"
    args = build_parser().parse_args(argv[1:])
    assert args.func.__name__ == "cmd_run"
    assert args.request == Path(f"/var/lib/edgeagent/{REQUEST}")
    assert str(args.root) == "/opt/edgeagent"
    # Root (it restarts the agent and writes /opt), and no ordering that would deadlock
    # its own `systemctl restart edgeagent`.
    assert "User=" not in service and "Before=edgeagent.service" not in service
    assert "ReadWritePaths=/opt/edgeagent /var/lib/edgeagent\n" in service


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify_is_clean(tmp_path):
    exe = Path(sys.executable).parent / "edgeagent"
    if not exe.exists():
        pytest.skip("no edgeagent console script beside this interpreter")
    for name in ("edgeagent-updater.service", "edgeagent-updater.path"):
        text = (SYSTEMD / name).read_text().replace("/opt/edgeagent/current/bin/edgeagent",
                                                     str(exe))
        (tmp_path / name).write_text(text)
    done = subprocess.run([ANALYZE, "verify", str(tmp_path / "edgeagent-updater.path"),
                           str(tmp_path / "edgeagent-updater.service")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "edgeagent-updater" not in done.stderr, done.stderr


def test_the_updater_takes_health_time_socket_and_keys_from_the_kits_config(tmp_path):
    from edgeagent.cli.update import _from_config

    config = tmp_path / "edgeagent.toml"
    config.write_text('[control]\nsocket = "/run/x/control.sock"\n'
                      f'[updates]\nupdate_health_s = 45\nkeys_dir = "{tmp_path}/keys"\n')
    args = build_parser().parse_args(["update", "run", "--config", str(config)])
    _from_config(args)
    assert (args.health_s, args.socket, args.keys_dir) == (
        45.0, Path("/run/x/control.sock"), tmp_path / "keys")
    args = build_parser().parse_args(["update", "run", "--config", str(config),
                                      "--health-s", "200"])
    _from_config(args)
    assert args.health_s == 200.0
    args = build_parser().parse_args(["update", "run", "--config", str(tmp_path / "none")])
    _from_config(args)
    assert (args.health_s, args.socket) == (120.0, Path("/run/edgeagent/control.sock"))


def test_install_trusts_the_update_key_it_is_given_and_refuses_a_wrong_one(tmp_path):
    from edgeagent.provision.install import Installer, InstallError
    from edgeagent.provision.system import RootSystem
    from edgeagent.signing import keygen

    private, public = tmp_path / "release.key", tmp_path / "release.pub"
    keygen(private, public)
    root = tmp_path / "root"
    Installer(RootSystem(root), executable="/opt/edgeagent/current/bin/edgeagent",
              update_key=public).install()
    trusted = root / "etc/edgeagent/update-keys/release.pem"
    assert trusted.read_bytes() == public.read_bytes()
    assert trusted.stat().st_mode & 0o777 == 0o644
    assert (root / "etc/edgeagent/update-keys").stat().st_mode & 0o777 == 0o750
    for name in ("edgeagent-updater.service", "edgeagent-updater.path"):
        assert (root / "etc/systemd/system" / name).read_text() == (SYSTEMD / name).read_text()
    with pytest.raises(InstallError, match=r"not a PEM public key|not an Ed25519 public key"):
        Installer(RootSystem(root), update_key=private)
