"""`edgeagent install` / `uninstall`: the kit's files, account and unit, idempotently.

The technician runs one command; running it again (after an update, or to
repair a kit someone tinkered with) puts back modes and owners and changes
nothing else. Every step first compares what is there with what should be
there, so `--dry-run` is the same code with the writes switched off and a
second run reports every step "unchanged".

What an install leaves (see docs/install.md):

    /etc/edgeagent/                 0750 root:edgeagent
    /etc/edgeagent/edgeagent.toml   0640 root:edgeagent   written once, never overwritten
    /etc/edgeagent/secrets/         0700 edgeagent:edgeagent
    /etc/edgeagent/secrets/*        0600 edgeagent:edgeagent  (device key, MQTT password)
    /etc/edgeagent/update-keys/     0750 root:edgeagent   trusted release keys (docs/updates.md)
    /etc/edgeagent/update-keys/release.pem  0644 root:root  with --update-key
    /var/lib/edgeagent/             0750 edgeagent:edgeagent  (the outbox)
    /etc/systemd/system/edgeagent.service  0644 root:root, enabled
    /etc/systemd/system/edgeagent-updater.{service,path}  0644 root:root, enabled

The `edgeagent` account is a system user with no shell and no login whose
only supplementary groups are gpio (GPIO chips), dialout (serial bed mats)
and bluetooth (BlueZ D-Bus policy): nothing else on the kit is reachable.
"""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import tomlkit

from edgeagent.errors import EdgeAgentError
from edgeagent.i18n import N_, _
from edgeagent.provision.system import Account, System

USER = "edgeagent"
GROUPS = ("bluetooth", "dialout", "gpio")
UNIT = "edgeagent.service"
CONFIG_DIR = "/etc/edgeagent"
CONFIG_FILE = "/etc/edgeagent/edgeagent.toml"
SECRETS_DIR = "/etc/edgeagent/secrets"
STATE_DIR = "/var/lib/edgeagent"
UNIT_FILE = f"/etc/systemd/system/{UNIT}"
UPDATE_KEYS_DIR = "/etc/edgeagent/update-keys"
UPDATE_KEY_FILE = f"{UPDATE_KEYS_DIR}/release.pem"
# The root updater (docs/updates.md): run as they are, from /opt/edgeagent/current.
UPDATER_UNITS = ("edgeagent-updater.service", "edgeagent-updater.path")
OUTBOX_FILES = ("outbox.db", "outbox.db-wal", "outbox.db-shm")

# Action words, translated when printed.
CREATE, UPDATE, UNCHANGED, REMOVE, KEEP = (
    N_("create"), N_("update"), N_("unchanged"), N_("remove"), N_("keep"))


class InstallError(EdgeAgentError, RuntimeError):
    """The install cannot go on (unknown template, not root...); the message says why."""


@dataclass(frozen=True, slots=True)
class Change:
    """One step's outcome (or, in a dry run, its plan)."""

    action: str
    target: str
    detail: str = ""

    @property
    def changed(self) -> bool:
        return self.action not in (UNCHANGED, KEEP)

    def render(self) -> str:
        word = _(self.action)
        columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in word)
        text = f"{word}{' ' * max(1, 11 - columns)}{self.target}"
        return f"{text}  ({self.detail})" if self.detail else text


def template_names() -> list[str]:
    files = resources.files("edgeagent") / "templates"
    return sorted(p.name[len("config-"):-len(".toml")] for p in files.iterdir()
                  if p.name.startswith("config-") and p.name.endswith(".toml"))


def config_template(name: str, home: str | None = None) -> str:
    """The text of templates/config-NAME.toml, with `home.id` set when given."""
    if name not in template_names():
        raise InstallError(_("unknown config template {name!r} (known: {known})").format(
            name=name, known=", ".join(template_names())))
    text = (resources.files("edgeagent") / "templates" / f"config-{name}.toml").read_text(
        encoding="utf-8")
    if home:
        doc = tomlkit.parse(text)
        doc["home"]["id"] = home
        text = tomlkit.dumps(doc)
    return text


