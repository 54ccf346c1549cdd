"""The control socket: owner+group only, JSON lines, live stream, test alarm end to end."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edgeagent.clock import ManualClock
from edgeagent.control import (
    ControlClient,
    ControlServer,
    ControlSocketInUse,
    DaemonUnreachable,
    read_lines,
    socket_mode,
)
from edgeagent.models import Reading
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.support.agent_toml import write_agent_toml
from tests.support.mosquitto import free_port
from tests.support.waiting import until as wait_until
from tests.support.waiting import wait_until as sync_wait_until


def server_of(agent: Agent) -> ControlServer:
    return next(fn.__self__ for fn in agent.listeners
                if isinstance(getattr(fn, "__self__", None), ControlServer))


def reading(driver: str = "pir-1", room: str = "hall", sensor: str = "motion",
            value: object = True) -> Reading:
    return Reading(driver=driver, device=driver, sensor=sensor, value=value, mono=1.0,
                   wall=datetime(2026, 1, 1, tzinfo=UTC), room=room)


async def request(path, doc):
    return await asyncio.to_thread(ControlClient(path).request, doc)


async def test_socket_is_owner_and_group_only_and_removed_on_stop(tmp_path, always_synced):
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    path = tmp_path / "control.sock"
    async with RunningAgent(Agent(config, sync_probe=always_synced)):
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode)
        assert socket_mode(path) == 0o660  # no access for others
        assert not mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IXOTH)
        status = await request(path, {"cmd": "status"})
        assert status["home"] == "home-1" and "drivers" in status
    assert not path.exists()
    with pytest.raises(DaemonUnreachable, match="daemon not running"):
        ControlClient(path).request({"cmd": "status"})


async def test_others_cannot_connect(tmp_path, always_synced):
    """An unprivileged uid is refused by the socket's mode (we are root here to switch uid)."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if os.geteuid() != 0 or python is None:
        pytest.skip("needs root and a system python3 to run a client as another uid")
    public = Path(tempfile.mkdtemp(prefix="edgeagent-ctl-"))
    public.chmod(0o755)  # the directory lets anyone through: only the socket's mode decides
    path = public / "control.sock"
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}",
                         control={"socket": str(path)})
    code = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
            f"try:\n s.connect({str(path)!r})\nexcept PermissionError:\n sys.exit(13)\n"
            "sys.exit(0)")

    def as_nobody() -> int:
        return subprocess.run([python, "-c", code], user=65534, group=65534,
                              check=False).returncode

    try:
        async with RunningAgent(Agent(config, sync_probe=always_synced)):
            assert await asyncio.to_thread(as_nobody) == 13
            path.chmod(0o666)  # control: the same client gets in once others may write
            assert await asyncio.to_thread(as_nobody) == 0
    finally:
        shutil.rmtree(public, ignore_errors=True)


async def test_stale_socket_is_replaced_and_a_live_one_is_not(tmp_path, always_synced):
    path = tmp_path / "control.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a dead daemon's leftover: nobody listens
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    agent = Agent(config, sync_probe=always_synced)
    async with RunningAgent(agent):
        assert (await request(path, {"cmd": "health"}))["home"] == "home-1"
        with pytest.raises(ControlSocketInUse):
            await ControlServer(agent, path).start()
        assert (await request(path, {"cmd": "health"}))["home"] == "home-1"


async def test_bad_requests_get_errors_and_the_connection_survives(tmp_path, always_synced):
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    path = tmp_path / "control.sock"
    async with RunningAgent(Agent(config, sync_probe=always_synced)):
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"this is not json\n[1,2]\n{\"cmd\": \"reboot\"}\n{\"cmd\": \"health\"}\n")
        await writer.drain()
        answers = [json.loads(await reader.readline()) for _ in range(4)]
        writer.close()
        assert answers[0]["ok"] is False and "bad request" in answers[0]["error"]
        assert answers[1]["error"] == "bad request: not an object"
        assert "unknown command 'reboot'" in answers[2]["error"]
        assert answers[3]["ok"] is True and answers[3]["result"]["mqtt"]


