"""`watch`, `test-alarm`, `outbox`, `bundle` and doctor's run: the technician's commands.

Each asks the running daemon over its control socket first (live health,
no second claim on the hardware) and falls back to working standalone when
no daemon runs. Output is for people by default (colour only on a TTY,
progress on stderr only on a TTY) and JSON with `--json`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import IO, Any

from edgeagent.config import AgentConfig, load_config, resolve_config_path
from edgeagent.config_path import CONFIG_HELP
from edgeagent.control import ControlClient
from edgeagent.doctor import DoctorContext, render_json, render_text, run_doctor
from edgeagent.doctor.alarm_drill import direct_test_alarm, platform_reply_topic
from edgeagent.doctor.bundle import DEFAULT_LOG_LINES, bundle_parts, collect_logs, write_bundle
from edgeagent.doctor.mqtt_probe import MqttProbe, ProbeError
from edgeagent.doctor.outbox_reader import OutboxReader, OutboxUnreadable
from edgeagent.errors import ConfigError, DaemonUnreachable
from edgeagent.i18n import _, display_width, localize, untranslated
from edgeagent.models import Severity
from edgeagent.mqtt_link import BrokerAddress

EXIT_OK, EXIT_WARN, EXIT_FAIL = 0, 1, 2


def use_colour(stream: IO[str]) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


class Progress:
    """One self-erasing status line on stderr, only on a TTY; silent in pipes and logs."""

    FRAMES = "|/-\\"

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._n = 0

    def update(self, what: str) -> None:
        if not self.enabled:
            return
        self._n += 1
        sys.stderr.write(f"\r\033[K{self.FRAMES[self._n % 4]} {what}...")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self._n:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _err(message: str) -> None:
    print(f"edgeagent: {message}", file=sys.stderr)


def _load(args: argparse.Namespace) -> AgentConfig | None:
    path = resolve_config_path(args.config)
    try:
        return load_config(path)
    except ConfigError as exc:
        _err(_("config error: {reason}").format(reason=exc))
        return None


def _socket(args: argparse.Namespace, config: AgentConfig | None) -> str:
    if getattr(args, "socket", None):
        return str(args.socket)
    return str(config.control.socket if config else AgentConfig().control.socket)


def _live_status(path: str) -> tuple[dict[str, Any] | None, str]:
    try:
        return ControlClient(path, timeout=3.0).request({"cmd": "status"}), ""
    except DaemonUnreachable as exc:
        return None, exc.reason
    except (RuntimeError, ValueError) as exc:
        return None, _("bad answer: {error}").format(error=exc)


# -- doctor -----------------------------------------------------------------------------


def run_doctor_command(args: argparse.Namespace, path: str | None) -> int:
    """`edgeagent doctor` after its header (edgeagent.cli.doctor prints that first)."""
    progress = Progress(None if not args.json else False)
    env = DoctorContext(progress=progress.update, ble_scan_seconds=args.ble_scan_seconds,
                    mqtt_timeout=args.timeout, network=not args.no_network,
                    serial_listen_seconds=args.serial_listen_seconds)
    try:
        config: AgentConfig | None = load_config(path)
    except ConfigError:
        config = None  # doctor reports it as config.valid
    env.socket_path = _socket(args, config)
    env.live, env.live_error = _live_status(env.socket_path)
    try:
        report = run_doctor(path, env)
    finally:
        progress.done()
    if args.json:
        sys.stdout.write(render_json(report))
    else:
        columns = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        sys.stdout.write(render_text(report, colour=use_colour(sys.stdout), columns=columns))
    return report.exit_code


# -- watch ------------------------------------------------------------------------------


def format_line(line: dict[str, Any], *, colour: bool) -> str:
    now = time.strftime("%H:%M:%S")
    payload = line.get("payload") or {}
    if line.get("what") == "reading":
        where = f" [{payload['room']}]" if payload.get("room") else ""
        return (f"{now}  reading  {payload.get('driver')}/{payload.get('device')}{where}  "
                f"{payload.get('sensor')} = {payload.get('value')}")
    source = payload.get("source") or {}
    where = f" [{source['room']}]" if source.get("room") else ""
    reason = (payload.get("data") or {}).get("reason", "")
    text = (f"{now}  EVENT #{payload.get('seq')}  {payload.get('kind')}/{payload.get('type')} "
            f"{payload.get('severity')}{where}" + (f"  {reason}" if reason else ""))
    if colour and payload.get("kind") == "alert":
        red = payload.get("severity") == "critical"
        return ("\033[31m" if red else "\033[33m") + text + "\033[0m"
    return text


def cmd_watch(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None and not args.socket:
        return EXIT_FAIL
    flt = {k: v for k, v in (("driver", args.driver), ("room", args.room), ("type", args.type))
           if v}
    colour = use_colour(sys.stdout)
    dropped = 0
    try:
        for line in ControlClient(_socket(args, config)).stream(
                {"cmd": "subscribe", "filter": flt}):
            if "what" not in line:
                if not line.get("ok"):
                    _err(localize(str(line.get("error"))))
                    return EXIT_FAIL
                if sys.stderr.isatty():
                    print(_("watching {socket}{filter}; Ctrl-C to stop").format(
                        socket=_socket(args, config), filter=f" ({flt})" if flt else ""),
                        file=sys.stderr)
                continue
            if line.get("dropped", 0) > dropped:
                print(_("({count} lines dropped: this terminal is slower than the home)")
                      .format(count=line["dropped"] - dropped), file=sys.stderr)
                dropped = line["dropped"]
            print(json.dumps(line) if args.json else format_line(line, colour=colour),
                  flush=True)
    except DaemonUnreachable as exc:
        _err(_("cannot watch: {reason}").format(reason=localize(exc.reason)))
        return EXIT_FAIL
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `edgeagent watch | head`: the reader left, not an error
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    _err(_("the daemon closed the connection"))
    return EXIT_OK


# -- test-alarm -------------------------------------------------------------------------


class ReplyWaiter:
    """Subscribes to the platform's reply topic before the alarm is sent (no race)."""

    def __init__(self, config: AgentConfig, timeout: float) -> None:
        self.topic = platform_reply_topic(config)
        self.probe = MqttProbe(config.mqtt, BrokerAddress.parse(config.mqtt.urls[0]),
                               f"edgeagent-{config.home.id}-testwait", timeout=timeout)
        rc = self.probe.connect()
        if rc.is_failure:
            raise ProbeError(f"broker refused: {rc.getName()}")
        self.probe.subscribe(self.topic)

    def wait(self, event_id: str, timeout: float) -> dict[str, Any] | None:
        def match() -> dict[str, Any] | None:
            for msg in self.probe.messages:
                try:
                    doc = json.loads(msg.payload)
                except ValueError:
                    continue
                if isinstance(doc, dict) and event_id in (doc.get("id"), doc.get("event_id")):
                    return doc
            return None

        cond = self.probe.message_arrived
        with cond:
            cond.wait_for(lambda: match() is not None, timeout)
            return match()

    def close(self) -> None:
        self.probe.close()


