"""The config of an `edgeagent run` process that a test starts against its own broker.

Fast reconnects (a broker restart or a black hole is over in tenths of a
second), the outbox and control socket inside the test's directory; the
caller adds its drivers or other tables as TOML text.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_agent_toml(path: Path, broker_url: str, *, extra: str = "", mqtt: str = "",
                     backoff: tuple[float, float] = (0.02, 0.2)) -> Path:
    """Write the config to `path`; `mqtt` adds lines to `[mqtt]`, `extra` tables after it."""
    workdir = path.parent
    mqtt_lines = textwrap.dedent(mqtt).strip()
    path.write_text(textwrap.dedent(f"""
        [home]
        id = "home-1"
        [mqtt]
        urls = ["{broker_url}"]
        keepalive = 5
        connect_timeout = 2
        backoff_initial = {backoff[0]}
        backoff_max = {backoff[1]}
    """) + (mqtt_lines + "\n" if mqtt_lines else "") + textwrap.dedent(f"""
        [outbox]
        path = "{workdir}/outbox.db"
        [control]
        socket = "{workdir}/control.sock"
    """) + textwrap.dedent(extra))
    return path
