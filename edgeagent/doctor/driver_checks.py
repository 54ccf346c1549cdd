"""Is each configured driver's hardware there and answering?

With the daemon running, its live driver health is the answer: opening a
serial port or claiming a GPIO pin a second time would steal the device
from the agent. Without it, each driver family's hardware is probed
directly, as the driver asks through its class's `checks()` (the doctor imports no
driver): the serial port exists, opens and bytes arrive, the GPIO pin factory loads and
the pin can be claimed. BLE has its own module (`ble_checks`).
"""

from __future__ import annotations

import os
import stat
import time
import warnings
from typing import Any

from edgeagent.config import AgentConfig
from edgeagent.driver import (
    DriverOptions,
    GpioPinCheck,
    SerialPortCheck,
    hardware_checks,
)
from edgeagent.i18n import N_, _

from .result import CheckResult, Status, fail, ok, skip, warn

STATE_WORDS = {"ok": N_("ok"), "degraded": N_("degraded"), "failed": N_("failed"),
               "starting": N_("starting")}


def check_drivers_live(config: AgentConfig, live: dict[str, Any]) -> list[CheckResult]:
    """One check per enabled driver, from the daemon's `status()["drivers"]`."""
    drivers: dict[str, Any] = live.get("drivers", {})
    results: list[CheckResult] = []
    for opts in config.drivers:
        name = f"driver[{opts.name}]"
        if not opts.enabled:
            results.append(skip(name, _("disabled in config")))
            continue
        health = drivers.get(opts.name)
        if health is None:
            results.append(warn(name, _("configured but not running in the daemon"),
                                _("the daemon runs an older config: systemctl restart edgeagent")))
            continue
        results.append(_from_health(name, opts, health))
        results.extend(_ble_devices_live(opts, health))
    return say_missing_once(results)


def _from_health(name: str, opts: DriverOptions, health: dict[str, Any]) -> CheckResult:
    state = health.get("state", "")
    why = health.get("reason") or health.get("last_error") or ""
    details = {"type": opts.type, "state": state, "restarts": health.get("restarts", 0),
               "readings": health.get("readings", 0), "counters": health.get("counters", {})}
    word = _(STATE_WORDS[state]) if state in STATE_WORDS else state
    missing = (health.get("details") or {}).get("missing")
    if state == "failed" and missing:  # hardware absent: say_missing_once names it once
        details.update(missing=missing,
                       missing_fix=(health.get("details") or {}).get("fix", ""))
    text = _("{type}: {state}").format(type=opts.type, state=word) + (
        f" ({shorten(why)})" if why else "")
    if state == "ok":
        return ok(name, text, **details)
    if state == "failed":
        return fail(name, text, _hardware_hint(opts), **details)
    return warn(name, text, _hardware_hint(opts), **details)


def _ble_devices_live(opts: DriverOptions, health: dict[str, Any]) -> list[CheckResult]:
    """Per BLE monitor: RSSI, last reading age, battery, from the driver's health details."""
    if not opts.type.startswith("ble."):
        return []
    results: list[CheckResult] = []
    for device, info in (health.get("details") or {}).items():
        if not isinstance(info, dict):
            continue
        name = f"ble.monitor[{device}]"
        rssi = info.get("rssi")
        parts = [_("rssi {rssi} dBm").format(rssi=rssi if rssi is not None else "?")]
        age = info.get("last_reading_age_s")
        parts.append(_("last reading {age:.0f} s ago").format(age=age) if age is not None
                     else _("no reading yet"))
        if info.get("battery_pct") is not None:
            parts.append(_("battery {pct}%").format(pct=info["battery_pct"]))
        text = ", ".join(parts)
        if info.get("offline"):
            results.append(fail(name, _("offline: {text}").format(text=text),
                                _("bring the monitor within a few metres; change its batteries"),
                                **info))
        elif info.get("low_battery"):
            results.append(warn(name, _("low battery: {text}").format(text=text),
                                _("replace the batteries"), **info))
        elif age is None:
            results.append(warn(name, text, _("take a measurement so the agent hears it"), **info))
        else:
            results.append(ok(name, text, **info))
    return results


