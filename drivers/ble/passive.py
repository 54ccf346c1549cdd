"""The passive-scan loop shared by every driver that reads advertisements.

BlueZ scanners go quiet without an error now and then; Home Assistant's
habluetooth restarts one after ~90 s without an advertisement, and so do we.
A scanner that cannot start is retried after `retry_delay(failures)`; no
Bluetooth at all is `HardwareUnavailable`, which the supervisor backs off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bleak import BleakScanner
from bleak.args.bluez import OrPattern
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakBluetoothNotAvailableError, BleakError

from edgeagent.driver import Driver, HealthState
from edgeagent.errors import HardwareUnavailable

log = logging.getLogger(__name__)

# What a BLE operation may raise on a flaky stack (bleak-retry-connector catches the same).
# Not AttributeError and the like: a programming error is a crash, reported as one.
BLE_ERRORS = (BleakError, TimeoutError, OSError, EOFError)
AdvertCallback = Callable[[BLEDevice, AdvertisementData], None]


async def passive_scan_forever(
    driver: Driver,
    on_advertisement: AdvertCallback,
    *,
    or_patterns: list[OrPattern],
    adapter: str,
    scanner_backend: type[BaseBleakScanner] | None,
    operation_timeout_s: float,
    restart_after_s: float,
    poll_s: float,
    sleep: Callable[[float], Awaitable[None]],
    retry_delay: Callable[[int], float],
) -> None:
    """Feed `on_advertisement` from a passive scanner, restarting it when it goes quiet."""
    clock = driver.context.clock
    last_advert = clock.monotonic()

    def heard(device: BLEDevice, adv: AdvertisementData) -> None:
        nonlocal last_advert
        last_advert = clock.monotonic()
        on_advertisement(device, adv)

    failures = 0
    while True:
        scanner = BleakScanner(heard, scanning_mode="passive",
                               bluez={"adapter": adapter, "or_patterns": list(or_patterns)},
                               backend=scanner_backend)
        try:
            async with asyncio.timeout(operation_timeout_s):
                await scanner.start()
        except BleakBluetoothNotAvailableError as exc:
            driver.set_health(HealthState.FAILED, f"Bluetooth unavailable: {exc}")
            raise HardwareUnavailable(f"Bluetooth adapter unavailable: {exc}") from exc
        except BLE_ERRORS as exc:
            failures += 1
            driver.count("scanner_errors")
            delay = retry_delay(failures)
            log.warning("passive scan failed to start: %s; retry in %.0f s", exc, delay)
            await sleep(delay)
            continue
        failures = 0
        last_advert = clock.monotonic()
        try:
            while clock.monotonic() - last_advert < restart_after_s:
                await sleep(min(restart_after_s, poll_s))
            driver.count("scanner_restarts")
            log.info("no advertisement for %.0f s, restarting the scanner", restart_after_s)
        finally:
            with contextlib.suppress(*BLE_ERRORS):
                async with asyncio.timeout(operation_timeout_s):
                    await scanner.stop()
