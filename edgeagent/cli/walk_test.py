"""`edgeagent walk-test`: commission a home in one visit.

Lists every configured sensor with its room, ticks each one as the running
agent reports it (the control socket's `subscribe` stream, as `watch`), flags
those still silent when the walk ends (`--minutes`, Enter, or every sensor
fired), then sends a test alarm of each severity through the agent (type
`test`, raised and then resolved, each acknowledged by the broker), and
writes the acceptance report. `--web` shows the same on the technician's
phone: a read-only page behind a one-time token, served only while this runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgeagent.config import AgentConfig, load_config
from edgeagent.config_path import CONFIG_HELP, resolve_config_path
from edgeagent.control import ControlClient
from edgeagent.errors import ConfigError, DaemonUnreachable
from edgeagent.i18n import _, localize
from edgeagent.walktest.report import SEVERITIES, build_report, render_text, write_reports
from edgeagent.walktest.session import AlarmResult, Sensor, WalkSession

EXIT_OK, EXIT_WARN, EXIT_FAIL = 0, 1, 2
EXIT_CODES = {"pass": EXIT_OK, "warn": EXIT_WARN, "fail": EXIT_FAIL}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Follower:
    """Reads the daemon's live stream on a thread and ticks the session; `stop()` ends it."""

    def __init__(self, path: str, session: WalkSession, *, quiet: bool) -> None:
        self.session = session
        self.quiet = quiet
        self.sock = ControlClient(path).subscribe()
        self.all_fired = threading.Event()
        self.lost = ""
        self.ended = threading.Event()
        self.stopping = False
        self._thread = threading.Thread(target=self._run, name="walk-test-feed", daemon=True)

    def start(self) -> Follower:
        self._thread.start()
        return self

    def _tick(self, sensor: Sensor) -> None:
        if self.quiet:
            return
        expected = self.session.expected()
        fired = sum(1 for s in expected if s.fired_at is not None)
        print(f"{self.session.local(sensor.fired_at)}  ✓ {sensor.key:<22} "
              f"[{sensor.room or '-'}]  {sensor.last}  ({fired}/{len(expected)})", flush=True)

    def _run(self) -> None:
        try:
            with self.sock.makefile("rb") as lines:
                for raw in lines:
                    line = json.loads(raw)
                    if "what" not in line:
                        if not line.get("ok"):
                            self.lost = localize(str(line.get("error")))
                            break
                        continue
                    sensor = self.session.observe(line, datetime.now(UTC))
                    if sensor is not None:
                        self._tick(sensor)
                        if self.session.all_fired():
                            self.all_fired.set()
            if not self.lost and not self.stopping:
                self.lost = _("the agent closed the live stream")
        except (OSError, ValueError) as exc:
            if not self.stopping:
                self.lost = str(exc)
        finally:
            self.ended.set()

    def stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self.sock.close()


def _wait_for_enter(done: threading.Event) -> None:
    def read() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.readline()
        done.set()

    threading.Thread(target=read, name="walk-test-enter", daemon=True).start()


def _walk(args: argparse.Namespace, session: WalkSession, follower: Follower) -> None:
    """Block until the walk ends: Enter, `--minutes`, every sensor fired, or the stream lost."""
    done = threading.Event()
    if args.minutes is None:
        _wait_for_enter(done)
    deadline = None if args.minutes is None else time.monotonic() + args.minutes * 60
    while not done.is_set() and not follower.all_fired.is_set() and not follower.ended.is_set():
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        done.wait(0.2 if remaining is None else min(0.2, remaining))
    if follower.all_fired.is_set():
        _say(_("every sensor fired"))


