"""The BLE bind-keys file: one AES key per encrypting BTHome device.

    [devices."AA:BB:CC:DD:EE:FF"]
    key = "231d39c1d7cc1ab1aee224cd096db932"

The file is a secret like the broker password: it must be private to the
agent (mode 0600, checked before it is read), its keys never appear in logs,
health, status or support bundles. Errors name the file and the bad key path
(`devices."AA:BB:CC:DD:EE:FF".key`) and never echo a key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from edgeagent.errors import ConfigError
from edgeagent.secrets import check_private

from .bthome import KEY_BYTES, mac_bytes

DEFAULT_KEYS_FILE = Path("/etc/edgeagent/ble-keys.toml")


def normal_mac(mac: str) -> str:
    """`aa-bb-cc-dd-ee-ff` → `AA:BB:CC:DD:EE:FF`; ValueError if it is not a MAC."""
    return ":".join(f"{b:02X}" for b in mac_bytes(mac))


def parse_key(text: str) -> bytes:
    """32 hex digits → 16 bytes; ValueError naming what is wrong (not the key)."""
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "").replace(" ", "")
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"a bind key is {KEY_BYTES * 2} hex digits; this one is not hex") \
            from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"a bind key is {KEY_BYTES * 2} hex digits; this one has "
                         f"{len(cleaned)}")
    return raw


def load_keys(path: Path, key_name: str = "keys_file") -> dict[str, bytes]:  # noqa: C901 - one refusal per way a keys file can be wrong, each naming the key
    """Bind keys by upper-case MAC. ConfigError (naming the key) if the file is unusable."""
    check_private(path, key_name)
    source = str(path)
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(source, key_name, f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - {"devices"})
    if unknown:
        raise ConfigError(source, unknown[0], "unknown key (the file holds [devices.\"MAC\"] "
                                              "tables only)")
    devices = doc.get("devices", {})
    if not isinstance(devices, dict):
        raise ConfigError(source, "devices", "must be tables [devices.\"AA:BB:CC:DD:EE:FF\"]")
    keys: dict[str, bytes] = {}
    for mac, table in devices.items():
        where = f'devices."{mac}"'
        try:
            address = normal_mac(mac)
        except ValueError as exc:
            raise ConfigError(source, where, str(exc)) from None
        if not isinstance(table, dict) or set(table) != {"key"}:
            raise ConfigError(source, where, 'needs exactly one entry: key = "<32 hex digits>"')
        if not isinstance(table["key"], str):
            raise ConfigError(source, f"{where}.key", "must be a string of 32 hex digits")
        if address in keys:
            raise ConfigError(source, where, f"{address} is listed twice")
        try:
            keys[address] = parse_key(table["key"])
        except ValueError as exc:
            raise ConfigError(source, f"{where}.key", str(exc)) from None
    return keys
