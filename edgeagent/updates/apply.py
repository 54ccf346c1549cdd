"""`update apply`: a verified bundle into a new release, an atomic switch, health or rollback.

Layout under the root (default /opt/edgeagent):

    releases/<version>/        one venv per release, made only from a bundle's wheels;
                               complete once it holds .edgeagent-release (written last,
                               fsynced), else half-installed and removed by the next run
    current -> releases/<v>    the release systemd starts; replaced by renaming a new link
    update-journal.json        written before the switch, removed once the outcome is known

Every step leaves something that boots: the link names a complete release
before and after its rename, and a run that finds a journal (the updater was
killed, or the power went) switches back to the release it names as `from`,
since the new one never passed its health check. The outbox and the config
are not under the root and are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edgeagent import __version__
from edgeagent.signing import lock_text
from edgeagent.updates.bundle import BundleRefused, Manifest, verify_bundle
from edgeagent.updates.health import Baseline, Probe, wait_healthy
from edgeagent.updates.request import BadRequest, read_nofollow, take_request

DEFAULT_ROOT = Path("/opt/edgeagent")
KEEP_PREVIOUS = 2
COMPLETE_MARK = ".edgeagent-release"  # a venv's scripts name its path: built in place
HOLD_ENV = "EDGEAGENT_UPDATE_HOLD_AT"  # fault tests: stop at this step until killed
STEPS = ("verified", "installing", "installed", "switched", "restarted")

APPLIED, ROLLED_BACK, FAILED = "applied", "rolled_back", "failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str  # applied, rolled_back, failed
    version: str | None  # the bundle's
    previous_version: str | None  # what ran before the update
    running: str | None  # what `current` names now
    reason: str = ""
    id: str | None = None  # the remote command's, when the agent asked for the update
    kind: str = "update"  # or "config" (cmd/config-set)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


class Releases:
    """The versioned environments under one root and the `current` link between them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "releases"
        self.current = root / "current"
        self.journal = root / "update-journal.json"
        self.staging = root / "staging"

    def current_version(self) -> str | None:
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        return Path(target).name

    def path(self, version: str) -> Path:
        return self.dir / version

    def is_complete(self, version: str) -> bool:
        return (self.path(version) / COMPLETE_MARK).is_file()

    def mark_complete(self, version: str, wheel_names: list[str]) -> None:
        """Declare a release whole: its files reach the disk first, then the mark (fsynced)."""
        os.sync()
        _write_json(self.path(version) / COMPLETE_MARK, {"version": version,
                                                          "wheels": wheel_names})

    def remove(self, version: str) -> None:
        """Delete a release; an adopted legacy venv (a link under releases/) goes with its link."""
        release = self.path(version)
        if release.is_symlink():
            target = release.resolve()
            release.unlink()
            shutil.rmtree(target, ignore_errors=True)
        else:
            shutil.rmtree(release, ignore_errors=True)

    def adopt_legacy_venv(self, venv: Path) -> str | None:
        """Make an install from before the releases layout (ROOT/venv) a release to roll back to.

        A venv cannot be moved (its scripts name its path), so releases/<version>
        becomes a relative link to it, marked complete. Returns the adopted
        version; None when there is no such venv or a release of its version exists.
        """
        if venv.is_symlink() or not (venv / "bin" / "edgeagent").exists():
            return None
        infos = sorted(venv.glob("lib/python*/site-packages/edgeagent-*.dist-info"))
        if not infos:
            return None
        version = infos[-1].name.removeprefix("edgeagent-").removesuffix(".dist-info")
        release = self.path(version)
        if release.exists() or release.is_symlink():
            return None
        self.dir.mkdir(parents=True, exist_ok=True)
        os.symlink(Path("..") / os.path.relpath(venv, self.root), release)
        self.mark_complete(version, [])
        _fsync_dir(self.dir)
        return version

    def switch_to(self, version: str) -> None:
        """Point `current` at a release: a new link renamed over the old one (atomic)."""
        tmp = self.root / ".current.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(Path("releases") / version, tmp)
        os.replace(tmp, self.current)
        _fsync_dir(self.root)
        os.utime(self.path(version), follow_symlinks=False)  # newest switch = newest mtime

    def clean_leftovers(self) -> None:
        """What a killed run leaves: half-installed releases, staged wheels, a temp link."""
        current = self.current_version()
        if self.dir.is_dir():
            for release in self.dir.iterdir():
                if release.name != current and not (release / COMPLETE_MARK).is_file():
                    self.remove(release.name)
        shutil.rmtree(self.staging, ignore_errors=True)
        (self.root / ".current.tmp").unlink(missing_ok=True)

    def prune(self, keep: set[str]) -> list[str]:
        """Keep the current release, `keep`, and the two most recently used others."""
        current = self.current_version()
        others = sorted((p for p in self.dir.iterdir()
                         if p.is_dir() and p.name != current and p.name not in keep),
                        key=lambda p: p.lstat().st_mtime, reverse=True)
        removed = []
        for old in others[KEEP_PREVIOUS:]:
            self.remove(old.name)
            removed.append(old.name)
        return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, doc: dict[str, object]) -> None:
    """Atomically (temp file, fsync, rename): a reader or a power cut sees old or new.

    The report goes into the agent's state directory, which the agent owns: the
    temporary file is created exclusively and never through a link it planted.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _replace_keeping_owner(path: Path, data: bytes, *, like: Path) -> None:
    """Write `path` atomically with the mode and owner of `like` (the config is root:edgeagent)."""
    st = like.stat()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, st.st_mode & 0o777)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if os.geteuid() == 0:
        os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _hold(step: str) -> None:
    """Fault tests only: at the named step, say so and wait to be killed."""
    if os.environ.get(HOLD_ENV) == step:
        print(f"update: holding at {step}", flush=True)
        while True:
            time.sleep(3600)


class Updater:
    """Applies bundles to one root; restart, probe and baseline are the caller's (systemd)."""

    def __init__(self, root: Path, keys: list[Ed25519PublicKey], *,
                 restart: Callable[[], None], probe: Probe, baseline: Callable[[], Baseline],
                 health_s: float = 120.0, report: Path | None = None,
                 python: str = sys.executable, config: Path | None = None,
                 reload: Callable[[], None] | None = None) -> None:
        self.releases = Releases(root)
        self.keys = keys
        self.restart = restart
        self.probe = probe
        self.baseline = baseline
        self.health_s = health_s
        self.report = report
        self.python = python
        self.command_id: str | None = None  # set for the run of a remote request
        self.config = config  # the kit's config file (cmd/config-set), None: not managed
        self.reload = reload

    def installed_version(self) -> str:
        return self.releases.current_version() or __version__

    def verify(self, bundle: Path, *, allow_downgrade: bool = False) -> Manifest:
        """Verify without installing (BundleRefused says why not)."""
        return verify_bundle(bundle, self.keys, installed=self.installed_version(),
                             allow_downgrade=allow_downgrade)

    def apply(self, bundle: Path, *, allow_downgrade: bool = False) -> Outcome:
        """Verify, install, switch, restart, wait for health; roll back if it does not come.

        BundleRefused propagates: nothing was installed.
        """
        rel = self.releases
        rel.root.mkdir(parents=True, exist_ok=True)
        self.recover()
        previous = rel.current_version()
        manifest = verify_bundle(bundle, self.keys, installed=self.installed_version(),
                                 allow_downgrade=allow_downgrade, extract_to=rel.staging)
        _hold("verified")
        version = manifest.version
        if version == previous:
            shutil.rmtree(rel.staging, ignore_errors=True)
            return self._finish(Outcome(APPLIED, version, previous, version,
                                        "already the current release"))
        try:
            self._install(manifest)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            shutil.rmtree(rel.staging, ignore_errors=True)
            return self._finish(Outcome(FAILED, version, previous, previous,
                                        f"install failed: {exc}"))
        _hold("installed")
        baseline = self.baseline()
        _write_json(rel.journal, {"from": previous, "to": version})
        rel.switch_to(version)
        _hold("switched")
        verdict_reason = self._restart_and_wait(baseline)
        if verdict_reason is None:
            rel.prune(set())
            return self._finish(Outcome(APPLIED, version, previous, version))
        return self._roll_back(previous, version, verdict_reason, baseline)

    def run(self, request: Path,
            keys: Callable[[], list[Ed25519PublicKey]]) -> list[Outcome]:
        """The updater unit's job: recover from a cut, then apply the agent's request.

        The request is removed when taken and its download once used; a refusal
        (bad request, bundle that fails verification) is reported like any outcome.
        """
        outcomes = [o for o in [self.recover()] if o is not None]
        try:
            taken = take_request(request)
        except BadRequest as exc:
            return [*outcomes, self.refused(f"bad request: {exc}")]
        if taken is None:
            return outcomes
        if taken["kind"] == "config":
            return [*outcomes, self._config_request(taken["file"], taken["id"])]
        self.command_id, bundle = taken["id"], taken["bundle"]
        try:
            self.keys = keys()
            outcome = self.apply(bundle)
        except BundleRefused as exc:
            outcome = self.refused(str(exc))
        finally:
            bundle.unlink(missing_ok=True)  # verified or not, the download has served
            self.command_id = None
        return [*outcomes, outcome]

    def recover(self) -> Outcome | None:
        """After a killed run or a power cut: back to the release the journal names as `from`,
        and back to the previous config if a config change was not yet judged healthy."""
        config_outcome = self._recover_config()
        rel = self.releases
        rel.clean_leftovers()
        try:
            journal = json.loads(rel.journal.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            rel.journal.unlink(missing_ok=True)
            return config_outcome
        if config_outcome is not None:
            return config_outcome
        previous, version = journal.get("from"), journal.get("to")
        reason = "interrupted: the updater stopped before the new release passed its health check"
        if rel.current_version() == previous or previous is None \
                or not rel.is_complete(previous):
            return self._finish(Outcome(FAILED, version, previous, rel.current_version(), reason))
        return self._roll_back(previous, version, reason, self.baseline())

    # -- steps ---------------------------------------------------------------------------

    def _install(self, manifest: Manifest) -> None:
        """A fresh venv from the staged wheels only (pip --no-index --require-hashes)."""
        rel = self.releases
        rel.dir.mkdir(parents=True, exist_ok=True)
        release = rel.path(manifest.version)
        rel.remove(manifest.version)  # an earlier, rolled-back or partial copy
        wheels = [rel.staging / name for name in manifest.wheel_names]
        lock = rel.staging / "requirements.lock"
        lock.write_text(lock_text(wheels), encoding="utf-8")
        subprocess.run([self.python, "-m", "venv", "--without-pip", str(release)],  # noqa: S603
                       check=True, capture_output=True, timeout=300)
        _hold("installing")
        venv_python = str(release / "bin" / "python")
        pip_wheel = next((w for w in wheels if w.name.startswith("pip-")), None)
        pip = [venv_python, f"{pip_wheel}/pip"] if pip_wheel else \
            [self.python, "-m", "pip", "--python", venv_python]
        # Only the bundle's own wheels, each checked against the signed lock's hash.
        install = [*pip, "install", "--quiet", "--no-index", "--require-hashes",
                   "--no-cache-dir", "--find-links", str(rel.staging), "-r", str(lock)]
        done = subprocess.run(install, check=False, capture_output=True, text=True,  # noqa: S603 - our own argv, no shell
                              timeout=900)
        if done.returncode != 0:
            shutil.rmtree(release, ignore_errors=True)
            raise RuntimeError(f"pip install failed: {done.stderr.strip()[-2000:]}")
        rel.mark_complete(manifest.version, manifest.wheel_names)
        shutil.rmtree(rel.staging, ignore_errors=True)

    def _restart_and_wait(self, baseline: Baseline) -> str | None:
        """None when healthy, else why not."""
        try:
            self.restart()
        except (OSError, subprocess.SubprocessError) as exc:
            return f"restart failed: {exc}"
        _hold("restarted")
        verdict = wait_healthy(self.probe, baseline, self.health_s)
        return None if verdict.healthy else verdict.reason

    def _roll_back(self, previous: str | None, version: str | None, reason: str,
                   baseline: Baseline) -> Outcome:
        rel = self.releases
        if previous is None or not rel.is_complete(previous):
            return self._finish(Outcome(FAILED, version, previous, rel.current_version(),
                                        f"{reason}; no previous release to go back to"))
        rel.switch_to(previous)
        again = self._restart_and_wait(baseline)
        if version and version != previous:
            rel.remove(version)  # known broken
        if again is not None:
            reason = f"{reason}; the previous release {previous} is not healthy either: {again}"
        return self._finish(Outcome(ROLLED_BACK, version, previous, previous, reason))

    # -- config changes (cmd/config-set) ----------------------------------------------------

    @property
    def _config_journal(self) -> Path:
        return self.releases.root / "config-journal.json"

    def _prev(self, config: Path) -> Path:
        return config.with_name(config.name + ".prev")

    def _config_request(self, new_file: Path, command_id: str | None) -> Outcome:
        """Check the agent's file again, install it, reload, keep it only if healthy."""
        self.command_id = command_id
        try:
            return self.apply_config(new_file)
        finally:
            new_file.unlink(missing_ok=True)
            self.command_id = None

    def apply_config(self, new_file: Path) -> Outcome:
        from edgeagent.config import load_config  # noqa: PLC0415
        from edgeagent.errors import ConfigError  # noqa: PLC0415
        from edgeagent.updates.config_change import (  # noqa: PLC0415
            MAX_CONFIG_BYTES,
            ConfigChangeRefused,
            check_change,
            parse_new,
        )

        config, current = self.config, self.releases.current_version()
        if config is None or self.reload is None:
            return self.refused("config changes are not managed by this updater",
                                kind="config")
        try:
            text = read_nofollow(new_file, MAX_CONFIG_BYTES).decode("utf-8")
            diff = check_change(load_config(config), parse_new(text))
        except (BadRequest, UnicodeDecodeError, ConfigChangeRefused, ConfigError) as exc:
            return self.refused(f"config refused: {exc}", kind="config")
        if not diff:
            return self._finish(Outcome(APPLIED, None, current, current, "config unchanged",
                                        kind="config"))
        baseline = replace(self.baseline(), await_reload=True)
        old = config.read_bytes()
        _replace_keeping_owner(self._prev(config), old, like=config)
        _write_json(self._config_journal, {"config": str(config)})
        _replace_keeping_owner(config, text.encode(), like=config)
        verdict = self._reload_and_wait(baseline)
        if verdict is None:
            self._config_journal.unlink(missing_ok=True)
            return self._finish(Outcome(APPLIED, None, current, current,
                                        "config: " + "; ".join(diff), kind="config"))
        _replace_keeping_owner(config, old, like=config)
        again = self._reload_and_wait(replace(self.baseline(), await_reload=True,
                                              healthy_drivers=baseline.healthy_drivers))
        self._config_journal.unlink(missing_ok=True)
        reason = f"config restored: {verdict}" + (f"; after the restore: {again}" if again else "")
        return self._finish(Outcome(ROLLED_BACK, None, current, current, reason, kind="config"))

    def _reload_and_wait(self, baseline: Baseline) -> str | None:
        assert self.reload is not None
        try:
            self.reload()
        except (OSError, subprocess.SubprocessError) as exc:
            return f"reload failed: {exc}"
        verdict = wait_healthy(self.probe, baseline, self.health_s)
        return None if verdict.healthy else verdict.reason

    def _recover_config(self) -> Outcome | None:
        """A cut between writing a new config and its health verdict: the old one comes back."""
        journal = self._config_journal
        if not journal.exists() or self.config is None:
            return None
        prev = self._prev(self.config)
        if prev.is_file():
            _replace_keeping_owner(self.config, prev.read_bytes(), like=self.config)
        journal.unlink(missing_ok=True)
        if self.reload is not None:
            self._reload_and_wait(self.baseline())
        current = self.releases.current_version()
        return self._finish(Outcome(ROLLED_BACK, None, current, current,
                                    "config restored: interrupted before the health check",
                                    kind="config"))

    def refused(self, reason: str, command_id: str | None = None,
                kind: str = "update") -> Outcome:
        """Report a request that did not get as far as an install (nothing changed)."""
        current = self.releases.current_version()
        return self._finish(Outcome(FAILED, None, current, current, reason, command_id, kind))

    def _finish(self, outcome: Outcome) -> Outcome:
        """Report first, then forget the journal: a cut in between reports twice, never zero."""
        if self.command_id is not None and outcome.id is None:
            outcome = replace(outcome, id=self.command_id)
        if self.report is not None:
            _write_json(self.report, outcome.as_dict())
        self.releases.journal.unlink(missing_ok=True)
        return outcome
