"""`edgeagent install --root DIR`: every file's owner, mode and content; idempotent; reversible."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from edgeagent.cli.main import main
from edgeagent.config import parse_config
from edgeagent.provision import install as inst
from edgeagent.provision.install import Installer, render_unit, template_names, unit_source
from edgeagent.provision.system import RootSystem, wanted_by

EXE = "/opt/edgeagent/venv/bin/edgeagent"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="ownership needs root (chown)")


def ids(root: Path) -> tuple[dict[str, int], dict[str, int]]:
    users = {line.split(":")[0]: int(line.split(":")[2])
             for line in (root / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0]: int(line.split(":")[2])
              for line in (root / "etc/group").read_text().splitlines()}
    users["root"], groups["root"] = 0, 0
    return users, groups


def tree(root: Path) -> dict[str, tuple[int, int, int, bytes | str, int]]:
    """Everything under root: mode, uid, gid, content (or link target), mtime."""
    out: dict[str, tuple[int, int, int, bytes | str, int]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            content: bytes | str = os.readlink(path)
        elif path.is_file():
            content = path.read_bytes()
        else:
            content = "<dir>"
        out["/" + str(path.relative_to(root))] = (st.st_mode & 0o7777, st.st_uid, st.st_gid,
                                                  content, st.st_mtime_ns)
    return out


def install(root: Path, **kwargs: object) -> list[inst.Change]:
    return Installer(RootSystem(root), executable=EXE, **kwargs).install()  # type: ignore[arg-type]


@as_root
def test_install_creates_each_file_with_its_owner_mode_and_content(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(root, home="sh-pudong-0042")
    users, groups = ids(root)
    ea = users["edgeagent"]
    eg = groups["edgeagent"]
    expected = {
        "/etc/edgeagent": (0o750, 0, eg),
        "/etc/edgeagent/edgeagent.toml": (0o640, 0, eg),
        "/etc/edgeagent/secrets": (0o700, ea, eg),
        "/etc/edgeagent/update-keys": (0o750, 0, eg),
        "/var/lib/edgeagent": (0o750, ea, eg),
        "/etc/systemd/system/edgeagent.service": (0o644, 0, 0),
        "/etc/systemd/system/edgeagent-updater.service": (0o644, 0, 0),
        "/etc/systemd/system/edgeagent-updater.path": (0o644, 0, 0),
    }
    found = tree(root)
    for path, (mode, uid, gid) in expected.items():
        assert found[path][:3] == (mode, uid, gid), path
    # Nothing else was created apart from the account files, parent dirs and the enable link.
    others = set(found) - set(expected)
    assert others == {"/etc", "/etc/passwd", "/etc/group", "/var", "/var/lib",
                      "/etc/systemd", "/etc/systemd/system",
                      "/etc/systemd/system/multi-user.target.wants",
                      "/etc/systemd/system/multi-user.target.wants/edgeagent.service",
                      "/etc/systemd/system/multi-user.target.wants/edgeagent-updater.service",
                      "/etc/systemd/system/paths.target.wants",
                      "/etc/systemd/system/paths.target.wants/edgeagent-updater.path"}
    # Content: the config is the template with this home, and it is a valid config.
    config_text = (root / "etc/edgeagent/edgeagent.toml").read_text()
    assert "# edgeagent configuration" in config_text
    config = parse_config(tomllib.loads(config_text), "installed")
    assert config.home.id == "sh-pudong-0042"
    unit = (root / "etc/systemd/system/edgeagent.service").read_text()
    assert unit == render_unit(unit_source(), EXE)
    assert f"ExecStart={EXE} run" in unit
    assert os.readlink(root / "etc/systemd/system/multi-user.target.wants/edgeagent.service") \
        == "/etc/systemd/system/edgeagent.service"


def test_the_account_is_a_system_user_with_only_three_groups_and_no_login(
        tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/group").write_text("root:x:0:\nsudo:x:27:\ndialout:x:20:pi\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    install(root)
    account = RootSystem(root).account("edgeagent")
    assert account is not None
    assert account.groups == ("bluetooth", "dialout", "gpio")
    assert account.shell == "/usr/sbin/nologin"
    assert account.home == "/var/lib/edgeagent"
    assert 100 <= account.uid < 1000
    group_lines = (root / "etc/group").read_text().splitlines()
    assert "dialout:x:20:pi,edgeagent" in group_lines  # existing group reused, member kept
    assert "sudo:x:27:" in group_lines


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = install(root)
    assert all(c.changed for c in first)
    before = tree(root)
    second = install(root)
    assert [c.action for c in second] == ["unchanged"] * len(second)
    assert tree(root) == before  # not even a rewrite with the same bytes (mtimes equal)


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    root.mkdir()
    assert main(["install", "--root", str(root), "--dry-run", "--executable", EXE]) == 0
    out = capsys.readouterr().out
    assert list(root.iterdir()) == []
    assert "create     user edgeagent" in out
    assert "/etc/edgeagent/edgeagent.toml  (file 0640 root:edgeagent)" in out
    assert "nothing was changed" in out


def test_cli_reports_unchanged_on_the_second_run(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "root")
    assert main(["--lang", "en", "install", "--root", root, "--executable", EXE]) == 0
    capsys.readouterr()
    assert main(["--lang", "en", "install", "--root", root, "--executable", EXE]) == 0
    out = capsys.readouterr().out
    assert "everything unchanged" in out
    actions = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert "create" not in actions and "update" not in actions


def test_install_repairs_drift_and_keeps_the_technicians_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(root)
    config = root / "etc/edgeagent/edgeagent.toml"
    config.write_text(config.read_text().replace("CHANGE-ME", "home-7"))
    config.chmod(0o644)  # someone made it world-readable
    (root / "etc/systemd/system/edgeagent.service").write_text("[Service]\nExecStart=/bin/sh\n")
    group = root / "etc/group"
    group.write_text(group.read_text() + "sudo:x:27:edgeagent\n")  # and gave it sudo
    secret = root / "etc/edgeagent/secrets/mqtt-password"
    secret.write_text("s3cret")
    secret.chmod(0o644)

    changes = {c.target: c for c in install(root)}
    assert changes["/etc/edgeagent/edgeagent.toml"].action == "update"
    assert changes["/etc/edgeagent/edgeagent.toml"].detail == "mode 0644 -> 0640"
    assert changes["/etc/systemd/system/edgeagent.service"].action == "update"
    assert changes["user edgeagent"].action == "update"
    assert changes["/etc/edgeagent/secrets/mqtt-password"].action == "update"
    assert config.stat().st_mode & 0o777 == 0o640
    assert 'id = "home-7"' in config.read_text()  # the edit survives
    assert secret.stat().st_mode & 0o777 == 0o600
    assert RootSystem(root).account("edgeagent").groups == (  # type: ignore[union-attr]
        "bluetooth", "dialout", "gpio")
    assert (root / "etc/systemd/system/edgeagent.service").read_text() == \
        render_unit(unit_source(), EXE)
    assert all(c.action == "unchanged" for c in install(root))


@as_root
def test_secret_files_belong_to_the_daemon_and_only_to_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(root)
    key = root / "etc/edgeagent/secrets/device.key"
    key.write_text("KEY")
    key.chmod(0o640)
    install(root)
    users, groups = ids(root)
    st = key.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (
        0o600, users["edgeagent"], groups["edgeagent"])


def test_uninstall_keeps_the_outbox_and_purge_removes_everything(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(root)
    outbox = root / "var/lib/edgeagent/outbox.db"
    outbox.write_bytes(b"SQLite format 3\x00 pending alerts")
    system = RootSystem(root)

    changes = {c.target: c.action for c in inst.uninstall(system)}
    assert changes[inst.UNIT_FILE] == "remove"
    assert not (root / "etc/systemd/system/edgeagent.service").exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/edgeagent.service") \
        .is_symlink()
    assert outbox.read_bytes() == b"SQLite format 3\x00 pending alerts"
    assert (root / "etc/edgeagent/edgeagent.toml").exists()
    assert system.account("edgeagent") is not None
    assert system.reloads == 1

    install(root)  # a reinstall finds the same account and the kept files
    assert outbox.exists()

    inst.uninstall(system, purge=True)
    assert not (root / "var/lib/edgeagent").exists()
    assert not (root / "etc/edgeagent").exists()
    assert system.account("edgeagent") is None
    assert system.group_id("edgeagent") is None
    assert system.group_id("gpio") is not None  # shared groups stay


def test_uninstall_dry_run_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(root)
    before = tree(root)
    changes = inst.uninstall(RootSystem(root), purge=True, dry_run=True)
    assert {c.action for c in changes} == {"remove"}
    assert tree(root) == before


def test_refuses_to_touch_the_real_system_without_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["--lang", "en", "install"]) == 2
    assert "run it as root" in capsys.readouterr().err


def test_unknown_template_is_refused_with_the_known_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    assert main(["--lang", "en", "install", "--root", str(root),
                 "--config-template", "nope"]) == 1
    err = capsys.readouterr().err
    assert "unknown config template 'nope'" in err and "pi-kit" in err
    assert not root.exists()


@pytest.mark.parametrize("name", template_names())
def test_every_config_template_is_a_valid_config(name: str) -> None:
    text = inst.config_template(name, home="home-1")
    assert parse_config(tomllib.loads(text), name).home.id == "home-1"


@pytest.mark.parametrize("name", ["edgeagent.service", *inst.UPDATER_UNITS])
def test_shipped_unit_copy_matches_the_repository_unit(name: str) -> None:
    repo_unit = Path(__file__).resolve().parents[2] / "systemd" / name
    shipped = Path(inst.__file__).resolve().parents[1] / "templates" / name
    if not repo_unit.exists():
        pytest.skip(f"systemd/{name} not in this checkout")
    assert shipped.read_text() == repo_unit.read_text(), (
        f"run: cp systemd/{name} edgeagent/templates/{name}")


def test_unit_is_enabled_into_its_wantedby_target() -> None:
    assert "multi-user.target" in wanted_by(unit_source())


def test_restrict_ip_is_opt_in_and_lists_loopback_brokers_and_dns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgeagent.provision.restrict_ip import DROPIN_FILE

    root = tmp_path / "root"
    install(root)
    dropin = root / DROPIN_FILE.lstrip("/")
    assert not dropin.exists()  # never by default: LAN brokers and walk tests keep working
    (root / "etc/edgeagent/edgeagent.toml").write_text(
        '[home]\nid = "h-1"\n[mqtt]\nurls = ["mqtts://127.0.0.1:8883", "mqtt://[::1]:1883"]\n'
        '[[drivers]]\ntype = "mqtt.local"\nname = "ha"\nbroker = "mqtt://localhost:1883"\n'
        '[[drivers.map]]\ntopic = "z2m/plug"\nfield = "power"\nkind = "power"\n')
    (root / "etc/resolv.conf").write_text("# dhcp\nnameserver 192.168.1.1\nnameserver fe80::1%eth0\n")
    args = ["--lang", "en", "install", "--root", str(root), "--executable", EXE]
    assert main([*args, "--restrict-ip", "--allow-ip", "192.0.2.0/24"]) == 0
    text = dropin.read_text()
    assert dropin.stat().st_mode & 0o777 == 0o644
    assert "IPAddressDeny=any" in text
    allow = next(line for line in text.splitlines() if line.startswith("IPAddressAllow="))
    assert set(allow.removeprefix("IPAddressAllow=").split()) >= {
        "localhost", "127.0.0.1", "::1", "192.168.1.1", "fe80::1", "192.0.2.0/24"}
    assert "# localhost:" in text  # the mqtt.local broker, resolved at install time
    capsys.readouterr()
    assert main([*args, "--restrict-ip", "--allow-ip", "192.0.2.0/24"]) == 0
    assert "everything unchanged" in capsys.readouterr().out
    assert main(args) == 0  # a plain re-install leaves the site's choice alone
    assert dropin.read_text() == text


def test_restrict_ip_refuses_a_broker_name_that_does_not_resolve(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    install(root)
    (root / "etc/edgeagent/edgeagent.toml").write_text(
        '[mqtt]\nurls = ["mqtts://no-such-host.invalid:8883"]\n')
    assert main(["--lang", "en", "install", "--root", str(root), "--executable", EXE,
                 "--restrict-ip"]) != 0
    assert "--restrict-ip" in capsys.readouterr().err


def test_a_release_venv_is_started_through_the_current_link(tmp_path):
    release = tmp_path / "opt" / "releases" / "0.1.0"
    (release / "bin").mkdir(parents=True)
    os.symlink("releases/0.1.0", tmp_path / "opt" / "current")
    executable = inst.default_executable(release)
    assert executable == str(tmp_path / "opt" / "current" / "bin" / "edgeagent")
    unit = render_unit("[Service]\nExecStart=/usr/bin/edgeagent run\n", executable)
    assert f"ExecStart={tmp_path}/opt/current/bin/edgeagent run" in unit
    plain = tmp_path / "venv"  # not a release: its own script, as before
    assert inst.default_executable(plain) != executable