async def test_subscribe_streams_filtered_readings_and_events(tmp_path, always_synced):
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    path = tmp_path / "control.sock"
    agent = Agent(config, sync_probe=always_synced)
    async with RunningAgent(agent):
        stream = read_lines(path, {"cmd": "subscribe", "filter": {"room": "bedroom"}})
        first = await anext(stream)
        assert first["ok"] and first["result"]["subscribed"] == {"room": "bedroom"}
        agent.pipeline.emit(reading("pir-hall", "hall"))
        agent.pipeline.emit(reading("pir-bed", "bedroom"))
        got = await asyncio.wait_for(anext(stream), 5)
        assert got["what"] == "reading" and got["payload"]["driver"] == "pir-bed"
        assert got["dropped"] == 0
        got = await asyncio.wait_for(anext(stream), 5)  # the event the reading became
        assert got["what"] == "event" and got["payload"]["source"]["room"] == "bedroom"
        assert got["payload"]["seq"] >= 1
        await stream.aclose()
        await wait_until(lambda: not server_of(agent).subscribers)


async def test_a_client_that_stops_reading_never_slows_the_agent(tmp_path, always_synced):
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    path = tmp_path / "control.sock"
    agent = Agent(config, sync_probe=always_synced)
    async with RunningAgent(agent):
        server = server_of(agent)
        stuck = socket.socket(socket.AF_UNIX)
        stuck.connect(str(path))
        stuck.sendall(b'{"cmd": "subscribe"}\n')  # ...and never reads again
        await wait_until(lambda: len(server.subscribers) == 1)
        big = "x" * 2000
        # Listeners are called synchronously on the loop: had one blocked on the full
        # socket, these loops would never finish (the test's timeout would say so).
        for i in range(5000):
            for listener in list(agent.listeners):
                listener("reading", {"driver": "d", "room": None, "sensor": "s", "value": big,
                                     "n": i})
        await asyncio.sleep(0)  # let the writer run into the full socket buffer
        for _ in range(5000):
            for listener in list(agent.listeners):
                listener("reading", {"driver": "d", "room": None, "sensor": "s", "value": big})
        assert server.dropped > 0
        assert server.subscribers[0].queue.qsize() <= server.queue_size
        # The daemon still answers everyone else.
        health = await request(path, {"cmd": "health"})
        assert health["control"]["dropped"] == server.dropped
        stuck.close()


async def test_test_alarm_is_acknowledged_end_to_end(tmp_path, mosquitto, platform,
                                                     always_synced):
    config = make_config(tmp_path, mosquitto.url)
    path = tmp_path / "control.sock"
    agent = Agent(config, sync_probe=always_synced)
    async with RunningAgent(agent):
        await wait_until(lambda: agent.publisher.connected)
        answers = [a async for a in read_lines(path, {"cmd": "test-alarm", "severity": "warning",
                                                      "timeout": 10})]
        assert [a["stage"] for a in answers] == ["stored", "acked"]
        seq = answers[0]["seq"]
        assert answers[1]["seq"] == seq and answers[1]["delivered_at"] > 0
        platform.wait_for(lambda s: any(e.get("type") == "test" for e in s.events()))
        event = next(e for e in platform.events() if e["type"] == "test")
        assert event["kind"] == "alert" and event["severity"] == "warning"
        assert event["seq"] == seq and event["alert"]["state"] == "raised"
        assert agent.outbox.stats().pending == 0


async def test_test_alarm_without_a_broker_times_out_and_stays_pending(tmp_path,
                                                                         always_synced):
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    path = tmp_path / "control.sock"
    agent = Agent(config, sync_probe=always_synced)
    async with RunningAgent(agent):
        answers = [a async for a in read_lines(path, {"cmd": "test-alarm", "timeout": 0.3})]
        assert answers[0]["stage"] == "stored"
        assert answers[1]["ok"] is False and answers[1]["stage"] == "timeout"
        assert "stays in the outbox" in answers[1]["error"]
        assert agent.outbox.stats().pending == 1


async def test_test_alarm_refuses_critical(tmp_path, always_synced):
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    async with RunningAgent(Agent(config, sync_probe=always_synced)):
        answers = [a async for a in read_lines(tmp_path / "control.sock",
                                               {"cmd": "test-alarm", "severity": "critical"})]
        assert answers[0]["ok"] is False and "info or warning" in answers[0]["error"]