def _test_alarm_via_daemon(path: str, request: dict[str, Any], timeout: float,
                           say: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"mode": "daemon", "acked": False,
                              "error": "the daemon closed the connection before the PUBACK"}
    for answer in ControlClient(path).stream(request, read_timeout=timeout + 10):
        stage = answer.get("stage")
        result.update({k: answer[k] for k in ("seq", "id") if k in answer})
        if not answer.get("ok"):
            result["error"] = answer.get("error")
            break
        if stage == "stored":
            say(_("stored as event #{seq} ({id}); link {link}; waiting for the broker's "
                  "PUBACK").format(seq=answer["seq"], id=answer["id"], link=answer.get("mqtt")))
        elif stage == "acked":
            result.update(acked=True, after_s=answer.get("after_s"))
            result.pop("error", None)
            break
    return result


def cmd_test_alarm(args: argparse.Namespace) -> int:  # noqa: C901, PLR0912 - daemon or direct path, each with its own refusal and exit code, kept in one readable flow
    config = _load(args)
    if config is None:
        return EXIT_FAIL
    progress = Progress(None if not args.json else False)

    def say(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr, flush=True)

    waiter: ReplyWaiter | None = None
    if args.wait:
        try:
            waiter = ReplyWaiter(config, min(args.timeout, 10.0))
        except (ProbeError, OSError, ValueError, ConfigError) as exc:
            _err(_("--wait: cannot listen for the platform's reply: {error}").format(error=exc))
            return EXIT_FAIL
    try:
        request = {"cmd": "test-alarm", "severity": args.severity, "timeout": args.timeout,
                   "note": args.note}
        path = _socket(args, config)
        try:
            result = _test_alarm_via_daemon(path, request, args.timeout, say)
        except DaemonUnreachable as exc:
            if exc.denied:
                _err(_("cannot reach the daemon: {reason}").format(reason=localize(exc.reason)))
                return EXIT_FAIL
            say(_("daemon not running ({reason}): publishing directly").format(
                reason=localize(exc.reason)))
            progress.update(_("publishing the test alarm"))
            result = direct_test_alarm(config, Severity(args.severity), args.note,
                                       timeout=args.timeout)
            progress.done()
        code = EXIT_OK if result.get("acked") else EXIT_FAIL
        if result.get("acked"):
            say(_("broker acknowledged test alarm #{seq} after {seconds} s").format(
                seq=result["seq"], seconds=result["after_s"]))
        else:
            say(_("test alarm NOT acknowledged: {error}").format(
                error=localize(str(result.get("error")))))
        if waiter is not None and result.get("acked"):
            say(_("waiting up to {seconds:g} s for the platform's reply on {topic}").format(
                seconds=args.wait_timeout, topic=waiter.topic))
            progress.update(_("waiting for the platform"))
            reply = waiter.wait(str(result["id"]), args.wait_timeout)
            progress.done()
            result["platform_reply"] = reply
            if reply is None:
                say(_("no reply from the platform (it may not support test-alarm replies)"))
                code = EXIT_WARN
            else:
                say(_("platform replied: {reply}").format(reply=json.dumps(reply)))
    finally:
        if waiter is not None:
            waiter.close()
    if args.json:
        print(json.dumps(result, default=str))
    return code


