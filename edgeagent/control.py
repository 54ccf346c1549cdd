"""The local control socket: how `doctor`, `watch`, `test-alarm` and `outbox` talk to the daemon.

A Unix stream socket at `control.socket`, mode 0660: only the agent's user
and group can connect (add a technician account to the agent's group). It
is bound under a temporary name, given its mode, then renamed into place,
so there is no instant at which the final path accepts anyone else.

Protocol: JSON lines. The client sends one object `{"cmd": ...}`, the server
answers `{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`.

- `status`: the daemon's `Agent.status()`.
- `health`: a short liveness summary (drivers' states, MQTT link, uptime).
- `subscribe` (`filter`: driver/room/type): a stream of
  `{"what": "reading"|"event", "payload": ..., "dropped": N}` lines for
  `watch`. A slow client never slows the agent: each subscriber has a
  bounded queue, overflow is dropped and counted (`dropped` in every line).
- `test-alarm` (`severity`: info|warning, `timeout` s): stores an alert of
  type `test` through the normal outbox -> publisher path; answers
  `{"stage": "stored", "seq": ...}` at once and `{"stage": "acked", ...}`
  when the broker's PUBACK is recorded for that seq (or `ok: false` on
  timeout), then closes the connection. At most `TEST_ALARMS_PER_MINUTE`
  are stored a minute (a member of the socket's group must not be able to
  flood the platform with test alerts); more are refused and counted.
  With `resolve: true` (the walk test) the alert is resolved once acknowledged:
  `{"stage": "resolved", "resolved_seq": ...}` follows `acked` when the
  resolution's PUBACK is recorded. `critical` is accepted only this way, so a
  test never leaves an open critical alert at the call centre.
- `outbox-purge`: delete delivered history now (the daemon owns the writer).

At most `MAX_CLIENTS` connections are served at once, so local clients
cannot exhaust the agent's file descriptors. A new client beyond that takes
the place of the oldest one that is waiting without a request; when every
connection is busy, the new one gets an error line and is closed. Both are
counted (`refused` in `status.control` and `health.control`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgeagent.errors import ControlRequestFailed, ControlSocketInUse, DaemonUnreachable
from edgeagent.i18n import N_  # errors go out in English; the CLI shows them with localize()
from edgeagent.ids import uuid7
from edgeagent.models import Draft, Kind, Severity

if TYPE_CHECKING:
    from collections.abc import Sequence

    from edgeagent.clock import Clock
    from edgeagent.config import AgentConfig
    from edgeagent.driver_supervisor import DriverSlot
    from edgeagent.outbox import Outbox
    from edgeagent.outbox_continuity import OutboxFileWatch
    from edgeagent.periodic import PeriodicGuard
    from edgeagent.pipeline import EventPipeline, Listener
    from edgeagent.publisher import Publisher


class ControlledAgent(Protocol):
    """What the control socket uses of the running agent (its public API)."""

    @property
    def config(self) -> AgentConfig: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def outbox_file(self) -> OutboxFileWatch: ...
    @property
    def publisher(self) -> Publisher: ...
    @property
    def pipeline(self) -> EventPipeline: ...
    @property
    def periodic(self) -> PeriodicGuard: ...
    @property
    def started_mono(self) -> float: ...
    @property
    def synced(self) -> bool: ...
    @property
    def slots(self) -> Sequence[DriverSlot]: ...
    @property
    def listeners(self) -> list[Listener]: ...
    def status(self) -> dict[str, Any]: ...

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660
QUEUE_SIZE = 1000
MAX_REQUEST = 64 * 1024
TEST_ALARM_TIMEOUT = 30.0
MAX_CLIENTS = 64
TEST_ALARMS_PER_MINUTE = 3


def _matches(flt: dict[str, str], what: str, payload: dict[str, Any]) -> bool:
    if not flt:
        return True
    if what == "reading":
        driver, room, kind = payload.get("driver"), payload.get("room"), payload.get("sensor")
    else:
        source = payload.get("source") or {}
        driver, room, kind = source.get("driver"), source.get("room"), payload.get("type")
    return ((not flt.get("driver") or flt["driver"] == driver)
            and (not flt.get("room") or flt["room"] == room)
            and (not flt.get("type") or flt["type"] == kind))


class _Subscriber:
    def __init__(self, flt: dict[str, str], size: int) -> None:
        self.filter = flt
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(size)
        self.dropped = 0


class ControlServer:
    """Serves the control protocol for one Agent on its event loop."""

    def __init__(self, agent: ControlledAgent, path: str | Path, *, queue_size: int = QUEUE_SIZE,
                 max_clients: int = MAX_CLIENTS) -> None:
        self.agent = agent
        self.path = Path(path)
        self.queue_size = queue_size
        self.max_clients = max_clients
        self.subscribers: list[_Subscriber] = []
        self.dropped = 0
        self.requests = 0
        self.refused = 0
        self.test_alarms_refused = 0
        # Open connections, oldest first; True while one waits for its next request.
        self._clients: dict[asyncio.StreamWriter, bool] = {}
        self._test_alarms: deque[float] = deque()
        self._server: asyncio.Server | None = None
        self._inode: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        if self.path.exists() or self.path.is_symlink():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                pass  # stale socket of a dead daemon: replaced below
            else:
                raise ControlSocketInUse(f"another agent answers on {self.path}")
            finally:
                probe.close()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(tmp))
            os.chmod(tmp, SOCKET_MODE)
            os.replace(tmp, self.path)
        except OSError:
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        self._inode = self.path.stat().st_ino
        return sock

    async def start(self) -> None:
        sock = self._bind()
        self._server = await asyncio.start_unix_server(self._serve, sock=sock,
                                                       limit=MAX_REQUEST)
        self.agent.listeners.append(self._listen)
        log.info("control socket listening on %s (mode %04o)", self.path, SOCKET_MODE)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.agent.listeners.remove(self._listen)
        if self._server is not None:
            self._server.close()
        # Close the clients' connections so their handlers end on EOF: a cancelled handler
        # makes Python 3.11's asyncio log a traceback per connection.
        for writer in list(self._clients):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        with contextlib.suppress(OSError):
            if self._inode is not None and self.path.stat().st_ino == self._inode:
                self.path.unlink()

    def stats(self) -> dict[str, int]:
        return {"subscribers": len(self.subscribers), "dropped": self.dropped,
                "requests": self.requests, "clients": len(self._clients),
                "refused": self.refused, "test_alarms_refused": self.test_alarms_refused}

    def _admit(self, writer: asyncio.StreamWriter) -> bool:
        """Make room for a new client within `max_clients`; False if every slot is busy."""
        if len(self._clients) >= self.max_clients:
            idle = next((w for w, waiting in self._clients.items() if waiting), None)
            self.refused += 1
            if idle is None:
                return False
            del self._clients[idle]
            idle.transport.abort()  # its reader sees EOF and its task ends
        self._clients[writer] = True
        return True

    # -- the listener: called for every reading and event, on the loop, must be cheap ----

    def _listen(self, what: str, payload: dict[str, Any]) -> None:
        if not self.subscribers:
            return
        if what == "event" and isinstance(payload.get("body"), str):
            try:
                body = json.loads(payload["body"])
            except ValueError:
                body = {}
            payload = {**body, "seq": payload.get("seq")}
        for sub in self.subscribers:
            if not _matches(sub.filter, what, payload):
                continue
            try:
                sub.queue.put_nowait((what, payload))
            except asyncio.QueueFull:
                sub.dropped += 1
                self.dropped += 1

    # -- connections -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:  # noqa: C901, PLR0912 - one connection's life: admit, read, dispatch, every way it can end
        if not self._admit(writer):
            writer.write(json.dumps({"ok": False, "error": N_(
                "too many control clients (at most {limit}); try again").format(
                limit=self.max_clients)}).encode() + b"\n")
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await self._send(writer, {"ok": False, "error": N_("request line too long")})
                    return
                if not line or writer not in self._clients:
                    return
                self._clients[writer] = False  # busy: not to be displaced
                self.requests += 1
                try:
                    request = json.loads(line)
                except ValueError as exc:
                    await self._send(writer, {"ok": False, "error": N_(
                        "bad request: {reason}").format(reason=exc)})
                    continue
                if not isinstance(request, dict):
                    await self._send(writer, {"ok": False,
                                              "error": N_("bad request: not an object")})
                    continue
                if not await self._dispatch(request, reader, writer):
                    return
                if writer in self._clients:
                    self._clients[writer] = True
        except (ConnectionError, BrokenPipeError):
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("control socket client failed")
        finally:
            self._clients.pop(writer, None)
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _send(self, writer: asyncio.StreamWriter, doc: dict[str, Any]) -> None:
        writer.write(json.dumps(doc, default=str, separators=(",", ":")).encode() + b"\n")
        await writer.drain()

    async def _dispatch(self, request: dict[str, Any], reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False ends the connection (after a stream)."""
        cmd = request.get("cmd")
        agent = self.agent
        if cmd == "status":
            status = agent.status()
            status["control"] = self.stats()
            await self._send(writer, {"ok": True, "result": status})
        elif cmd == "health":
            await self._send(writer, {"ok": True, "result": self._health()})
        elif cmd == "subscribe":
            flt = {k: str(v) for k, v in (request.get("filter") or {}).items()
                   if k in ("driver", "room", "type") and v}
            await self._stream(flt, reader, writer)
            return False
        elif cmd == "test-alarm":
            await self._test_alarm(request, writer)
            return False  # a multi-line answer ends with the connection
        elif cmd == "outbox-purge":
            purged = agent.outbox.purge_delivered()
            await self._send(writer, {"ok": True, "result": {"purged": purged}})
        else:
            await self._send(writer, {"ok": False, "error": N_(
                "unknown command {cmd!r} (known: status, health, subscribe, test-alarm, "
                "outbox-purge)").format(cmd=cmd)})
        return True

    def _health(self) -> dict[str, Any]:
        agent = self.agent
        return {
            "home": agent.config.home.id,
            "uptime_s": round(time.monotonic() - agent.started_mono, 1),
            "drivers": {s.options.name: s.health().get("state") for s in agent.slots},
            "mqtt": str(agent.publisher.health.state),
            "clock": "synced" if agent.synced else "unsynced",
            "periodic_failures": agent.periodic.failures,
            "outbox_file": agent.outbox_file.problem,  # deleted or replaced while running
            "control": self.stats(),
        }

    async def _stream(self, flt: dict[str, str], reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        sub = _Subscriber(flt, self.queue_size)
        self.subscribers.append(sub)
        gone = asyncio.ensure_future(reader.read(1))  # EOF (or anything) ends the stream
        try:
            await self._send(writer, {"ok": True, "result": {"subscribed": flt}})
            while True:
                getter = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
                if gone in done:
                    getter.cancel()
                    return
                what, payload = getter.result()
                await self._send(writer, {"what": what, "payload": payload,
                                          "dropped": sub.dropped})
        finally:
            gone.cancel()
            self.subscribers.remove(sub)

    async def _test_alarm(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        if not self._test_alarm_allowed():
            self.test_alarms_refused += 1
            await self._send(writer, {"ok": False, "stage": "refused", "error": N_(
                "at most {limit} test alarms a minute; try again later").format(
                limit=TEST_ALARMS_PER_MINUTE)})
            return
        severity = str(request.get("severity") or "info")
        resolve = request.get("resolve") is True
        allowed = ("info", "warning", "critical") if resolve else ("info", "warning")
        if severity not in allowed:
            await self._send(writer, {"ok": False, "error": (
                N_("severity must be info, warning or critical") if resolve else
                N_("severity must be info or warning (critical only with resolve: true)"))})
            return
        timeout = float(request.get("timeout") or TEST_ALARM_TIMEOUT)
        draft = test_alarm_draft(self.agent, Severity(severity), str(request.get("note") or ""))
        alert_id = draft.alert["id"] if draft.alert else ""
        event = self._store_test_alarm(draft)
        if event is None:
            await self._send(writer, {"ok": False, "stage": "store",
                                      "error": N_("the outbox could not store the test alarm "
                                                  "(disk full?): see doctor")})
            return
        started = time.monotonic()
        await self._send(writer, {"ok": True, "stage": "stored", "seq": event.seq,
                                  "id": event.id, "alert_id": alert_id, "severity": severity,
                                  "mqtt": str(self.agent.publisher.health.state)})
        acked = await self._wait_acked(event, started + timeout, timeout, writer)
        if acked is None:
            return
        await self._send(writer, {"ok": True, "stage": "acked", "seq": event.seq,
                                  "id": event.id, "after_s": round(time.monotonic() - started, 3),
                                  "delivered_at": acked})
        if not resolve:
            return
        resolved = self._store_test_alarm(resolve_draft(self.agent, draft))
        if resolved is None:
            await self._send(writer, {"ok": False, "stage": "store", "error": N_(
                "the outbox could not store the test alarm's resolution (disk full?)")})
            return
        resolved_started = time.monotonic()
        done = await self._wait_acked(resolved, resolved_started + timeout, timeout, writer)
        if done is None:
            return
        await self._send(writer, {"ok": True, "stage": "resolved", "seq": event.seq,
                                  "resolved_seq": resolved.seq, "resolved_id": resolved.id,
                                  "after_s": round(time.monotonic() - resolved_started, 3),
                                  "delivered_at": done})

    def _store_test_alarm(self, draft: Draft) -> Any:
        """Store one test-alarm draft now: the stored event, or None if the outbox refused."""
        alert = draft.alert or {}
        for event in self.agent.pipeline.store_now([draft]):
            body = json.loads(event.body)
            if body.get("alert") == {"id": alert.get("id"), "state": alert.get("state")}:
                return event
        return None

    async def _wait_acked(self, event: Any, deadline: float, timeout: float,
                          writer: asyncio.StreamWriter) -> Any:
        """When `event`'s PUBACK was recorded; on timeout the client is told (the event stays
        pending and will be sent) and None is returned."""
        from edgeagent.doctor.outbox_reader import (  # noqa: PLC0415 - doctor is optional here
            OutboxReader,
        )

        agent = self.agent
        with OutboxReader(agent.config.outbox.path) as outbox:
            while (acked := outbox.delivered_at(event.seq)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    await self._send(writer, {
                        "ok": False, "stage": "timeout", "seq": event.seq, "id": event.id,
                        "error": N_("no PUBACK within {timeout:g} s (link: {state}, {error}); "
                                    "the alarm stays in the outbox and will be sent").format(
                            timeout=timeout, state=agent.publisher.health.state,
                            error=agent.publisher.health.last_error or "no error")})
                    return None
                agent.publisher.acked_event.clear()
                if outbox.delivered_at(event.seq) is not None:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(agent.publisher.acked_event.wait(),
                                           min(remaining, 0.5))
        return acked


    def _test_alarm_allowed(self) -> bool:
        """A sliding minute on the agent's clock: a burst of test alerts would reach the
        platform as real alerts (its operators see "test" only once they open one)."""
        now = self.agent.clock.monotonic()
        while self._test_alarms and now - self._test_alarms[0] >= 60.0:
            self._test_alarms.popleft()
        if len(self._test_alarms) >= TEST_ALARMS_PER_MINUTE:
            return False
        self._test_alarms.append(now)
        return True


def test_alarm_draft(agent_or_clock: Any, severity: Severity, note: str = "") -> Draft:
    """The test alert: kind `alert`, type `test`, with its own alert id (critical only from
    the walk test, which resolves it at once with `resolve_draft`)."""
    clock = getattr(agent_or_clock, "clock", agent_or_clock)
    return Draft(
        kind=Kind.ALERT, type="test", severity=severity,
        source={"driver": "test-alarm", "device": "edgeagent"},
        mono=clock.monotonic(), wall=clock.wall(),
        data={"reason": "technician test alarm: no action needed", "note": note[:200]},
        alert={"id": str(uuid7()), "state": "raised"},
    )


def resolve_draft(agent_or_clock: Any, raised: Draft) -> Draft:
    """The resolution of a test alert: the same alert id and data, state `resolved`."""
    clock = getattr(agent_or_clock, "clock", agent_or_clock)
    alert_id = (raised.alert or {}).get("id", "")
    return Draft(kind=Kind.ALERT, type="test", severity=raised.severity,
                 source=dict(raised.source), mono=clock.monotonic(), wall=clock.wall(),
                 data=dict(raised.data), alert={"id": alert_id, "state": "resolved"})


# -- client ------------------------------------------------------------------------------


class ControlClient:
    """Blocking client for the CLI. Raises DaemonUnreachable when nobody answers."""

    def __init__(self, path: str | Path, *, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except FileNotFoundError:
            sock.close()
            raise DaemonUnreachable(self.path, N_("no control socket (daemon not running)")
                                    ) from None
        except PermissionError:
            sock.close()
            raise DaemonUnreachable(
                self.path, N_("permission denied (run as the agent's user, or join its group)"),
                denied=True) from None
        except ConnectionRefusedError:
            sock.close()
            raise DaemonUnreachable(self.path, N_("connection refused (stale socket: daemon "
                                                  "not running)")) from None
        except OSError as exc:
            sock.close()
            raise DaemonUnreachable(self.path, str(exc)) from None
        return sock

    def stream(self, request: dict[str, Any], *,
               read_timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Send one request and yield every answer line until the server closes."""
        sock = self._connect()
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            sock.settimeout(read_timeout)
            with sock.makefile("rb") as lines:
                for line in lines:
                    yield json.loads(line)
        finally:
            sock.close()

    def subscribe(self, flt: dict[str, str] | None = None) -> socket.socket:
        """Open a `subscribe` stream: the caller reads its JSON lines; shutting the socket
        down (from any thread) ends the stream."""
        sock = self._connect()
        try:
            sock.sendall(json.dumps({"cmd": "subscribe", "filter": flt or {}}).encode() + b"\n")
        except OSError as exc:
            sock.close()
            raise DaemonUnreachable(self.path, str(exc)) from None
        sock.settimeout(None)
        return sock

    def request(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request, one answer. Returns the `result`; raises ControlRequestFailed on
        `ok: false`."""
        sock = self._connect()
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            with sock.makefile("rb") as lines:
                line = lines.readline()
        except TimeoutError:
            raise DaemonUnreachable(self.path, N_("no answer within {timeout:g} s").format(
                timeout=self.timeout)) from None
        finally:
            sock.close()
        if not line:
            raise DaemonUnreachable(self.path, N_("daemon closed the connection"))
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise ControlRequestFailed(str(answer.get("error")))
        result: dict[str, Any] = answer.get("result") or {}
        return result


async def read_lines(path: str | Path, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Async client (tests, tools): one request, every answer line."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        while line := await reader.readline():
            yield json.loads(line)
    finally:
        writer.close()


def socket_mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def start_control(agent: ControlledAgent) -> ControlServer | None:
    """Start the agent's control socket; without one the agent still runs (doctor goes
    standalone), so a failure is logged, not raised."""
    server = ControlServer(agent, agent.config.control.socket)
    try:
        await server.start()
    except (OSError, ControlSocketInUse) as exc:
        log.warning("control socket %s unavailable (%s): doctor and watch cannot reach this "
                    "agent", agent.config.control.socket, exc)
        return None
    return server
