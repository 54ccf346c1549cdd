"""Everything edgeagent raises on purpose is an EdgeAgentError (errors.py), so a caller
can tell a refusal the agent explains from a programming bug."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import socket
import threading
from pathlib import Path

import edgeagent
from edgeagent.control import ControlClient
from edgeagent.driver import load_driver_class
from edgeagent.errors import (
    ControlRequestFailed,
    DaemonUnreachable,
    EdgeAgentError,
    UnknownDriverType,
)


def test_every_public_exception_class_in_edgeagent_derives_from_edgeagent_error() -> None:
    outside = []
    checked = 0
    for info in pkgutil.walk_packages(edgeagent.__path__, "edgeagent."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if not (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == info.name) or name.startswith("_"):
                continue
            checked += 1
            if not issubclass(obj, EdgeAgentError):
                outside.append(f"{info.name}.{name}")
    assert checked >= 10
    assert outside == []


def test_an_unknown_driver_type_is_an_edgeagent_error_and_still_a_lookup_error() -> None:
    try:
        load_driver_class("no.such.driver")
    except EdgeAgentError as exc:
        assert isinstance(exc, UnknownDriverType)
        assert isinstance(exc, LookupError)
        assert "no.such.driver" in str(exc)
    else:
        raise AssertionError("an unknown driver type loaded")


def test_a_missing_control_socket_is_daemon_unreachable(tmp_path: Path) -> None:
    client = ControlClient(tmp_path / "absent.sock", timeout=1.0)
    try:
        client.request({"cmd": "status"})
    except DaemonUnreachable as exc:
        assert isinstance(exc, EdgeAgentError)
        assert not isinstance(exc, ControlRequestFailed)
        assert "daemon not running" in exc.reason
    else:
        raise AssertionError("a request to an absent socket succeeded")


def test_a_refused_control_request_is_control_request_failed(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def answer_once() -> None:
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as lines:
            lines.readline()
            conn.sendall(b'{"ok": false, "error": "unknown command"}\n')

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    try:
        ControlClient(path, timeout=5.0).request({"cmd": "nonsense"})
    except ControlRequestFailed as exc:
        assert isinstance(exc, EdgeAgentError)
        assert isinstance(exc, RuntimeError)  # callers that catch RuntimeError still do
        assert str(exc) == "unknown command"
    else:
        raise AssertionError("a refused request returned")
    finally:
        thread.join(timeout=5.0)
        server.close()