# -- outbox -----------------------------------------------------------------------------


def _config_and_reader(args: argparse.Namespace) -> tuple[AgentConfig, OutboxReader] | None:
    """The config and a read-only view of its outbox, or None (the error already said)."""
    config = _load(args)
    if config is None:
        return None
    try:
        return config, OutboxReader(config.outbox.path)
    except OutboxUnreadable as exc:
        _err(_("outbox: {error}").format(error=exc))
        return None


def cmd_outbox_stats(args: argparse.Namespace) -> int:
    opened = _config_and_reader(args)
    if opened is None:
        return EXIT_FAIL
    config, reader = opened
    with reader:
        stats = reader.stats(config.outbox.max_bytes)
    if args.json:
        print(json.dumps(stats))
        return EXIT_OK
    oldest = stats["oldest_pending_created"]
    age = _(" (stored {seconds:.0f} s ago)").format(seconds=time.time() - oldest) if oldest else ""
    rows = [
        (_("pending"), f"{stats['pending']}  "
         + "  ".join(f"{k}={v}" for k, v in stats["pending_by_class"].items())),
        (_("oldest pending"), f"{stats['oldest_pending_ts'] or '-'}{age}"),
        (_("seq"), _("last {last}, last delivered {delivered}, delivered kept {kept}, "
                     "high-water mark {high}").format(
            last=stats["last_seq"], delivered=stats["last_delivered_seq"],
            kept=stats["delivered_kept"], high=stats["high_water_seq"] or "-")),
    ]
    if stats["salvage"]:
        saved = stats["salvage"]
        unread = _("unknown") if saved["unsalvaged"] is None else saved["unsalvaged"]
        rows.append((_("salvaged"), _("{salvaged} re-imported, {unread} unreadable, from "
                                      "{source} ({at})").format(
            salvaged=saved["salvaged"], unread=unread, source=saved["from"], at=saved["at"])))
    rows.append((_("evicted"), f"{stats['evicted_total']}  "
                 + "  ".join(f"{k}={v}" for k, v in stats["evicted"].items())))
    rows.append((_("size"), _("{stored} of {limit} bytes").format(
        stored=stats["stored_bytes"], limit=stats["max_bytes"])))
    if stats["quarantined"]:
        rows.append((_("quarantined"), f"{stats['quarantined']}  seq "
                     + ", ".join(map(str, stats["quarantined_seqs"]))
                     + "  (outbox export --quarantined)"))
    print(_("outbox {path}").format(path=stats["path"]))
    width = max(display_width(label) for label, _value in rows) + 1
    for label, value in rows:
        print(f"  {label}{' ' * (width - display_width(label))}{value}")
    return EXIT_OK



