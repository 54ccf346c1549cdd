"""Secrets: refuse secret files others can read; keep URL credentials out of what is shown."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from edgeagent.errors import ConfigError
from edgeagent.i18n import _


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