async def test_critical_test_alarm_is_raised_then_resolved_with_both_acked(
        tmp_path, mosquitto, platform, always_synced):
    config = make_config(tmp_path, mosquitto.url)
    agent = Agent(config, sync_probe=always_synced)
    async with RunningAgent(agent):
        await wait_until(lambda: agent.publisher.connected)
        answers = [a async for a in read_lines(tmp_path / "control.sock", {
            "cmd": "test-alarm", "severity": "critical", "resolve": True, "timeout": 10})]
        assert [a["stage"] for a in answers] == ["stored", "acked", "resolved"]
        assert answers[2]["resolved_seq"] == answers[0]["seq"] + 1
        platform.wait_for(lambda s: len([e for e in s.events() if e["type"] == "test"]) == 2)
        raised, resolved = [e for e in platform.events() if e["type"] == "test"]
        assert raised["severity"] == resolved["severity"] == "critical"
        assert raised["alert"]["id"] == resolved["alert"]["id"] == answers[0]["alert_id"]
        assert (raised["alert"]["state"], resolved["alert"]["state"]) == ("raised", "resolved")
        assert agent.outbox.stats().pending == 0
        assert agent.status()["open_alerts"] == []


# -- descriptor exhaustion and floods from local clients ------------------------------------


def _agent_toml(tmp_path: Path, broker_url: str) -> Path:
    return write_agent_toml(tmp_path / "agent.toml", broker_url, backoff=(0.05, 0.5), extra="""
        [[drivers]]
        type = "mock.stress"
        name = "stress-1"
        rate_hz = 20
    """)


def _connect_when_accepted(path: Path, timeout: float = 10.0) -> socket.socket:
    """Connect, retrying while the listen backlog is full (EAGAIN), within `timeout`."""
    client = socket.socket(socket.AF_UNIX)
    client.setblocking(False)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.connect(str(path))
            return client
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.001)


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))  # the default the audit used


