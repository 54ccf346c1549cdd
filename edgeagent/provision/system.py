"""The operating-system side of an install: accounts, ownership, systemd.

`Installer` never calls useradd or systemctl itself; it asks a `System`.
`HostSystem` is the real machine (useradd, usermod, systemctl). `RootSystem`
is a directory standing in for `/` (`edgeagent install --root DIR`): it edits
`DIR/etc/passwd` and `DIR/etc/group` the way `useradd --system` would and
enables units by making the same `*.wants/` symlink `systemctl enable` makes,
so tests exercise the whole install without touching the machine they run on.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edgeagent.errors import EdgeAgentError

NOLOGIN = "/usr/sbin/nologin"
SYSTEM_ID_MAX = 999  # Debian's SYS_UID_MAX / SYS_GID_MAX: system ids are allocated downward
SYSTEM_ID_MIN = 100


class SystemError_(EdgeAgentError, RuntimeError):  # noqa: N801 - `SystemError` is a builtin
    """A system command failed; the message carries its output."""


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    groups: tuple[str, ...]  # supplementary groups, sorted


class System(Protocol):
    """What the installer needs from the machine it installs on."""

    root: Path
    can_chown: bool

    def path(self, absolute: str) -> Path: ...
    def account(self, name: str) -> Account | None: ...
    def group_id(self, name: str) -> int | None: ...
    def create_group(self, name: str) -> int: ...
    def create_user(self, name: str, groups: tuple[str, ...], home: str) -> Account: ...
    def set_groups(self, name: str, groups: tuple[str, ...]) -> None: ...
    def delete_user(self, name: str) -> None: ...
    def chown(self, path: Path, uid: int, gid: int) -> None: ...
    def unit_enabled(self, unit: str) -> bool: ...
    def enable_unit(self, unit: str) -> None: ...
    def disable_unit(self, unit: str) -> None: ...
    def daemon_reload(self) -> None: ...


def wanted_by(unit_text: str) -> list[str]:
    """The targets in a unit's [Install] WantedBy= lines (what `enable` links it into)."""
    targets: list[str] = []
    section = ""
    for raw in unit_text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Install" and line.startswith("WantedBy="):
            targets.extend(line.split("=", 1)[1].split())
    return targets