# What a driver's HardwareUnavailable says is absent (`missing`) -> the check that names
# it once for all drivers, its reason and its fix.
MISSING = {
    "gpio-library": ("gpio.library", N_("no GPIO pin library on this machine: {drivers} cannot "
                                        "start"),
                     N_("on a Pi: apt install python3-lgpio; elsewhere remove the gpio.* drivers "
                        "or set pin_factory = \"mock\" for a dry run")),
}
REASON_CHARS = 160


def shorten(reason: str, limit: int = REASON_CHARS) -> str:
    """A reason cut to fit a phone's terminal in a few lines; the journal has it whole."""
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def say_missing_once(results: list[CheckResult]) -> list[CheckResult]:
    """Drivers failing for the same absent library: one check with the fix, short lines each.

    Three GPIO drivers without lgpio used to give three long reasons each advising to
    check the wiring, when the one fix is installing the pin library.
    """
    affected: dict[str, list[CheckResult]] = {}
    for result in results:
        missing = result.details.get("missing")
        if result.status is Status.FAIL and missing:
            affected.setdefault(str(missing), []).append(result)
    if not affected:
        return results
    out: list[CheckResult] = []
    for result in results:
        missing = str(result.details.get("missing") or "")
        group = affected.get(missing)
        if not group or result not in group:
            out.append(result)
            continue
        drivers = ", ".join(r.name for r in group)
        check, reason, fix = MISSING.get(missing, (
            f"hardware[{missing}]", "", str(result.details.get("missing_fix") or "")))
        if result is group[0]:
            out.append(fail(check, _(reason).format(drivers=drivers) if reason
                            else shorten(result.reason), _(fix) if reason else fix,
                            drivers=[r.name for r in group]))
        details = {k: v for k, v in result.details.items() if k != "missing_fix"}
        out.append(fail(result.name, _("cannot start: see {check}").format(check=check), "",
                        **details))
    return out


def _hardware_hint(opts: DriverOptions) -> str:
    if opts.type.startswith("serial."):
        return _("check the USB cable of the mat; ls -l /dev/serial/by-id/")
    if opts.type.startswith("gpio."):
        return _("check the wiring to the pin; journalctl -u edgeagent for the driver's error")
    if opts.type.startswith("ble."):
        return _("check the adapter (bluetoothctl show) and the monitors' batteries")
    return _("journalctl -u edgeagent for the driver's error")


def check_drivers_standalone(config: AgentConfig,
                             serial_listen_s: float = 3.0) -> list[CheckResult]:
    """The daemon is not running: probe the hardware of each serial and GPIO driver."""
    results: list[CheckResult] = []
    for opts in config.drivers:
        name = f"driver[{opts.name}]"
        if not opts.enabled:
            results.append(skip(name, _("disabled in config")))
            continue
        probes = hardware_checks(opts)
        for probe in probes:
            if isinstance(probe, SerialPortCheck):
                results.append(check_serial_port(name, probe, serial_listen_s))
            elif isinstance(probe, GpioPinCheck):
                results.append(check_gpio_pin(name, probe))
        if not probes:  # a BleScanCheck is ble_checks' job (adapter, then a scan)
            results.append(skip(name, _("{type}: no hardware to probe").format(type=opts.type)))
    return say_missing_once(results)


