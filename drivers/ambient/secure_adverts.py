"""Bind keys and counters for encrypted BTHome: what the BLE advert drivers share.

`AdvertDecoder` opens a device's frames with its key from the keys file and
refuses a counter it has already seen from that device: the same counter is a
repeat (`DuplicateFrameError`: devices send each frame several times, and an
attacker can re-send it), a lower one a replay (`ReplayedCounterError`).
Counters are kept in memory: after the agent restarts, the first frame sets
the mark again (a device whose battery was changed restarts its counter).

`KeysFileOptions` is the `keys_file` key of a `[[drivers]]` table; the file
is a secret (mode 0600, `secret_files()`), its keys never leave this module's
private state.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from edgeagent.driver import DriverOptions
from edgeagent.errors import ConfigError
from edgeagent.i18n import N_

from .ble_keys import DEFAULT_KEYS_FILE, load_keys
from .formats import AdvertPayloadError, EnvFrame, decode


class DuplicateFrameError(AdvertPayloadError):
    """An encrypted frame whose counter was just seen: a repeat, not news."""


class ReplayedCounterError(AdvertPayloadError):
    """An encrypted frame with a counter older than the newest seen: a replay."""


class KeysFileOptions(DriverOptions):
    """`keys_file`: bind keys of encrypting devices (default /etc/edgeagent/ble-keys.toml)."""

    keys_file: Path | None = Field(default=None, validate_default=True)

    @field_validator("keys_file")
    @classmethod
    def _keys_usable(cls, value: Path | None) -> Path | None:
        # The default file is optional (no encrypting device); a named one must exist.
        if value is None:
            if not DEFAULT_KEYS_FILE.exists():
                return None
            value = DEFAULT_KEYS_FILE
        try:
            load_keys(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    def secret_files(self) -> dict[str, Path]:
        return {"keys_file": self.keys_file} if self.keys_file is not None else {}

    def bind_keys(self) -> dict[str, bytes]:
        """The keys by upper-case MAC (read again: the file may have changed since validation)."""
        return load_keys(self.keys_file) if self.keys_file is not None else {}


class AdvertDecoder:
    """Decodes service data per sender, with its bind key and its newest counter."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self._keys = {mac.upper(): key for mac, key in keys.items()}
        self._counters: dict[str, int] = {}

    def has_key(self, address: str) -> bool:
        return address.upper() in self._keys

    def decode(self, address: str, uuid16: str, payload: bytes) -> EnvFrame:
        """One frame from `address`; raises `AdvertPayloadError` (or a subclass) only."""
        mac = address.upper()
        frame = decode(uuid16, payload, mac=mac, key=self._keys.get(mac))
        if frame.counter is not None:
            last = self._counters.get(mac)
            if last is not None and frame.counter == last:
                raise DuplicateFrameError("bthome", N_("counter {counter} repeated").format(
                    counter=frame.counter))
            if last is not None and frame.counter < last:
                raise ReplayedCounterError("bthome", N_(
                    "counter {counter} is older than {last} (a replayed frame, or the device "
                    "restarted its counter)").format(counter=frame.counter, last=last))
            self._counters[mac] = frame.counter
        frame.mac = mac
        return frame
