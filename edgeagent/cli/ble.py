"""`edgeagent ble decode|scan`: the technician's view of Bluetooth LE monitors.

`decode` runs a captured characteristic value (from nRF Connect, btmon, a
log line) through the same parsers the driver uses and prints the fields or
the reason the bytes were rejected; `decode-advert` does the same for
advertisement service data (BTHome v2, encrypted with `--mac --key`, or
ATC/pvvx). `scan` lists what is advertising nearby,
which health services each device offers and which ones the config expects.

Exit codes: 0 fine; 1 payload rejected; 2 bad arguments, bad config or no
Bluetooth on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import Any, TextIO

from edgeagent.config import load_config, resolve_config_path
from edgeagent.errors import ConfigError
from edgeagent.i18n import _, localize

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2
_DERIVED = ("rr_intervals_s", "systolic_mmhg", "diastolic_mmhg", "mean_arterial_pressure_mmhg",
            "cuff_pressure_mmhg", "celsius", "temperature_type_name", "weight_kg")


def _parsers() -> Any:
    # The driver package is installed under another top-level name that mypy
    # cannot follow through the editable install; the CLI only needs it at run time.
    from edgeagent_drivers.ble import (  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
        parsers,
    )
    return parsers


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def measurement_fields(measurement: Any) -> dict[str, Any]:
    """A decoded measurement as JSON-able fields, with the driver's unit conversions."""
    fields: dict[str, Any] = _plain(measurement)
    for name in _DERIVED:
        if hasattr(measurement, name):
            fields[name] = _plain(getattr(measurement, name))
    if "absent" in fields:
        fields["absent"] = dict(fields["absent"])
    return fields


def _hex_bytes(text: str) -> bytes:
    cleaned = text.strip().lower().removeprefix("0x")
    for sep in (" ", ":", "-", "_"):
        cleaned = cleaned.replace(sep, "")
    return bytes.fromhex(cleaned)