def check_serial_port(name: str, probe: SerialPortCheck, listen_s: float = 3.0) -> CheckResult:
    """Present, opens at the configured speed, and a well-formed frame arrives in time."""
    port, baudrate, framing = probe.port, probe.baudrate, probe.framing
    try:
        st = os.stat(port)
    except FileNotFoundError:
        return fail(name, _("serial port {port} does not exist").format(port=port),
                    _("plug in the bed mat's USB adapter; ls -l /dev/serial/by-id/ and put that "
                      "path in the driver's `port`"), port=port)
    except PermissionError as exc:
        return fail(name, _("serial port {port}: {strerror}").format(
                              port=port, strerror=exc.strerror),
                    _("run as the agent's user (group dialout)"), port=port)
    if not stat.S_ISCHR(st.st_mode):
        return fail(name, _("{port} is not a serial device").format(
                              port=port), _("point `port` at the tty device"),
                    port=port)
    try:
        import serial  # noqa: PLC0415 - pyserial only when a serial driver is configured

        link = serial.Serial(port, baudrate=baudrate, timeout=0.1)
    except (OSError, ValueError, serial.SerialException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return fail(name, _("serial port {port} exists but does not open: {strerror}").format(
                              port=port, strerror=reason),
                    _("check permissions (group dialout) and that nothing else holds the port"),
                    port=port)
    framer = probe.framer()
    got = 0
    frames: list[Any] = []
    deadline = time.monotonic() + listen_s
    try:
        while not frames and time.monotonic() < deadline:
            chunk = link.read(256)
            got += len(chunk)
            frames = framer.feed(chunk) if chunk else []
    except (OSError, serial.SerialException):
        pass
    finally:
        link.close()
    if not got:
        return warn(name, _("serial port {port} opens but sent nothing in {seconds:g} s").format(
                        port=port, seconds=listen_s),
                    _("check the mat's power and cable; a mat that only talks on change may "
                      "need someone to sit on it"), port=port)
    if not frames:
        return fail(name, _("serial port {port}: {count} bytes but no valid {framing} frame at "
                            "{baud} baud").format(port=port, count=got, framing=framing,
                                                  baud=baudrate),
                    _("wrong baud rate or framing? check the mat's manual and the driver's "
                      "`baudrate` and `framing`"), port=port)
    return ok(name, _("serial port {port} present, opens, a {framing} frame arrived "
                      "({state})").format(port=port, framing=framing,
                                          state=getattr(frames[0], "state", "?")), port=port)


def _pin_factory(probe: GpioPinCheck) -> Any:
    """The pin factory the driver would use: its option, $GPIOZERO_PIN_FACTORY, gpiozero's."""
    wanted = probe.pin_factory or os.environ.get("GPIOZERO_PIN_FACTORY")
    if wanted:
        return probe.load_factory(wanted)
    import gpiozero  # noqa: PLC0415 - only when a GPIO driver is configured
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gpiozero.Device.ensure_pin_factory()
    return gpiozero.Device.pin_factory


def _no_library(probe: GpioPinCheck) -> dict[str, str]:
    """gpiozero's own choice failed: no pin library (one fix for all); a named one is the
    driver's own setting and keeps its own check."""
    named = probe.pin_factory or os.environ.get("GPIOZERO_PIN_FACTORY")
    return {} if named else {"missing": "gpio-library"}


def check_gpio_pin(name: str, probe: GpioPinCheck) -> CheckResult:
    pin = probe.pin
    try:
        factory = _pin_factory(probe)
    except Exception as exc:  # noqa: BLE001 - gpiozero factories raise anything when absent
        return fail(name, _("no GPIO pin factory usable here: {error}: {exc}").format(
                              error=type(exc).__name__, exc=exc),
                    _("on a Pi: apt install python3-lgpio; elsewhere remove GPIO drivers or set "
                      "GPIOZERO_PIN_FACTORY=mock for a dry run"), pin=pin,
                    **_no_library(probe))
    import gpiozero  # noqa: PLC0415 - only when a GPIO driver is configured
    try:
        device = gpiozero.DigitalInputDevice(pin, pin_factory=factory)
    except Exception as exc:  # noqa: BLE001 - GPIOPinInUse, PinInvalidPin, lgpio errors
        return fail(name, _("GPIO{pin} cannot be claimed: {error}: {exc}").format(
                              pin=pin, error=type(exc).__name__, exc=exc),
                    _("another process holds the pin (is the agent running?) or the pin number "
                      "is wrong for this board"), pin=pin)
    device.close()
    return ok(name, _("GPIO{pin} claimable ({factory})").format(
                        pin=pin, factory=type(factory).__name__), pin=pin)
