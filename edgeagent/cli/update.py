"""`edgeagent update build|verify|apply|recover`: signed update bundles (docs/updates.md)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from edgeagent import __version__
from edgeagent.config import AgentConfig, load_config
from edgeagent.errors import ConfigError
from edgeagent.i18n import _
from edgeagent.signing import KeyFileError, load_private_key, wheel_pin
from edgeagent.updates.apply import (
    APPLIED,
    DEFAULT_ROOT,
    ROLLED_BACK,
    Outcome,
    Releases,
    Updater,
)
from edgeagent.updates.bundle import (
    UPDATE_KEYS_DIR,
    BundleRefused,
    build_bundle,
    trusted_keys,
    verify_bundle,
)
from edgeagent.updates.health import baseline_from_socket, control_probe, systemd_probe
from edgeagent.updates.request import REQUEST

EXIT_APPLIED, EXIT_REFUSED, EXIT_ROLLED_BACK, EXIT_FAILED = 0, 1, 3, 4


def _err(message: str) -> None:
    print(f"edgeagent update: {message}", file=sys.stderr)


def _wheelhouse(path: Path | None, scratch: Path) -> list[Path]:
    """Wheels of a directory, or of an offline package (.tar.gz from build-wheelhouse.sh)."""
    if path is None:
        packages = sorted(Path("dist").glob("edgeagent-*.tar.gz"), key=lambda p: p.stat().st_mtime)
        if not packages:
            raise FileNotFoundError("no dist/edgeagent-*.tar.gz: run packaging/build-wheelhouse.sh "
                                    "or pass --wheelhouse")
        path = packages[-1]
    if path.is_dir():
        return sorted(path.glob("*.whl"))
    with tarfile.open(path, "r:*") as tar:
        members = [m for m in tar.getmembers() if m.isfile()
                   and m.name.endswith(".whl") and Path(m.name).parent.name == "wheelhouse"]
        for member in members:
            source = tar.extractfile(member)
            assert source is not None
            (scratch / Path(member.name).name).write_bytes(source.read())
    return sorted(scratch.glob("*.whl"))


def cmd_build(args: argparse.Namespace) -> int:
    try:
        key = load_private_key(args.key)
    except (OSError, KeyFileError) as exc:
        _err(str(exc))
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        try:
            wheels = _wheelhouse(args.wheelhouse, Path(scratch))
        except (OSError, tarfile.TarError) as exc:
            _err(f"wheelhouse: {exc}")
            return 2
        own = [wheel_pin(w)[1] for w in wheels if wheel_pin(w)[0] == "edgeagent"]
        version = args.version or (own[0] if own else None)
        if version is None:
            _err("no edgeagent wheel in the wheelhouse: pass --version")
            return 2
        try:
            manifest = build_bundle(wheels, key, args.out, version=version,
                                    min_version=args.min_version)
        except ValueError as exc:
            _err(str(exc))
            return 2
    print(_("{file}: edgeagent-update {version} (min_version {min_version}, {wheels} wheels)")
          .format(file=args.out, version=manifest.version, min_version=manifest.min_version,
                  wheels=len(manifest.files)))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        keys = trusted_keys(args.pubkey, args.keys_dir)
        installed = args.installed_version or _installed(args.root)
        manifest = verify_bundle(args.file, keys, installed=installed,
                                 allow_downgrade=args.allow_downgrade)
    except BundleRefused as exc:
        print(_("refused: {reason}").format(reason=exc))
        return EXIT_REFUSED
    print(_("valid: edgeagent-update {version} (min_version {min_version}, {wheels} wheels, "
            "installed {installed})").format(version=manifest.version,
                                             min_version=manifest.min_version,
                                             wheels=len(manifest.files), installed=installed))
    return 0


def _installed(root: Path | None) -> str:
    return (Releases(root).current_version() if root else None) or __version__


def _from_config(args: argparse.Namespace) -> None:
    """Options not given on the command line come from the kit's config (if readable)."""
    config = AgentConfig()
    if args.config.is_file():
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            _err(f"{exc}; using the defaults")
    if args.health_s is None:
        args.health_s = config.updates.update_health_s
    if args.socket is None:
        args.socket = config.control.socket
    if args.keys_dir is None and args.pubkey is None:
        args.keys_dir = config.updates.keys_dir


def _updater(args: argparse.Namespace, *, need_keys: bool = True) -> Updater:
    _from_config(args)
    def restart() -> None:
        subprocess.run(["systemctl", "restart", args.unit],  # noqa: S603, S607
                       check=True, timeout=120, capture_output=True)

    def reload() -> None:
        subprocess.run(["systemctl", "reload", args.unit],  # noqa: S603, S607
                       check=True, timeout=120, capture_output=True)

    keys = trusted_keys(args.pubkey, args.keys_dir) if need_keys else []
    return Updater(args.root, keys, restart=restart, reload=reload,
                   config=args.config if args.config.is_file() else None,
                   probe=systemd_probe(args.unit, control_probe(args.socket)),
                   baseline=lambda: baseline_from_socket(args.socket),
                   health_s=args.health_s, report=args.report)


def _print_outcome(outcome: Outcome) -> int:
    print(json.dumps(outcome.as_dict()))
    return {APPLIED: EXIT_APPLIED, ROLLED_BACK: EXIT_ROLLED_BACK}.get(outcome.state, EXIT_FAILED)


def cmd_apply(args: argparse.Namespace) -> int:
    try:
        outcome = _updater(args).apply(args.file, allow_downgrade=args.allow_downgrade)
    except BundleRefused as exc:
        print(_("refused: {reason}").format(reason=exc))
        return EXIT_REFUSED
    return _print_outcome(outcome)