def _send_alarms(args: argparse.Namespace, config: AgentConfig, path: str,
                 session: WalkSession) -> None:
    waiter = None
    if args.wait:
        from edgeagent.cli.diagnostics import ReplyWaiter  # noqa: PLC0415 - only with --wait
        from edgeagent.doctor.mqtt_probe import ProbeError  # noqa: PLC0415

        try:
            waiter = ReplyWaiter(config, min(args.timeout, 10.0))
        except (ProbeError, OSError, ValueError) as exc:
            session.notes.append(_("--wait: cannot listen for the platform's reply: {error}")
                                 .format(error=exc))
    try:
        for severity in SEVERITIES:
            result = AlarmResult(severity)
            session.alarms.append(result)
            _one_alarm(args, path, session, result)
            if waiter is not None and result.stage == "resolved" and result.event_id:
                reply = waiter.wait(result.event_id, args.wait_timeout)
                session.update_alarm(result, platform_reply=reply)
                if reply is None:
                    _say(_("  no reply from the platform for the {severity} test alarm")
                         .format(severity=severity))
    finally:
        if waiter is not None:
            waiter.close()


def _one_alarm(args: argparse.Namespace, path: str, session: WalkSession,
               result: AlarmResult) -> None:
    request = {"cmd": "test-alarm", "severity": result.severity, "resolve": True,
               "timeout": args.timeout, "note": "walk test"}  # in the event: not translated
    try:
        for answer in ControlClient(path).stream(request, read_timeout=2 * args.timeout + 10):
            stage = answer.get("stage")
            if not answer.get("ok"):
                session.update_alarm(result, stage="failed", error=str(answer.get("error")))
                break
            if stage == "stored":
                session.update_alarm(result, stage="stored", seq=answer.get("seq"),
                                     event_id=answer.get("id"))
            elif stage == "acked":
                session.update_alarm(result, stage="acked", after_s=answer.get("after_s"))
            elif stage == "resolved":
                session.update_alarm(result, stage="resolved",
                                     resolved_seq=answer.get("resolved_seq"))
                break
        else:
            session.update_alarm(result, stage="failed",
                                 error=_("the agent closed the connection before the PUBACK"))
    except (DaemonUnreachable, OSError, ValueError) as exc:
        session.update_alarm(result, stage="failed", error=str(exc))
    if result.stage == "resolved":
        _say(_("  {severity} test alarm #{seq}: acknowledged by the broker after {after} s, "
               "resolved (#{resolved})").format(severity=result.severity, seq=result.seq,
                                                after=result.after_s,
                                                resolved=result.resolved_seq))
    else:
        _say(_("  {severity} test alarm NOT confirmed: {error}").format(
            severity=result.severity, error=result.error))


def _start_page(args: argparse.Namespace, snapshot: Any) -> Any:
    from edgeagent.walktest.web import WalkPage, lan_address, terminal_qr  # noqa: PLC0415

    page = WalkPage(snapshot, host=args.bind or lan_address(), port=args.port).start()
    qr = terminal_qr(page.url)
    if qr is not None:
        print(qr, file=sys.stderr)
    else:
        _say(_("(install segno to show this link as a QR code)"))
    _say(_("Phone page (read-only, valid while this runs, at most 30 min): {url}")
         .format(url=page.url))
    return page


def _kit_status(path: str) -> dict[str, Any] | None:
    try:
        return ControlClient(path, timeout=5.0).request({"cmd": "status"})
    except (DaemonUnreachable, RuntimeError, ValueError):
        return None