def unit_source(name: str = UNIT) -> str:
    """A unit: systemd/ in a source checkout, else the copy shipped in the wheel."""
    checkout = Path(__file__).resolve().parents[2] / "systemd" / name
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    return (resources.files("edgeagent") / "templates" / name).read_text(encoding="utf-8")


def update_key_text(path: Path) -> str:
    """The PEM of an Ed25519 public key file, or InstallError saying what is wrong with it."""
    from edgeagent.signing import KeyFileError, load_public_key  # noqa: PLC0415

    try:
        load_public_key(path)
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, KeyFileError) as exc:
        raise InstallError(_("--update-key: {reason}").format(reason=exc)) from None


def render_unit(text: str, executable: str) -> str:
    """Point ExecStart/ExecReload at the `edgeagent` actually installed (venv or /usr/bin)."""
    out = []
    for line in text.splitlines(keepends=True):
        key, sep, value = line.partition("=")
        if sep and key.strip().startswith("Exec"):
            argv = value.split(" ", 1)
            if Path(argv[0].lstrip("-@:+!")).name == "edgeagent":
                prefix = argv[0][: len(argv[0]) - len(argv[0].lstrip("-@:+!"))]
                value = prefix + executable + (" " + argv[1] if len(argv) > 1 else "\n")
                out.append(f"{key}={value}")
                continue
        out.append(line)
    return "".join(out)


def default_executable(venv: Path | None = None) -> str:
    """The `edgeagent` script beside this interpreter (the venv's), else the one on PATH.

    A venv that is a release (ROOT/releases/<version>, as the offline installer and
    `update apply` make them) is started through ROOT/current, so an update or a
    rollback switches what the unit runs without rewriting it.
    """
    venv = venv or Path(sys.prefix)
    current = venv.parent.parent / "current"
    if venv.parent.name == "releases" and current.is_symlink():
        return str(current / "bin" / "edgeagent")
    beside = Path(sys.executable).parent / "edgeagent"
    if beside.exists():
        return str(beside)
    return shutil.which("edgeagent") or "/usr/bin/edgeagent"