def cmd_run(args: argparse.Namespace) -> int:
    """The updater unit's job: recover from a cut, then the agent's request, if any."""
    outcomes = _updater(args, need_keys=False).run(
        args.request, lambda: trusted_keys(args.pubkey, args.keys_dir))
    codes = [_print_outcome(outcome) for outcome in outcomes]
    return codes[-1] if codes else 0


def cmd_recover(args: argparse.Namespace) -> int:
    outcome = _updater(args, need_keys=False).recover()
    if outcome is None:
        print(_("nothing to recover"))
        return 0
    return _print_outcome(outcome)


def cmd_adopt(args: argparse.Namespace) -> int:
    """install.sh's last step: the release it built becomes complete and current."""
    releases = Releases(args.root)
    if not (releases.path(args.version) / "bin" / "edgeagent").exists():
        _err(_("no release {version} under {folder}").format(version=args.version,
                                                              folder=releases.dir))
        return 2
    legacy = releases.adopt_legacy_venv(args.root / "venv")
    if legacy is not None:
        print(_("the earlier install in {folder} is release {version}").format(
            folder=args.root / "venv", version=legacy))
    wheels = sorted(w.name for w in args.wheelhouse.glob("*.whl")) if args.wheelhouse else []
    releases.mark_complete(args.version, wheels)
    releases.switch_to(args.version)
    releases.prune(set())
    print(f"current -> releases/{args.version}")
    return 0


def _key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pubkey", type=Path, help=_("trust only this public key (PEM)"))
    parser.add_argument("--keys-dir", type=Path,
                        help=_("trusted public keys (default {path}, or "
                               "$EDGEAGENT_UPDATE_KEYS)").format(path=UPDATE_KEYS_DIR))


def _apply_options(parser: argparse.ArgumentParser) -> None:
    _key_options(parser)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                        help=_("where releases/ and current live (default {path})").format(
                            path=DEFAULT_ROOT))
    parser.add_argument("--unit", default="edgeagent.service", help=_("the unit to restart"))
    parser.add_argument("--config", "-c", type=Path,
                        default=Path("/etc/edgeagent/edgeagent.toml"),
                        help=_("the kit's config: control.socket, updates.update_health_s and "
                               "updates.keys_dir unless given here"))
    parser.add_argument("--socket", type=Path, help=_("the agent's control socket (health)"))
    parser.add_argument("--health-s", type=float,
                        help=_("how long the new release has to become healthy "
                               "(default: updates.update_health_s, 120)"))
    parser.add_argument("--report", type=Path,
                        default=Path("/var/lib/edgeagent/update-result.json"),
                        help=_("where the outcome is written for the agent to publish"))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    update = sub.add_parser("update", help=_("signed update bundles: build, verify, apply"))
    update_sub = update.add_subparsers(dest="update_command", metavar="ACTION", required=True)

    build = update_sub.add_parser("build", help=_("a signed bundle from a wheelhouse"))
    build.add_argument("--key", type=Path, required=True, help=_("release private key (PEM)"))
    build.add_argument("--out", type=Path, required=True, help=_("the bundle file to write"))
    build.add_argument("--wheelhouse", type=Path,
                       help=_("a directory of wheels or an offline package .tar.gz (default: "
                              "the newest dist/edgeagent-*.tar.gz)"))
    build.add_argument("--version", help=_("bundle version (default: the edgeagent wheel's)"))
    build.add_argument("--min-version", default="0.0.0",
                       help=_("oldest installed version it may be applied on (default 0.0.0)"))
    build.set_defaults(func=cmd_build)

    verify = update_sub.add_parser("verify", help=_("check a bundle; exit 1 with the reason"))
    verify.add_argument("file", type=Path, help=_("the update bundle"))
    _key_options(verify)
    verify.add_argument("--allow-downgrade", action="store_true",
                        help=_("accept a bundle older than the installed version"))
    verify.add_argument("--root", type=Path,
                        help=_("take the installed version from ROOT/current"))
    verify.add_argument("--installed-version", help=argparse.SUPPRESS)
    verify.set_defaults(func=cmd_verify)

    apply = update_sub.add_parser("apply",
                                  help=_("install, switch, restart, roll back if unhealthy"))
    apply.add_argument("file", type=Path, help=_("the update bundle"))
    apply.add_argument("--allow-downgrade", action="store_true",
                       help=_("accept a bundle older than the installed version"))
    _apply_options(apply)
    apply.set_defaults(func=cmd_apply)

    run = update_sub.add_parser("run", help=_("the updater unit: recover, then the agent's "
                                              "request (update-request.json), if any"))
    _apply_options(run)
    run.add_argument("--request", type=Path, default=Path("/var/lib/edgeagent") / REQUEST,
                     help=_("the request file the agent writes"))
    run.set_defaults(func=cmd_run)

    recover = update_sub.add_parser("recover", help=_("after a cut: back to the last good release"))
    _apply_options(recover)
    recover.set_defaults(func=cmd_recover)

    adopt = update_sub.add_parser("adopt", help=_(
        "the offline installer's last step: mark ROOT/releases/VERSION complete, make it current"))
    adopt.add_argument("version", help=_("the release under ROOT/releases/ to make current"))
    adopt.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                       help=_("where releases/ and current live (default {path})").format(
                            path=DEFAULT_ROOT))
    adopt.add_argument("--wheelhouse", type=Path, help=_("the wheels the release was built from"))
    adopt.set_defaults(func=cmd_adopt)