def cmd_walk_test(args: argparse.Namespace) -> int:  # noqa: C901, PLR0912, PLR0915 - the walk test's steps in the order the technician sees them
    config_path = resolve_config_path(args.config)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        _say(f"edgeagent: {_('config error: {error}').format(error=exc)}")
        return EXIT_FAIL
    path = str(args.socket or config.control.socket)
    try:
        ControlClient(path, timeout=5.0).request({"cmd": "health"})
        session = WalkSession.for_config(config)
        follower = Follower(path, session, quiet=args.json)
    except DaemonUnreachable as exc:
        _say(_("edgeagent: the walk test needs the running agent ({reason}); start it with "
               "`systemctl start edgeagent`").format(reason=localize(exc.reason)))
        return EXIT_FAIL
    try:
        page = _start_page(args, session.snapshot) if args.web else None
    except OSError as exc:
        follower.stop()
        _say(_("edgeagent: cannot serve the phone page: {error}").format(error=exc))
        return EXIT_FAIL
    try:
        expected = session.expected()
        _say(_("Walk test of home {home} ({count} sensors), times in {tz}:").format(
            home=session.home, count=len(expected), tz=session.timezone))
        for sensor in session.sensors:
            _say(f"  {sensor.key:<22} {sensor.type:<14} [{sensor.room or '-'}]"
                 + ("" if sensor.enabled else "  " + _("disabled")))
        if not expected:
            session.notes.append(_("no sensors are configured"))
        _say(_("Walk through the home and set off each sensor; press Enter when done.")
             if args.minutes is None else
             _("Walk through the home and set off each sensor ({minutes:g} min).").format(
                 minutes=args.minutes))
        follower.start()
        try:
            _walk(args, session, follower)
        finally:
            follower.stop()
        if follower.lost:
            session.notes.append(_("live stream lost: {error}").format(error=follower.lost))
        session.set_phase("alarms")
        for sensor in session.silent():
            _say(_("SILENT: {sensor} [{room}] did not fire during the walk").format(
                sensor=sensor.key, room=sensor.room or "-"))
        _say(_("Sending a test alarm of each severity (info, warning, critical), each raised "
               "and then resolved:"))
        _send_alarms(args, config, path, session)
        snapshot = session.snapshot()
        report = build_report(snapshot, _kit_status(path), config_path=config_path,
                              broker=config.mqtt.urls[0], wait=args.wait)
        stamp = datetime.now(UTC).astimezone(session.zone).strftime("%Y%m%dT%H%M%S")
        stem = Path(args.output) / f"walk-test-{config.home.id}-{stamp}"
        files, skipped = write_reports(report, stem)
        notes = [skipped] if skipped else []
        report["notes"] = [*report["notes"], *notes]
        text = render_text(report)
        session.finish(report["result"], text, [str(f) for f in files], notes)
        if args.json:
            print(json.dumps(report, ensure_ascii=False))
        else:
            sys.stdout.write(text)
            _say(_("report written: {files}").format(files=", ".join(map(str, files))))
        return EXIT_CODES[report["result"]]
    except KeyboardInterrupt:
        _say(_("walk test interrupted: no report written"))
        return 130
    finally:
        if page is not None:
            page.stop()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    walk = sub.add_parser(
        "walk-test", help=_("commissioning: tick every sensor, test alarms, acceptance report"),
        description=_("List every configured sensor with its room, tick each one as it fires "
                      "while you walk the home (times in home.timezone), flag those that stayed "
                      "silent, then send a test alarm of each severity (info, warning, critical; "
                      "type test, raised and then resolved) and write the acceptance report "
                      "(JSON, text, PNG when matplotlib is installed). Needs the running agent. "
                      "Exit 0 pass, 1 a sensor stayed silent (or no platform reply with --wait), "
                      "2 a test alarm was not acknowledged."))
    walk.add_argument("--config", "-c", help=_(CONFIG_HELP))
    walk.add_argument("--socket", help=_("control socket (default: control.socket in the config)"))
    walk.add_argument("--minutes", type=float, default=None,
                      help=_("end the walk after N minutes (default: when you press Enter, or "
                             "when every sensor has fired)"))
    walk.add_argument("--output", "-o", default=".",
                      help=_("folder for the report files (default: the current folder)"))
    walk.add_argument("--timeout", type=float, default=30.0,
                      help=_("how long to wait for each broker PUBACK (s)"))
    walk.add_argument("--wait", action="store_true",
                      help=_("also wait for the platform's reply to each test alarm on "
                             "<prefix>/<home>/test-alarm/reply"))
    walk.add_argument("--wait-timeout", type=float, default=60.0,
                      help=_("how long to wait for each platform reply (s)"))
    walk.add_argument("--web", action="store_true",
                      help=_("also show the walk on a read-only phone page (one-time link, shown "
                             "as a QR code; valid while this runs, at most 30 min)"))
    walk.add_argument("--bind", help=_("address for the phone page (default: the LAN interface)"))
    walk.add_argument("--port", type=int, default=0,
                      help=_("port for the phone page (default: any free port)"))
    walk.add_argument("--json", action="store_true",
                      help=_("print the report as JSON (the tick lines are left out)"))
    walk.set_defaults(func=cmd_walk_test)


__all__ = ["register"]
