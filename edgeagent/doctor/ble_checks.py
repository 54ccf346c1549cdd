"""Bluetooth: the adapter is present and not blocked; each configured monitor is heard.

Standalone only (with the daemon running, the BLE driver's live health says
the same without a second scanner fighting BlueZ). The scan runs bleak's
own `BleakScanner` with the backend the driver is configured with, so the
fake backend of the tests exercises the same path as BlueZ on a Pi. It ends
early once every configured monitor has been heard. What to probe comes from
the driver's `checks()` (a `BleScanCheck`); the doctor imports no driver.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from edgeagent.config import AgentConfig
from edgeagent.driver import BleScanCheck, DriverOptions, hardware_checks
from edgeagent.i18n import _

from .context import DoctorContext
from .result import CheckResult, fail, ok, skip


def check_ble(config: AgentConfig, env: DoctorContext) -> list[CheckResult]:
    results: list[CheckResult] = []
    for opts in config.drivers:
        probe = scan_check(opts) if opts.enabled else None
        if probe is None:
            continue
        adapter = check_adapter(opts, env)
        results.append(adapter)
        if adapter.status is not adapter.status.PASS:
            results.extend(skip(f"ble.monitor[{d.id}]", _("no usable adapter"))
                           for d in probe.devices)
            continue
        results.extend(scan_monitors(opts, env))
    return results


def scan_check(opts: DriverOptions) -> BleScanCheck | None:
    """The driver's BLE probe, if it asks for one."""
    return next((p for p in hardware_checks(opts) if isinstance(p, BleScanCheck)), None)


def check_adapter(opts: DriverOptions, env: DoctorContext) -> CheckResult:
    name = f"ble.adapter[{opts.name}]"
    probe = scan_check(opts)
    if probe is None:
        return skip(name, _("{type}: no hardware to probe").format(type=opts.type))
    adapter, backend_name = probe.adapter, probe.backend
    if backend_name != "bleak":
        try:
            scanner = probe.scanner()
        except Exception as exc:  # noqa: BLE001 - a plugin backend may fail any way
            return fail(name, _("BLE backend {backend_name!r} unusable: {exc}").format(
                                  backend_name=backend_name, exc=exc),
                        _("check the driver's `backend` option"))
        fake = getattr(scanner, "adapter", None)
        if fake is not None and not getattr(fake, "powered", True):
            return fail(name, _("adapter {adapter} ({backend_name}) is powered off").format(
                                  adapter=adapter, backend_name=backend_name),
                        _("bluetoothctl power on"))
        return ok(name, _("adapter {adapter} via backend {backend_name!r}").format(
                            adapter=adapter, backend_name=backend_name))
    sysfs = env.sysfs_bluetooth / adapter
    if not sysfs.exists():
        present = sorted(p.name for p in env.sysfs_bluetooth.glob("hci*")) \
            if env.sysfs_bluetooth.exists() else []
        return fail(name, _("no Bluetooth adapter {adapter} (present: {present})").format(
                              adapter=adapter, present=present or _("none")),
                    _("check the dongle / enable Bluetooth in the Pi's config.txt; set the "
                      "driver's `adapter`"), adapter=adapter)
    blocked = _rfkill_blocked(env.sysfs_rfkill)
    if blocked:
        return fail(name, _("adapter {adapter} is blocked by rfkill ({blocked})").format(
                              adapter=adapter, blocked=blocked),
                    _("rfkill unblock bluetooth"), adapter=adapter)
    return ok(name, _("adapter {adapter} present").format(adapter=adapter), adapter=adapter)


def _rfkill_blocked(root: Path) -> str:
    if not root.exists():
        return ""
    for dev in root.glob("rfkill*"):
        try:
            if (dev / "type").read_text().strip() != "bluetooth":
                continue
            if (dev / "hard").read_text().strip() == "1":
                return "hard"
            if (dev / "soft").read_text().strip() == "1":
                return "soft"
        except OSError:
            continue
    return ""


def _run(coro: Coroutine[Any, Any, dict[str, int | None]]) -> dict[str, int | None]:
    """Run a coroutine to completion even if the caller is inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def worker() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=worker, name="doctor-ble-scan")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: dict[str, int | None] = box["result"]
    return result


async def _scan(scanner_cls: Any, probe: BleScanCheck, wanted: dict[str, Any],
                seconds: float) -> dict[str, int | None]:
    bleak = importlib.import_module("bleak")
    seen: dict[str, int | None] = {}
    everyone = asyncio.Event()

    def heard(device: Any, adv: Any) -> None:
        for dev_id, dev in wanted.items():
            if dev_id in seen:
                continue
            address = getattr(dev, "address", None)
            local = getattr(dev, "local_name", None)
            service = getattr(dev, "service", None)
            if (address and device.address.upper() == address.upper()) or \
                    (local and (adv.local_name or device.name) == local) or \
                    (service and service.lower() in _short_uuids(probe, adv.service_uuids)):
                seen[dev_id] = adv.rssi
        if len(seen) == len(wanted):
            everyone.set()

    scanner = bleak.BleakScanner(heard, backend=scanner_cls)
    await scanner.start()
    try:
        await asyncio.wait_for(everyone.wait(), seconds)
    except TimeoutError:
        pass
    finally:
        await scanner.stop()
    return seen


def _short_uuids(probe: BleScanCheck, uuids: list[str]) -> set[str]:
    out = set()
    for uuid in uuids:
        try:
            out.add(str(probe.short_uuid(uuid)).lower())
        except Exception:  # noqa: BLE001 - vendor UUIDs have no short form
            out.add(uuid.lower())
    return out


def scan_monitors(opts: DriverOptions, env: DoctorContext) -> list[CheckResult]:
    probe = scan_check(opts)
    devices = {str(d.id): d for d in probe.devices} if probe else {}
    if probe is None or not devices:
        return []
    env.progress(_("scanning BLE for {seconds:.0f} s").format(seconds=env.ble_scan_seconds))
    try:
        seen = _run(_scan(probe.scanner(), probe, devices, env.ble_scan_seconds))
    except Exception as exc:  # noqa: BLE001 - BlueZ/D-Bus failures come in many classes
        return [fail(f"ble.monitor[{d}]", _("scan failed: {error}: {exc}").format(
                                              error=type(exc).__name__, exc=exc),
                     _("systemctl status bluetooth; bluetoothctl show")) for d in devices]
    results: list[CheckResult] = []
    for dev_id, dev in devices.items():
        name = f"ble.monitor[{dev_id}]"
        label = getattr(dev, "address", None) or getattr(dev, "local_name", None) or dev_id
        if dev_id in seen:
            results.append(ok(name, _("{label} seen, rssi {rssi} dBm").format(
                                        label=label, rssi=seen[dev_id]), rssi=seen[dev_id]))
        else:
            results.append(fail(name, _("{label} not seen in a {seconds:g} s scan").format(
                                          label=label, seconds=env.ble_scan_seconds),
                                _("wake the monitor (take a measurement), bring it within a few "
                                  "metres, check its batteries; then run doctor again"),
                                address=getattr(dev, "address", None)))
    return results
