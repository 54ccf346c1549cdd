"""One precise exception class per failure the CLI, supervisor and doctor can act on.

Everything edgeagent raises on purpose derives from `EdgeAgentError`: the shared
classes live here, one module's own refusals (`PairError`, `BundleRefused`, ...)
beside their module but in this hierarchy, so anything else is a bug. Classes
that replaced a built-in base keep it too, so existing `except ValueError` and
`except RuntimeError` handlers still catch them.
"""

from __future__ import annotations


class EdgeAgentError(Exception):
    """Base of every error edgeagent raises on purpose."""


class ConfigError(EdgeAgentError):
    """A config file is unreadable or invalid. `key` is the dotted path of the bad key."""

    def __init__(self, path: str, key: str, reason: str) -> None:
        self.path = path
        self.key = key
        self.reason = reason
        where = f"{path}: {key}: " if key else f"{path}: "
        super().__init__(f"{where}{reason}")


class DriverError(EdgeAgentError):
    """A driver cannot reach or understand its hardware; the supervisor restarts it."""


class HardwareUnavailable(DriverError):
    """The hardware or its library is absent on this machine (no GPIO, no Bluetooth).

    `missing` names what is absent in a word shared by every driver that needs it
    (`gpio-library`), so `doctor` can say it once with its `fix` instead of once per
    driver with the wrong advice.
    """

    def __init__(self, message: str, *, missing: str = "", fix: str = "") -> None:
        super().__init__(message)
        self.missing = missing
        self.fix = fix


class PayloadError(EdgeAgentError):
    """Bytes from a device did not decode; counted and logged, never fatal."""


class OutboxError(EdgeAgentError):
    """The outbox database cannot be used."""


class OutboxFull(OutboxError):
    """The disk refused a write (ENOSPC, quota, file size limit)."""


class OutboxLocked(OutboxError):
    """Another process held the outbox past the bounded wait at start: try again later (75)."""


class OutboxUnwritable(OutboxError):
    """The agent's user may not write the outbox (file mode, owner, read-only mount): exit 2.

    The message names the file and the fix; restarting cannot help, and the file is
    left exactly as it is.
    """


class UnknownDriverType(EdgeAgentError, LookupError):
    """No installed entry point provides this `[[drivers]]` type, or it is not a Driver."""


class UnknownOutputType(EdgeAgentError, LookupError):
    """No installed entry point provides this `[[outputs]]` type, or it is not an Output."""


class ControlSocketInUse(EdgeAgentError, RuntimeError):
    """Another live daemon already answers on this socket path."""


class DaemonUnreachable(EdgeAgentError):
    """No daemon answers on the control socket; `reason` says why (absent, refused, denied)."""

    def __init__(self, path: object, reason: str, *, denied: bool = False) -> None:
        self.path = str(path)
        self.reason = reason
        self.denied = denied
        super().__init__(f"{path}: {reason}")


class ControlRequestFailed(EdgeAgentError, RuntimeError):
    """The daemon answered a control request with `ok: false`; the message is its error."""