class Installer:
    """Brings a system (real, or a directory standing in for `/`) to the installed state."""

    def __init__(self, system: System, *, template: str = "default", home: str | None = None,
                 executable: str | None = None, unit_text: str | None = None,
                 restrict_ip: bool = False, allow_ip: Sequence[str] = (),
                 update_key: Path | None = None) -> None:
        self.system = system
        self.update_key = update_key_text(update_key) if update_key is not None else None
        self.restrict_ip = restrict_ip
        self.allow_ip = tuple(allow_ip)
        self.config_text = config_template(template, home)
        self.unit_text = render_unit(unit_text if unit_text is not None else unit_source(),
                                     executable or default_executable())
        self.apply = True
        self._account: Account | None = None

    # --- ids ---

    def _ids(self, owner: str, group: str) -> tuple[int, int] | None:
        """(uid, gid) for names; None while the account is only planned (dry run)."""
        uid = 0 if owner == "root" else (self._account.uid if self._account else None)
        gid = 0 if group == "root" else self.system.group_id(group)
        if uid is None or gid is None:
            return None
        return uid, gid

    # --- primitives, each compare-then-fix ---

    def _ensure(self, absolute: str, mode: int, owner: str, group: str, *,  # noqa: C901 - compare-then-fix for path, type, content, mode and owner, each reported
                content: str | None = None, directory: bool = False,
                replace_content: bool = True) -> Change:
        path = self.system.path(absolute)
        ids = self._ids(owner, group)
        label = f"{'dir' if directory else 'file'} {mode:04o} {owner}:{group}"
        if not path.exists():
            if self.apply:
                if directory:
                    path.mkdir(parents=True, mode=mode)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._write(path, content or "", mode)
                path.chmod(mode)
                if ids:
                    self.system.chown(path, *ids)
            return Change(CREATE, absolute, label)
        fixes = []
        st = path.lstat()
        if content is not None and replace_content and \
                path.read_text(encoding="utf-8") != content:
            fixes.append(_("content"))
        if st.st_mode & 0o7777 != mode:
            fixes.append(f"mode {st.st_mode & 0o7777:04o} -> {mode:04o}")
        if ids and self.system.can_chown and (st.st_uid, st.st_gid) != ids:
            fixes.append(f"owner {st.st_uid}:{st.st_gid} -> {owner}:{group}")
        if not fixes:
            return Change(UNCHANGED, absolute, label)
        if self.apply:
            if content is not None and replace_content:
                self._write(path, content, mode)
            path.chmod(mode)
            if ids:
                self.system.chown(path, *ids)
        return Change(UPDATE, absolute, ", ".join(fixes))

    @staticmethod
    def _write(path: Path, content: str, mode: int) -> None:
        """Atomically: a reader (or a power cut) sees the old file or the new one."""
        tmp = path.with_name(f".{path.name}.edgeagent-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)

    # --- steps ---

    def _groups(self) -> Iterator[Change]:
        for name in GROUPS:
            if self.system.group_id(name) is not None:
                yield Change(UNCHANGED, f"group {name}")
                continue
            if self.apply:
                self.system.create_group(name)
            yield Change(CREATE, f"group {name}", _("system group"))

    def _user(self) -> Change:
        account = self.system.account(USER)
        target = f"user {USER}"
        wanted = tuple(sorted(GROUPS))
        if account is None:
            if self.apply:
                self._account = self.system.create_user(USER, wanted, STATE_DIR)
            return Change(CREATE, target, _("system user, no login, groups {groups}").format(
                groups=", ".join(wanted)))
        self._account = account
        if account.groups != wanted:
            if self.apply:
                self.system.set_groups(USER, wanted)
                self._account = self.system.account(USER)
            return Change(UPDATE, target, _("groups {old} -> {new}").format(
                old=", ".join(account.groups) or "-", new=", ".join(wanted)))
        return Change(UNCHANGED, target)

    def _secrets(self) -> Iterator[Change]:
        secrets = self.system.path(SECRETS_DIR)
        if not secrets.is_dir():
            return
        for file in sorted(secrets.iterdir()):
            if file.is_file() and not file.is_symlink():
                yield self._ensure(f"{SECRETS_DIR}/{file.name}", 0o600, USER, USER)

    def _unit(self) -> Iterator[Change]:
        units = [(UNIT, self.unit_text), *((name, unit_source(name)) for name in UPDATER_UNITS)]
        changes = [self._ensure(f"/etc/systemd/system/{name}", 0o644, "root", "root",
                                content=text) for name, text in units]
        yield from changes
        if any(change.changed for change in changes):
            if self.apply:
                self.system.daemon_reload()
            yield Change(UPDATE, "systemd", _("daemon-reload"))
        for (name, _text), change in zip(units, changes, strict=True):
            if change.action == CREATE and not self.apply:
                yield Change(CREATE, f"enable {name}")
            elif self.system.unit_enabled(name):
                yield Change(UNCHANGED, f"enable {name}")
            else:
                if self.apply:
                    self.system.enable_unit(name)
                yield Change(CREATE, f"enable {name}")

    def _restricted_ip(self) -> Iterator[Change]:
        """Only with --restrict-ip: the IPAddressAllow= drop-in (see provision/restrict_ip.py)."""
        from edgeagent.config import load_config  # noqa: PLC0415 - only for this option
        from edgeagent.errors import ConfigError  # noqa: PLC0415
        from edgeagent.provision import restrict_ip  # noqa: PLC0415

        try:
            config = load_config(self.system.path(CONFIG_FILE))
            resolv = self.system.path("/etc/resolv.conf")
            text = restrict_ip.dropin_text(
                config, resolv.read_text(encoding="utf-8") if resolv.exists() else "",
                self.allow_ip)
        except (ConfigError, OSError, ValueError) as exc:
            raise InstallError(_("--restrict-ip: {reason}").format(reason=exc)) from None
        change = self._ensure(restrict_ip.DROPIN_FILE, 0o644, "root", "root", content=text)
        yield change
        if change.changed:
            if self.apply:
                self.system.daemon_reload()
            yield Change(UPDATE, "systemd", _("daemon-reload"))

    def _audio(self) -> Iterator[Change]:
        """The sound drop-in while an output speaks (see provision/audio_unit.py)."""
        from edgeagent.config import load_config  # noqa: PLC0415 - config only when present
        from edgeagent.errors import ConfigError  # noqa: PLC0415
        from edgeagent.provision import audio_unit  # noqa: PLC0415

        config_path = self.system.path(CONFIG_FILE)
        try:
            config = load_config(config_path) if config_path.exists() else None
        except ConfigError as exc:  # the agent will not start either; doctor names the key
            yield Change(KEEP, audio_unit.DROPIN_FILE, _(
                "config not valid, sound access left as it is: {reason}").format(reason=exc))
            return
        speaking = audio_unit.speaking_outputs(config) if config is not None else []
        dropin = self.system.path(audio_unit.DROPIN_FILE)
        if speaking:
            if self.system.group_id(audio_unit.GROUP) is None:
                if self.apply:
                    self.system.create_group(audio_unit.GROUP)
                yield Change(CREATE, f"group {audio_unit.GROUP}", _("system group"))
            change = self._ensure(audio_unit.DROPIN_FILE, 0o644, "root", "root",
                                  content=audio_unit.DROPIN_TEXT)
        elif dropin.exists():
            if self.apply:
                dropin.unlink()
            change = Change(REMOVE, audio_unit.DROPIN_FILE, _("no output plays sound"))
        else:
            return
        yield change
        if change.changed:
            if self.apply:
                self.system.daemon_reload()
            yield Change(UPDATE, "systemd", _("daemon-reload"))

    def install(self, *, dry_run: bool = False) -> list[Change]:
        """Run (or, with dry_run, only plan) every step; returns what each did."""
        self.apply = not dry_run
        changes: list[Change] = [*self._groups(), self._user()]
        changes.append(self._ensure(CONFIG_DIR, 0o750, "root", USER, directory=True))
        changes.append(self._ensure(CONFIG_FILE, 0o640, "root", USER, content=self.config_text,
                                    replace_content=False))
        changes.append(self._ensure(SECRETS_DIR, 0o700, USER, USER, directory=True))
        changes.extend(self._secrets())
        changes.append(self._ensure(UPDATE_KEYS_DIR, 0o750, "root", USER, directory=True))
        if self.update_key is not None:
            changes.append(self._ensure(UPDATE_KEY_FILE, 0o644, "root", "root",
                                        content=self.update_key))
        changes.append(self._ensure(STATE_DIR, 0o750, USER, USER, directory=True))
        changes.extend(self._unit())
        if self.restrict_ip:
            changes.extend(self._restricted_ip())
        changes.extend(self._audio())
        return changes


def uninstall(system: System, *, purge: bool = False, dry_run: bool = False) -> list[Change]:  # noqa: C901 - each file kept or removed by option, dry-run aware, in the order a technician reads
    """Disable and remove the unit. The outbox, config and identity stay unless `purge`.

    Without --purge the account stays too: the kept files are owned by its uid,
    and a later install finds the same account again.
    """
    changes: list[Change] = []
    removed = False
    for name in (UNIT, *UPDATER_UNITS):
        absolute = f"/etc/systemd/system/{name}"
        unit = system.path(absolute)
        if unit.exists() or system.unit_enabled(name):
            if not dry_run:
                system.disable_unit(name)
                unit.unlink(missing_ok=True)
            removed = True
            changes.append(Change(REMOVE, absolute, _("disabled and stopped")))
        else:
            changes.append(Change(UNCHANGED, absolute, _("not installed")))
    if removed and not dry_run:
        system.daemon_reload()
    for absolute in (CONFIG_DIR, STATE_DIR):
        path = system.path(absolute)
        if not path.exists():
            continue
        if purge:
            if not dry_run:
                shutil.rmtree(path)
            changes.append(Change(REMOVE, absolute))
        else:
            detail = _("outbox kept; --purge removes it") if absolute == STATE_DIR else \
                _("config and identity kept; --purge removes them")
            changes.append(Change(KEEP, absolute, detail))
    if purge and system.account(USER) is not None:
        if not dry_run:
            system.delete_user(USER)
        changes.append(Change(REMOVE, f"user {USER}"))
    return changes
