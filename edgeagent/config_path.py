"""Which config file a command reads: one chain for every command, importing nothing heavy.

`-c/--config`, then `$EDGEAGENT_CONFIG`, then /etc/edgeagent/edgeagent.toml if it
exists, else the built-in defaults (None). Fast commands (`status`) use this
without loading the validating config model.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from edgeagent.i18n import N_

ENV_CONFIG = "EDGEAGENT_CONFIG"
DEFAULT_CONFIG_PATH = Path("/etc/edgeagent/edgeagent.toml")
DEFAULT_CONTROL_SOCKET = Path("/run/edgeagent/control.sock")
CONFIG_HELP = N_("config file (default: $EDGEAGENT_CONFIG, then /etc/edgeagent/edgeagent.toml, "
                 "then built-in)")  # translated where the parser is built


def resolve_config_path(cli_value: str | None) -> str | None:
    """CLI flag, then $EDGEAGENT_CONFIG, then /etc/edgeagent/edgeagent.toml if it exists."""
    if cli_value:
        return cli_value
    env = os.environ.get(ENV_CONFIG)
    if env:
        return env
    return str(DEFAULT_CONFIG_PATH) if DEFAULT_CONFIG_PATH.exists() else None


def control_socket(path: str | None) -> Path:
    """`control.socket` from the file (unvalidated: `config check` validates), or the default."""
    if path is None:
        return DEFAULT_CONTROL_SOCKET
    try:
        doc: dict[str, Any] = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return DEFAULT_CONTROL_SOCKET
    control = doc.get("control")
    socket = control.get("socket") if isinstance(control, dict) else None
    return Path(socket) if isinstance(socket, str) and socket else DEFAULT_CONTROL_SOCKET