def test_1100_idle_clients_under_rlimit_1024_do_not_kill_the_agent(tmp_path, mosquitto,
                                                                    platform):
    """The audit's attack: 1 100 idle connections to the control socket, agent at 1 024
    descriptors. The agent used to exit (code 1) at its next clock check."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1400:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    log = tmp_path / "agent.log"
    path = tmp_path / "control.sock"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgeagent.cli.main", "-v", "run", "--config",
             str(_agent_toml(tmp_path, mosquitto.url))],
            stdout=out, stderr=out, env=dict(os.environ, PYTHONUNBUFFERED="1"),
            preexec_fn=_limit_descriptors)
    clients: list[socket.socket] = []
    try:
        sync_wait_until(lambda: path.exists() and platform.seqs(), timeout=30,
                        what="agent up and delivering")
        for _ in range(1100):
            clients.append(_connect_when_accepted(path))
        assert proc.poll() is None
        status = ControlClient(path).request({"cmd": "status"})  # answered at once
        assert status["control"]["clients"] <= 64
        assert status["control"]["refused"] >= 1100 - 64
        seen = max(platform.seqs())
        # Past two clock checks (every 5 s) while the idle clients stay connected: the
        # agent is alive and events still reach the broker.
        sync_wait_until(lambda: max(platform.seqs()) > seen + 200 or proc.poll() is not None,
                        timeout=60, what="events after the attack")
        assert proc.poll() is None, log.read_text()[-3000:]
        health = ControlClient(path).request({"cmd": "health"})
        assert health["periodic_failures"] == 0
    finally:
        if proc.poll() is None:  # stopped while the idle clients are still connected
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
        for client in clients:
            client.close()
    assert proc.returncode == 0
    assert "Traceback" not in log.read_text(errors="replace")


async def test_clients_beyond_the_cap_displace_idle_ones_or_are_refused(tmp_path,
                                                                      always_synced):
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    agent = Agent(config, sync_probe=always_synced)
    path = tmp_path / "capped.sock"
    async with RunningAgent(agent):
        server = ControlServer(agent, path, max_clients=3)
        await server.start()
        try:
            idle = [await asyncio.open_unix_connection(str(path)) for _ in range(3)]
            await wait_until(lambda: len(server._clients) == 3)
            # A fourth client gets in; the oldest idle one is closed to make room.
            assert (await request(path, {"cmd": "health"}))["home"] == "home-1"
            assert await asyncio.wait_for(idle[0][0].read(), 5) == b""
            assert server.refused == 1
            for _reader, writer in idle:
                writer.close()
            await wait_until(lambda: not server._clients)
            # Three busy clients (streams): a fourth is told so and closed, nobody displaced.
            streams = [read_lines(path, {"cmd": "subscribe"}) for _ in range(3)]
            for stream in streams:
                assert (await anext(stream))["ok"] is True
            reader, writer = await asyncio.open_unix_connection(str(path))
            answer = json.loads(await asyncio.wait_for(reader.readline(), 5))
            assert answer == {"ok": False, "error": "too many control clients (at most 3); "
                                                    "try again"}
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed at once
            writer.close()
            assert server.refused == 2 and len(server.subscribers) == 3
            for stream in streams:
                await stream.aclose()
        finally:
            await server.stop()


async def test_test_alarms_are_rate_limited(tmp_path):
    """300 FAKE alerts reached the platform in 2.3 s: now 3 a minute, the rest refused."""
    clock = ManualClock()
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    agent = Agent(config, clock=clock, sync_probe=lambda: True, tick_interval=0.05)
    path = tmp_path / "control.sock"
    async with RunningAgent(agent):
        outcomes = []
        for _ in range(10):
            answers = [a async for a in read_lines(path, {"cmd": "test-alarm",
                                                          "note": "FAKE: resident fell",
                                                          "timeout": 0.05})]
            outcomes.append(answers[0].get("stage"))
        assert outcomes == ["stored"] * 3 + ["refused"] * 7
        assert agent.outbox.stats().pending == 3
        health = await request(path, {"cmd": "health"})
        assert health["control"]["test_alarms_refused"] == 7
        clock.advance(60)  # a minute later one more is accepted
        answers = [a async for a in read_lines(path, {"cmd": "test-alarm", "timeout": 0.05})]
        assert answers[0]["stage"] == "stored"
        assert agent.outbox.stats().pending == 4


async def test_a_periodic_task_that_raises_is_logged_once_counted_and_the_loop_goes_on(
        tmp_path, mosquitto, platform, caplog):
    """The sync-state check raising (as it did out of descriptors) used to end the agent."""
    failing = [True]

    def sync_probe() -> bool:
        if failing[0]:
            raise OSError(24, "Too many open files")
        return True

    config = make_config(tmp_path, mosquitto.url)
    agent = Agent(config, sync_probe=sync_probe, tick_interval=0.02, sync_interval=0.02)
    path = tmp_path / "control.sock"
    with caplog.at_level("INFO", logger="edgeagent.periodic"):
        async with RunningAgent(agent):
            await wait_until(lambda: agent.periodic.failures >= 20)
            health = await request(path, {"cmd": "health"})
            assert health["periodic_failures"] >= 20
            status = await request(path, {"cmd": "status"})
            clock_failures = status["periodic_failures"]["clock"]
            assert clock_failures["failing"] is True
            assert "Too many open files" in clock_failures["last_error"]
            # The loop goes on: a test alarm is stored, published and acknowledged.
            answers = [a async for a in read_lines(path, {"cmd": "test-alarm", "timeout": 10})]
            assert [a["stage"] for a in answers] == ["stored", "acked"]
            platform.wait_for(lambda s: any(e.get("type") == "test" for e in s.events()))
            failing[0] = False
            await wait_until(lambda: agent.synced)
            assert agent.status()["periodic_failures"]["clock"]["failing"] is False
    lines = [r for r in caplog.records if r.name == "edgeagent.periodic"]
    assert len(lines) == 2, [r.getMessage() for r in lines]  # the failure, the recovery
    assert lines[0].exc_info is not None and "clock" in lines[0].getMessage()
    assert "works again" in lines[1].getMessage()


def test_sync_probe_still_answers_with_every_descriptor_in_use():
    """The probe used to run `ldconfig -p` (ctypes.util.find_library) on every call: with no
    descriptor left it raised, and the agent exited. A real process fills its table."""
    code = textwrap.dedent("""
        import os, resource
        from edgeagent.clock import kernel_clock_synced
        first = kernel_clock_synced()
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        held = []
        try:
            while True:
                held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == 24, exc
        print(len(held), first == kernel_clock_synced())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    held, same = done.stdout.split()
    assert int(held) > 200 and same == "True"