def cmd_outbox_export(args: argparse.Namespace) -> int:
    opened = _config_and_reader(args)
    if opened is None:
        return EXIT_FAIL
    reader = opened[1]
    progress = Progress()
    out: IO[str] = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    count = 0
    started = time.monotonic()
    try:
        with reader:
            for body in reader.export(args.since, quarantined=args.quarantined):
                out.write(body + "\n")
                count += 1
                if count % 1000 == 0 and time.monotonic() - started > 1.0:
                    progress.update(_("exported {count} events").format(count=count))
    finally:
        progress.done()
        if out is not sys.stdout:
            out.close()
    if args.output or not sys.stdout.isatty():
        print(_("exported {count} events").format(count=count), file=sys.stderr)
    return EXIT_OK


def cmd_outbox_purge(args: argparse.Namespace) -> int:
    if not args.delivered:
        _err(_("outbox purge needs --delivered (only delivered history can be purged; "
               "pending events are never deleted by hand)"))
        return EXIT_FAIL
    config = _load(args)
    if config is None:
        return EXIT_FAIL
    try:
        purged = int(ControlClient(_socket(args, config)).request(
            {"cmd": "outbox-purge"})["purged"])
        via = "daemon"
    except DaemonUnreachable as exc:
        if exc.denied:
            _err(_("cannot reach the daemon: {reason}").format(reason=localize(exc.reason)))
            return EXIT_FAIL
        if not Path(config.outbox.path).exists():
            _err(_("outbox: {path} does not exist").format(path=config.outbox.path))
            return EXIT_FAIL
        from edgeagent.clock import boot_id  # noqa: PLC0415
        from edgeagent.outbox import Outbox  # noqa: PLC0415

        outbox = Outbox(config.outbox.path, config.home.id, boot_id=boot_id(),
                        max_bytes=config.outbox.max_bytes)
        try:
            purged = outbox.purge_delivered()
        finally:
            outbox.close()
        via = "direct"
    if args.json:
        print(json.dumps({"purged": purged, "via": via}))
    else:
        print(_("purged {count} delivered events ({via})").format(count=purged, via=via))
    return EXIT_OK


# -- bundle -----------------------------------------------------------------------------


def cmd_bundle(args: argparse.Namespace) -> int:
    path = resolve_config_path(args.config)
    config = _load(args)
    if config is None:
        return EXIT_FAIL
    progress = Progress(None if not args.json else False)
    env = DoctorContext(progress=progress.update, network=not args.no_network,
                    ble_scan_seconds=args.ble_scan_seconds)
    env.socket_path = _socket(args, config)
    env.live, env.live_error = _live_status(env.socket_path)
    try:
        with untranslated():  # the bundle is read by support and by tools: English
            report = run_doctor(path, env)
        progress.update(_("collecting logs"))
        outbox: dict[str, Any] | None
        try:
            with OutboxReader(config.outbox.path) as reader:
                outbox = reader.stats(config.outbox.max_bytes)
        except OutboxUnreadable as exc:
            outbox = {"error": str(exc)}
        logs = collect_logs(args.lines, args.log_file)
        doc = bundle_parts(config, report.as_dict(), outbox, env.live, logs)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        output = Path(args.output or f"edgeagent-bundle-{config.home.id}-{stamp}.tar.gz")
        write_bundle(doc, output)
    finally:
        progress.done()
    size = output.stat().st_size
    if args.json:
        print(json.dumps({"path": str(output), "bytes": size, "doctor_exit": report.exit_code}))
    else:
        print(_("wrote {path} ({size} bytes; doctor exit {code}); secrets are redacted, send "
                "this file to support").format(path=output, size=size, code=report.exit_code))
    return EXIT_OK