class RootSystem:
    """A directory tree standing in for `/`: accounts in its etc/, units as symlinks."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.can_chown = os.geteuid() == 0
        self.reloads = 0

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    # --- /etc/passwd and /etc/group under the root ---

    def _read(self, name: str) -> list[list[str]]:
        file = self.path(f"/etc/{name}")
        if not file.exists():
            return []
        return [line.split(":") for line in file.read_text(encoding="utf-8").splitlines()
                if line.strip()]

    def _write(self, name: str, rows: list[list[str]], mode: int = 0o644) -> None:
        file = self.path(f"/etc/{name}")
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{name}.edgeagent-tmp")
        tmp.write_text("".join(":".join(r) + "\n" for r in rows), encoding="utf-8")
        tmp.chmod(mode)
        tmp.replace(file)

    def _free_id(self, used: set[int]) -> int:
        for candidate in range(SYSTEM_ID_MAX, SYSTEM_ID_MIN - 1, -1):
            if candidate not in used:
                return candidate
        raise SystemError_("no free system id left")

    def group_id(self, name: str) -> int | None:
        for row in self._read("group"):
            if row[0] == name:
                return int(row[2])
        return None

    def create_group(self, name: str) -> int:
        rows = self._read("group")
        gid = self._free_id({int(r[2]) for r in rows})
        rows.append([name, "x", str(gid), ""])
        self._write("group", rows)
        return gid

    def account(self, name: str) -> Account | None:
        for row in self._read("passwd"):
            if row[0] == name:
                groups = tuple(sorted(g[0] for g in self._read("group")
                                      if len(g) > 3 and name in g[3].split(",")))
                return Account(row[0], int(row[2]), int(row[3]), row[5], row[6], groups)
        return None

    def create_user(self, name: str, groups: tuple[str, ...], home: str) -> Account:
        passwd = self._read("passwd")
        used = {int(r[2]) for r in passwd} | {int(r[2]) for r in self._read("group")}
        uid = self._free_id(used)
        gid = self.group_id(name)
        if gid is None:
            rows = self._read("group")
            rows.append([name, "x", str(uid), ""])
            self._write("group", rows)
            gid = uid
        passwd.append([name, "x", str(uid), str(gid), "edgeagent daemon", home, NOLOGIN])
        self._write("passwd", passwd)
        if self.path("/etc/shadow").exists():
            shadow = self._read("shadow")
            shadow.append([name, "!*", "", "", "", "", "", "", ""])
            self._write("shadow", shadow, 0o640)
        self.set_groups(name, groups)
        account = self.account(name)
        assert account is not None
        return account

    def set_groups(self, name: str, groups: tuple[str, ...]) -> None:
        rows = self._read("group")
        for row in rows:
            while len(row) < 4:
                row.append("")
            members = [m for m in row[3].split(",") if m and m != name]
            if row[0] in groups:
                members.append(name)
            row[3] = ",".join(members)
        self._write("group", rows)

    def delete_user(self, name: str) -> None:
        self.set_groups(name, ())
        self._write("passwd", [r for r in self._read("passwd") if r[0] != name])
        self._write("group", [r for r in self._read("group") if r[0] != name])
        if self.path("/etc/shadow").exists():
            self._write("shadow", [r for r in self._read("shadow") if r[0] != name], 0o640)

    def chown(self, path: Path, uid: int, gid: int) -> None:
        if self.can_chown:
            os.chown(path, uid, gid, follow_symlinks=False)

    # --- systemd: `enable` is a symlink per WantedBy= target ---

    def _links(self, unit: str) -> list[Path]:
        unit_file = self.path(f"/etc/systemd/system/{unit}")
        if not unit_file.exists():
            return []
        return [self.path(f"/etc/systemd/system/{target}.wants/{unit}")
                for target in wanted_by(unit_file.read_text(encoding="utf-8"))]

    def unit_enabled(self, unit: str) -> bool:
        links = self._links(unit)
        return bool(links) and all(link.is_symlink() for link in links)

    def enable_unit(self, unit: str) -> None:
        for link in self._links(unit):
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(f"/etc/systemd/system/{unit}")

    def disable_unit(self, unit: str) -> None:
        # Not glob(): the links point into the real / and dangle here, and glob skips those.
        for wants_dir in self.path("/etc/systemd/system").glob("*.wants"):
            link = wants_dir / unit
            if link.is_symlink():
                link.unlink()

    def daemon_reload(self) -> None:
        self.reloads += 1


class HostSystem:
    """The machine itself: shadow-utils and systemctl, run only by `edgeagent install` as root."""

    root = Path("/")

    def __init__(self) -> None:
        self.can_chown = os.geteuid() == 0

    def path(self, absolute: str) -> Path:
        return Path(absolute)

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if check and result.returncode != 0:
            raise SystemError_(f"{' '.join(argv)}: {result.stderr.strip() or result.returncode}")
        return result

    def group_id(self, name: str) -> int | None:
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            return None

    def create_group(self, name: str) -> int:
        self._run("groupadd", "--system", name)
        gid = self.group_id(name)
        assert gid is not None
        return gid

    def account(self, name: str) -> Account | None:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return None
        groups = tuple(sorted(g.gr_name for g in grp.getgrall() if name in g.gr_mem))
        return Account(name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell, groups)

    def create_user(self, name: str, groups: tuple[str, ...], home: str) -> Account:
        self._run("useradd", "--system", "--user-group", "--no-create-home",
                  "--home-dir", home, "--shell", NOLOGIN, "--comment", "edgeagent daemon",
                  "--groups", ",".join(groups), name)
        account = self.account(name)
        assert account is not None
        return account

    def set_groups(self, name: str, groups: tuple[str, ...]) -> None:
        self._run("usermod", "--groups", ",".join(groups), name)

    def delete_user(self, name: str) -> None:
        self._run("userdel", name)

    def chown(self, path: Path, uid: int, gid: int) -> None:
        os.chown(path, uid, gid, follow_symlinks=False)

    def unit_enabled(self, unit: str) -> bool:
        return self._run("systemctl", "is-enabled", "--quiet", unit, check=False).returncode == 0

    def enable_unit(self, unit: str) -> None:
        self._run("systemctl", "enable", unit)

    def disable_unit(self, unit: str) -> None:
        self._run("systemctl", "disable", "--now", unit, check=False)

    def daemon_reload(self) -> None:
        self._run("systemctl", "daemon-reload", check=False)
