"""Secrets: refuse secret files others can read; keep URL credentials out of what is shown."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from edgeagent.errors import ConfigError
from edgeagent.i18n import _

if TYPE_CHECKING:
    from edgeagent.config import AgentConfig


def check_private(path: Path, key: str) -> None:
    """A secret readable by group or others is a config error, named by its key."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(str(path), key, _("file not found")) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            str(path), key,
            _("secret file is readable by group/others (mode {mode}); run: chmod 600 {path}")
            .format(mode=f"{stat.S_IMODE(mode):04o}", path=path),
        )


def check_config_secrets(config: AgentConfig) -> None:
    """Every secret file a config names must be private to the agent: ConfigError naming
    the key if one is not (checked before the agent touches anything)."""
    if config.mqtt.password_file is not None:
        check_private(config.mqtt.password_file, "mqtt.password_file")
    if config.mqtt.key_file is not None:
        check_private(config.mqtt.key_file, "mqtt.key_file")
    for index, driver in enumerate(config.drivers):
        for key, path in driver.secret_files().items():
            check_private(path, f"drivers[{index}].{key}")


def read_secret(path: Path, key: str) -> str:
    check_private(path, key)
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(str(path), key, _("cannot read secret: {error}").format(
            error=exc.strerror)) from None


def strip_credentials(url: str) -> str:
    """`url` without its `user:password@` part, for status, health and logs.

    The retained status goes to the municipal broker and logs go into support
    bundles: neither may carry a password someone wrote into a broker URL.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