# -- registration -----------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, socket: bool = True) -> None:
    parser.add_argument("--config", "-c", help=_(CONFIG_HELP))
    if socket:
        parser.add_argument("--socket", help=_("control socket (default: control.socket in the "
                                               "config)"))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    watch = sub.add_parser(
        "watch", help=_("live readings and events from the running daemon"),
        description=_("Stream every reading and event of the running agent; walk through the "
                      "home and see each sensor fire. Filters combine (AND)."))
    _common(watch)
    watch.add_argument("--driver", help=_("only this driver (its `name`)"))
    watch.add_argument("--room", help=_("only this room"))
    watch.add_argument("--type", help=_("only this sensor (readings) or event type"))
    watch.add_argument("--json", action="store_true", help=_("one JSON object per line"))
    watch.set_defaults(func=cmd_watch)

    alarm = sub.add_parser(
        "test-alarm", help=_("send a test alert end to end and wait for the broker's PUBACK"),
        description=_("Store an alert of type `test` in the outbox and report when the broker "
                      "acknowledged it. Goes through the running daemon; without one, publishes "
                      "directly. Exit 0 acknowledged, 1 acknowledged but no platform reply "
                      "(--wait), 2 not acknowledged."))
    _common(alarm)
    alarm.add_argument("--severity", choices=["info", "warning"], default="info",
                       help=_("the test alert's severity (default info)"))
    alarm.add_argument("--note", default="", help=_("free text carried in the alert's data"))
    alarm.add_argument("--timeout", type=float, default=30.0,
                       help=_("how long to wait for the PUBACK (s)"))
    alarm.add_argument("--wait", action="store_true",
                       help=_("also wait for the platform's reply on "
                              "<prefix>/<home>/test-alarm/reply"))
    alarm.add_argument("--wait-timeout", type=float, default=60.0,
                       help=_("with --wait: how long to wait for the platform's reply (s)"))
    alarm.add_argument("--json", action="store_true", help=_("print one JSON object"))
    alarm.set_defaults(func=cmd_test_alarm)

    outbox = sub.add_parser("outbox", help=_("the offline buffer: stats, export, purge"))
    osub = outbox.add_subparsers(dest="outbox_command", metavar="ACTION")
    stats = osub.add_parser("stats", help=_("depth by class, oldest undelivered, evictions"))
    _common(stats, socket=False)
    stats.add_argument("--json", action="store_true", help=_("print one JSON object"))
    stats.set_defaults(func=cmd_outbox_stats)
    export = osub.add_parser("export", help=_("stored events as JSON lines (seq order)"))
    _common(export, socket=False)
    export.add_argument("--since", type=int, default=0, metavar="SEQ",
                        help=_("only events with seq > SEQ"))
    export.add_argument("--output", "-o", help=_("file (default: stdout)"))
    export.add_argument("--quarantined", action="store_true",
                        help=_("only the events set aside because the broker would not take them"))
    export.set_defaults(func=cmd_outbox_export)
    purge = osub.add_parser("purge", help=_("delete delivered history now"))
    _common(purge)
    purge.add_argument("--delivered", action="store_true",
                       help=_("required: purge delivered events (pending ones are never purged)"))
    purge.add_argument("--json", action="store_true", help=_("print one JSON object"))
    purge.set_defaults(func=cmd_outbox_purge)

    bundle = sub.add_parser(
        "bundle", help=_("write a support bundle (secrets redacted) to send to support"),
        description=_("One file with the config (secrets redacted), doctor's JSON, the last "
                      "log lines (journald, else --log-file) and outbox stats. .json output "
                      "gives one JSON document, anything else a tar.gz."))
    _common(bundle)
    bundle.add_argument("--output", "-o", help=_("file (default: edgeagent-bundle-<home>-<time>"
                                                 ".tar.gz)"))
    bundle.add_argument("--lines", type=int, default=DEFAULT_LOG_LINES,
                        help=_("log lines to include"))
    bundle.add_argument("--log-file", help=_("the agent's log file, when not under journald"))
    bundle.add_argument("--no-network", action="store_true",
                        help=_("skip doctor's active MQTT probes"))
    bundle.add_argument("--ble-scan-seconds", type=float, default=5.0,
                        help=_("how long doctor listens for each BLE monitor (s)"))
    bundle.add_argument("--json", action="store_true",
                        help=_("print the bundle's path and size as JSON"))
    bundle.set_defaults(func=cmd_bundle)


__all__ = ["register"]
