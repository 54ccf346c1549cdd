"""`install`, `uninstall`, `identity`, `pair`: the technician's visit, in their language."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from edgeagent.config import load_config, resolve_config_path
from edgeagent.errors import ConfigError
from edgeagent.i18n import _, set_language
from edgeagent.provision import identity as ident
from edgeagent.provision import install as inst
from edgeagent.provision import pair as pairing
from edgeagent.provision.system import HostSystem, RootSystem, System, SystemError_

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _lang(args: argparse.Namespace) -> None:
    set_language(getattr(args, "lang", None))


def _err(message: str) -> None:
    print(f"edgeagent: {message}", file=sys.stderr)


def _system(args: argparse.Namespace) -> System:
    return RootSystem(Path(args.root)) if args.root else HostSystem()


def _needs_root(args: argparse.Namespace) -> bool:
    if args.root or getattr(args, "dry_run", False) or os.geteuid() == 0:
        return False
    _err(_("this changes the system: run it as root (sudo), or use --root DIR"))
    return True


def _print_changes(changes: list[inst.Change], dry_run: bool) -> int:
    for change in changes:
        print(change.render())
    changed = sum(c.changed for c in changes)
    if dry_run:
        print(_("dry run: {n} of {total} steps would change something; nothing was "
                "changed").format(n=changed, total=len(changes)))
    elif changed:
        print(_("{n} changed, {m} unchanged").format(n=changed, m=len(changes) - changed))
    else:
        print(_("everything unchanged: already installed"))
    return EXIT_OK


def cmd_install(args: argparse.Namespace) -> int:
    _lang(args)
    if _needs_root(args):
        return EXIT_USAGE
    try:
        installer = inst.Installer(_system(args), template=args.config_template,
                                   home=args.home, executable=args.executable,
                                   restrict_ip=args.restrict_ip, allow_ip=args.allow_ip,
                                   update_key=args.update_key)
        changes = installer.install(dry_run=args.dry_run)
    except (inst.InstallError, SystemError_, OSError) as exc:
        _err(_("install failed: {reason}").format(reason=exc))
        return EXIT_FAIL
    code = _print_changes(changes, args.dry_run)
    if not args.dry_run and any(c.changed for c in changes):
        print(_("next: edit {config}, run `edgeagent identity create`, `edgeagent pair`, "
                "then `systemctl start edgeagent`").format(config=inst.CONFIG_FILE))
    return code


def cmd_uninstall(args: argparse.Namespace) -> int:
    _lang(args)
    if _needs_root(args):
        return EXIT_USAGE
    try:
        changes = inst.uninstall(_system(args), purge=args.purge, dry_run=args.dry_run)
    except (SystemError_, OSError) as exc:
        _err(_("uninstall failed: {reason}").format(reason=exc))
        return EXIT_FAIL
    return _print_changes(changes, args.dry_run)


# --- identity ------------------------------------------------------------------------------


def _identity_paths(args: argparse.Namespace) -> tuple[str, Path, Path, Path, Path] | None:
    """(home id, key, csr, cert, ca) from the config, under --root when given."""
    system = _system(args)
    config_path = args.config or (str(system.path(inst.CONFIG_FILE)) if args.root
                                  else resolve_config_path(None))
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        _err(_("config error: {reason}").format(reason=exc))
        return None
    mqtt = config.mqtt
    home = args.home or config.home.id

    def where(value: Path | None, default: str) -> Path:
        absolute = str(value) if value is not None else default
        return system.path(absolute) if args.root else Path(absolute)

    return (home, where(mqtt.key_file, ident.KEY_FILE), where(None, ident.CSR_FILE),
            where(mqtt.cert_file, ident.CERT_FILE), where(mqtt.ca_file, ident.CA_FILE))


def cmd_identity_create(args: argparse.Namespace) -> int:
    _lang(args)
    paths = _identity_paths(args)
    if paths is None:
        return EXIT_USAGE
    home, key, csr, _cert, _ca = paths
    try:
        created, pem = ident.create_identity(home, key, csr)
    except (ident.IdentityError, OSError) as exc:
        _err(_("identity create failed: {reason}").format(reason=exc))
        return EXIT_FAIL
    system = _system(args)
    account = system.account(inst.USER)
    if account is not None and system.can_chown:
        system.chown(key, account.uid, account.gid)
    if created:
        print(_("new private key {path} (0600, stays on this kit)").format(path=key))
    else:
        print(_("kept the existing private key {path}").format(path=key))
    print(_("certificate signing request for home {home}: {path}").format(home=home, path=csr))
    print(_("send the request (not the key) to the platform's CA, then run "
            "`edgeagent identity install CERT`"))
    sys.stdout.write(pem.decode())
    return EXIT_OK


def cmd_identity_install(args: argparse.Namespace) -> int:
    _lang(args)
    paths = _identity_paths(args)
    if paths is None:
        return EXIT_USAGE
    home, key, _csr, cert_dest, ca = paths
    try:
        data = Path(args.cert).read_bytes()
    except OSError as exc:
        _err(_("cannot read {path}: {reason}").format(path=args.cert, reason=exc.strerror))
        return EXIT_USAGE
    try:
        info = ident.install_certificate(data, cert_dest, key, ca, home)
    except ident.IdentityError as exc:
        _err(_("certificate refused: {reason}").format(reason=exc))
        return EXIT_FAIL
    print(_("installed {path}: home {home}, issued by {issuer}, valid until {date}").format(
        path=cert_dest, home=info.subject_cn, issuer=info.issuer,
        date=info.not_after.strftime("%Y-%m-%d")))
    return EXIT_OK


# --- pair ----------------------------------------------------------------------------------


def _choose(candidates: list[pairing.Candidate]) -> pairing.Candidate | None:
    for n, c in enumerate(candidates, 1):
        titles = ", ".join(_(pairing.PROFILE_WORDS[p]) if p in pairing.PROFILE_WORDS else p
                           for p in c.profiles)
        print(f"  [{n}] {c.address}  {c.name or '?':<16} RSSI {c.rssi:>4} dBm  "
              f"{titles}  ({', '.join(c.services)})")
    while True:
        try:
            answer = input(_("Pick a monitor [1-{n}], or q to quit: ").format(
                n=len(candidates))).strip()
        except EOFError:
            return None
        if answer.lower() in ("q", ""):
            return None
        if answer.isdigit() and 1 <= int(answer) <= len(candidates):
            return candidates[int(answer) - 1]
        print(_("please type a number from the list"))


async def _pair(args: argparse.Namespace, config_path: Path, text: str) -> int:  # noqa: C901 - the technician's pairing dialogue: scan, choose, connect, confirm, write, in order
    address = args.address
    if address is None:
        print(_("scanning for {s:g} s...").format(s=args.scan_timeout))
        candidates = await pairing.scan(args.backend, args.scan_timeout, args.adapter)
        if not candidates:
            _err(_("no health monitor found nearby: wake it (take a measurement or press "
                   "its button), bring it closer, and scan again"))
            return EXIT_FAIL
        chosen = _choose(candidates)
        if chosen is None:
            return EXIT_FAIL
        address = chosen.address
    address = address.upper()
    already = pairing.paired_addresses(text)
    if address in already:
        raise pairing.PairError(_("{address} is already in the config as {id!r}").format(
            address=address, id=already[address]))
    print(_("connecting to {address}...").format(address=address))
    profiles = await pairing.discover_profiles(address, args.backend)
    device_id = args.id or pairing.next_device_id(text, profiles)
    entry = pairing.device_entry(address, profiles, device_id, room=args.room)
    print(_("take a measurement on the device now (waiting up to {s:g} s)").format(
        s=args.measure_timeout))
    result = await pairing.probe(entry, args.backend, args.measure_timeout)
    if "battery" in profiles:
        if result.battery_pct is None:
            _err(_("could not read the battery level of {address}").format(address=address))
            return EXIT_FAIL
        print(_("battery: {pct}%").format(pct=result.battery_pct))
    if result.measurement is None:
        _err(_("no measurement from {address} within {s:g} s: nothing was written").format(
            address=address, s=args.measure_timeout))
        return EXIT_FAIL
    print(_("measurement: {what}").format(what=pairing.describe(result.measurement)))
    new_text = pairing.add_device(text, entry, backend_name=args.backend)
    if not args.yes:
        try:
            answer = input(_("Add {id} ({address}) to {path}? [y/N] ").format(
                id=device_id, address=address, path=config_path))
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes", "是", "好"):
            print(_("nothing was written"))
            return EXIT_FAIL
    pairing.write_config(config_path, new_text)
    print(_("added {id} to {path}; apply it with `systemctl reload edgeagent`").format(
        id=device_id, path=config_path))
    return EXIT_OK


def cmd_pair(args: argparse.Namespace) -> int:
    _lang(args)
    path = args.config or resolve_config_path(None)
    if path is None:
        _err(_("no config file: run `edgeagent install` first or pass --config"))
        return EXIT_USAGE
    config_path = Path(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        _err(_("cannot read {path}: {reason}").format(path=path, reason=exc.strerror))
        return EXIT_USAGE
    try:
        return asyncio.run(_pair(args, config_path, text))
    except pairing.PairError as exc:
        _err(str(exc))
        return EXIT_FAIL


# --- registration --------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a --lang given before the command (`edgeagent --lang zh_CN install`) survives.
    parser.add_argument("--lang", default=argparse.SUPPRESS,
                        help=_("language of the messages (zh_CN, en; default: $LANG)"))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    install = sub.add_parser("install", help=_("install user, directories and the systemd unit "
                                               "(root; idempotent)"))
    install.add_argument("--root", help=_("install into DIR instead of / (tests, image builds)"))
    install.add_argument("--dry-run", action="store_true", help=_("print the plan, change nothing"))
    install.add_argument("--config-template", default="default",
                         help=_("config to start from: {names}").format(
                             names=", ".join(inst.template_names())))
    install.add_argument("--home", help=_("home id to put in a new config"))
    install.add_argument("--executable", help=argparse.SUPPRESS)
    install.add_argument("--restrict-ip", action="store_true",
                         help=_("also install a drop-in allowing IP traffic only to loopback, "
                                "the configured brokers (resolved now) and the DNS servers"))
    install.add_argument("--allow-ip", action="append", default=[], metavar="CIDR",
                         help=_("with --restrict-ip: one more address or network to allow"))
    install.add_argument("--update-key", type=Path, metavar="PUBLIC.pem",
                         help=_("trust this release key for updates "
                                "(/etc/edgeagent/update-keys/release.pem)"))
    _common(install)
    install.set_defaults(func=cmd_install)

    uninstall = sub.add_parser("uninstall", help=_("remove the unit; keep config and outbox "
                                                   "unless --purge"))
    uninstall.add_argument("--root",
                           help=_("uninstall from DIR instead of / (tests, image builds)"))
    uninstall.add_argument("--purge", action="store_true",
                           help=_("also remove config, identity, outbox and the account"))
    uninstall.add_argument("--dry-run", action="store_true",
                           help=_("print the plan, change nothing"))
    _common(uninstall)
    uninstall.set_defaults(func=cmd_uninstall)

    identity = sub.add_parser("identity", help=_("the kit's TLS key and certificate"))
    identity_sub = identity.add_subparsers(dest="identity_command", metavar="ACTION")
    create = identity_sub.add_parser("create", help=_("make the device key (if none) and a CSR"))
    install_cert = identity_sub.add_parser("install", help=_("install a signed certificate "
                                                             "after checking it"))
    install_cert.add_argument("cert", metavar="CERT",
                              help=_("the signed certificate (PEM) the platform returned"))
    for p in (create, install_cert):
        p.add_argument("--root", help=_("work under DIR instead of / (tests, image builds)"))
        p.add_argument("--config", "-c", help=_("the agent's config (default: the usual chain)"))
        p.add_argument("--home", help=_("home id (default: the config's)"))
        _common(p)
    create.set_defaults(func=cmd_identity_create)
    install_cert.set_defaults(func=cmd_identity_install)

    pair = sub.add_parser("pair",
                          help=_("find a BLE health monitor, test it, add it to the config"))
    pair.add_argument("--address", help=_("skip the scan and pair this address"))
    pair.add_argument("--config", "-c",
                      help=_("the config to add the monitor to (default: the usual chain)"))
    pair.add_argument("--yes", "-y", action="store_true", help=_("write without asking"))
    pair.add_argument("--id", help=_("device id (default: bp-1, hr-1...)"))
    pair.add_argument("--room", help=_("the room the monitor is used in (e.g. bedroom)"))
    pair.add_argument("--scan-timeout", type=float, default=10.0,
                      help=_("how long to scan for monitors (s)"))
    pair.add_argument("--measure-timeout", type=float, default=60.0,
                      help=_("how long to wait for a measurement taken on the monitor (s)"))
    pair.add_argument("--adapter", default="hci0", help=_("the Bluetooth adapter (default hci0)"))
    pair.add_argument("--backend", default="bleak", help=argparse.SUPPRESS)
    _common(pair)
    pair.set_defaults(func=cmd_pair)