def cmd_decode(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parsers = _parsers()
    try:
        payload = _hex_bytes(args.hex)
    except ValueError:
        print("edgeagent: " + _("{value} is not hex bytes (e.g. 0648 or 06:48)").format(
            value=repr(args.hex)), file=sys.stderr)
        return EXIT_USAGE
    try:
        short: str = parsers.short_uuid(args.uuid)
        measurement = parsers.decode(short, payload)
    except parsers.UnknownCharacteristicError as exc:
        print(f"edgeagent: {localize(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except parsers.GattPayloadError as exc:
        reason: str = exc.reason
        if args.json:
            print(json.dumps({"characteristic": short, "hex": payload.hex(), "valid": False,
                              "reason": reason}), file=out)
        else:
            print(_("rejected {uuid} payload {hex}: {reason}").format(
                uuid=short, hex=payload.hex(), reason=localize(reason)), file=out)
        return EXIT_REJECTED
    name: str = parsers.CHARACTERISTIC_NAMES.get(short, short)
    fields = measurement_fields(measurement)
    if args.json:
        print(json.dumps({"characteristic": short, "name": name, "hex": payload.hex(),
                          "valid": True, "fields": fields}, default=str), file=out)
    else:
        print(_("{name} (0x{uuid}), {size} bytes").format(
            name=name, uuid=short.upper(), size=len(payload)), file=out)
        for key, value in fields.items():
            print(f"  {key}: {value}", file=out)
    return EXIT_OK


def _ambient_formats() -> Any:
    from edgeagent_drivers.ambient import (  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
        ble_keys,
        formats,
    )
    return formats, ble_keys


def cmd_decode_advert(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    formats, ble_keys = _ambient_formats()
    try:
        payload = _hex_bytes(args.hex)
    except ValueError:
        print("edgeagent: " + _("{value} is not hex bytes (e.g. 40020a09)").format(
            value=repr(args.hex)), file=sys.stderr)
        return EXIT_USAGE
    if (args.key is None) != (args.mac is None):
        print("edgeagent: " + _("--mac and --key go together (the nonce holds the sender's MAC)"),
              file=sys.stderr)
        return EXIT_USAGE
    key: bytes | None = None
    mac: str | None = None
    if args.key is not None:
        try:
            key = ble_keys.parse_key(args.key)
            mac = ble_keys.normal_mac(args.mac)
        except ValueError as exc:
            print(f"edgeagent: {exc}", file=sys.stderr)
            return EXIT_USAGE
    uuid = args.uuid.lower().removeprefix("0x")
    try:
        frame = formats.decode(uuid, payload, mac=mac, key=key)
    except formats.AdvertPayloadError as exc:
        reason: str = str(exc)
        if args.json:
            print(json.dumps({"uuid": uuid, "hex": payload.hex(), "valid": False,
                              "reason": reason}), file=out)
        else:
            print(_("rejected 0x{uuid} service data {hex}: {reason}").format(
                uuid=uuid, hex=payload.hex(), reason=f"{exc.fmt}: {localize(exc.reason)}"),
                file=out)
        return EXIT_REJECTED
    doc = {"uuid": uuid, "hex": payload.hex(), "valid": True, "format": frame.fmt,
           "encrypted": frame.encrypted, "counter": frame.counter,
           "packet_id": frame.packet_id, "trigger_based": frame.trigger_based,
           "objects": dict(frame.values), "unparsed": frame.unparsed}
    if args.json:
        print(json.dumps(doc), file=out)
    else:
        lock = (_(", encrypted, counter {counter}").format(counter=frame.counter)
                if frame.encrypted else "")
        print(_("{name} (0x{uuid}), {size} bytes").format(
            name=frame.fmt, uuid=uuid, size=len(payload)) + lock, file=out)
        for name, value in frame.values.items():
            print(f"  {name}: {value}", file=out)
        if frame.unparsed:
            print("  " + _("(stopped: {rest})").format(rest=frame.unparsed), file=out)
    return EXIT_OK


# --- scan ----------------------------------------------------------------------------


def _ble_driver_options(config_path: str | None) -> list[Any]:
    config = load_config(resolve_config_path(config_path))
    return [d for d in config.drivers if d.type == "ble.vitals"]


def _configured_id(device: Any, adv: Any, tables: list[Any], short_or_none: Any) -> str:
    services = {short_or_none(u) for u in adv.service_uuids}
    for table in tables:
        for dev in table.devices:
            if dev.address and dev.address.lower() == device.address.lower():
                return str(dev.id)
            if dev.local_name and dev.local_name in (adv.local_name, device.name):
                return str(dev.id)
            if dev.service and dev.service in services:
                return str(dev.id)
    return ""


async def _discover(seconds: float, backend: Any, adapter: str) -> dict[str, Any]:
    from bleak import BleakScanner  # noqa: PLC0415 - keep `edgeagent --help` fast

    kwargs: dict[str, Any] = {"bluez": {"adapter": adapter}}
    if backend is not None and backend.scanner is not None:
        kwargs["backend"] = backend.scanner
    found: dict[str, Any] = await BleakScanner.discover(timeout=seconds, return_adv=True,
                                                        **kwargs)
    return found


def run_scan(seconds: float, config_path: str | None, out: TextIO | None = None,
             backend: Any = None) -> int:
    """Scan for `seconds` and print a table; `backend` overrides the configured one (tests)."""
    out = out or sys.stdout
    from bleak.exc import BleakError  # noqa: PLC0415
    from edgeagent_drivers.ble import vitals  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
    from edgeagent_drivers.ble.backends import ble_backend  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
    from edgeagent_drivers.ble.profiles import HEALTH_SERVICES  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415

    try:
        tables = _ble_driver_options(config_path) if config_path is not None else []
    except ConfigError as exc:
        print("edgeagent: " + _("config error: {reason}").format(reason=exc), file=sys.stderr)
        return EXIT_USAGE
    adapter = tables[0].adapter if tables else "hci0"
    if backend is None and tables:
        backend = ble_backend(tables[0].backend)
    try:
        found = asyncio.run(_discover(seconds, backend, adapter))
    except (BleakError, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, FileNotFoundError):
            detail = _("no D-Bus system bus, so no BlueZ")
        print("edgeagent: " + _("no usable Bluetooth on this machine ({adapter}): {detail}. Is "
                                "there an adapter, and is bluetoothd running (systemctl status "
                                "bluetooth)?").format(adapter=adapter, detail=detail),
              file=sys.stderr)
        return EXIT_USAGE
    rows = []
    for device, adv in found.values():
        services = [HEALTH_SERVICES[s].title for s in
                    (vitals.short_or_none(u) for u in adv.service_uuids)
                    if s in HEALTH_SERVICES]
        rows.append((adv.rssi, device.address, adv.local_name or device.name or "",
                     ", ".join(services), _configured_id(device, adv, tables,
                                                         vitals.short_or_none)))
    rows.sort(key=lambda row: -row[0])
    print(f"{'ADDRESS':<18} {'RSSI':>5}  {'NAME':<20} {'HEALTH SERVICES':<36} CONFIGURED",
          file=out)
    for rssi, address, name, offered, configured in rows:
        print(f"{address:<18} {rssi:>5}  {name[:20]:<20} {offered[:36]:<36} {configured}",
              file=out)
    configured_ids = {row[4] for row in rows if row[4]}
    missing = [d.id for t in tables for d in t.devices if d.id not in configured_ids]
    print(_("{count} devices in {seconds:g} s").format(count=len(rows), seconds=seconds),
          file=out)
    if missing:
        print(_("configured but not heard: {ids} (advert-only and sleeping monitors advertise "
                "only after a measurement)").format(ids=", ".join(missing)), file=out)
    return EXIT_OK


def cmd_scan(args: argparse.Namespace) -> int:
    return run_scan(args.seconds, args.config)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ble = subparsers.add_parser("ble", help=_("Bluetooth LE monitors: decode a payload, scan"))
    sub = ble.add_subparsers(dest="ble_command", metavar="SUBCOMMAND", required=True)

    decode = sub.add_parser(
        "decode", help=_("decode a captured characteristic value"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_("examples:\n  edgeagent ble decode 2a37 0648            # heart rate 72 bpm\n"
                 "  edgeagent ble decode 2a35 007d0052006400  # blood pressure 125/82 mmHg"))
    decode.add_argument("uuid", metavar="UUID",
                        help=_("characteristic: 2a37, 0x2A37 or "
                               "00002a37-0000-1000-8000-00805f9b34fb"))
    decode.add_argument("hex", metavar="HEX",
                        help=_("the value as hex bytes, e.g. 0648 (2a37: heart rate 72 bpm)"))
    decode.add_argument("--json", action="store_true", help=_("machine-readable output"))
    decode.set_defaults(func=cmd_decode)

    advert = sub.add_parser(
        "decode-advert", help=_("decode captured advertisement service data"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_("example:\n"
                 "  edgeagent ble decode-advert 4002ca0903bf13  # BTHome: 25.06 °C, 50.55 %"))
    advert.add_argument("hex", metavar="SERVICE_DATA_HEX",
                        help=_("the service data after the UUID, e.g. 4002ca0903bf13"))
    advert.add_argument("--uuid", choices=("fcd2", "181a"), default="fcd2",
                        help=_("service data UUID: fcd2 BTHome v2 (default), 181a ATC/pvvx"))
    advert.add_argument("--mac", help=_("the sender's address (for encrypted BTHome)"))
    advert.add_argument("--key", help=_("the device's bind key, 32 hex digits"))
    advert.add_argument("--json", action="store_true", help=_("machine-readable output"))
    advert.set_defaults(func=cmd_decode_advert)

    scan = sub.add_parser("scan", help=_("list nearby BLE devices and the configured monitors"))
    scan.add_argument("--seconds", type=float, default=10.0, help=_("how long to listen (10)"))
    scan.add_argument("--config", "-c", help=_("config file, to mark configured monitors"))
    scan.set_defaults(func=cmd_scan)
