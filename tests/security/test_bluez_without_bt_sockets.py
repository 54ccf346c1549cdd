"""BLE works with AF_BLUETOOTH and AF_NETLINK refused, as the unit's RestrictAddressFamilies=.

bleak talks to BlueZ over D-Bus, an AF_UNIX socket: the unit allows only
AF_UNIX, AF_INET and AF_INET6. A private dbus-daemon stands in for the system
bus and a small org.bluez service (one adapter, then one advertising
device) for bluetoothd. A second process runs bleak's BlueZ scanner with
every AF_BLUETOOTH/AF_NETLINK socket refused (EAFNOSUPPORT, what systemd's
filter returns) and must receive the advertisement, having needed no such socket.
"""


import asyncio
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

dbus_fast = pytest.importorskip("dbus_fast")
from dbus_fast import BusType, Variant  # noqa: E402
from dbus_fast.aio import MessageBus  # noqa: E402
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method  # noqa: E402

DBUS_DAEMON = shutil.which("dbus-daemon")
ADDRESS = "C0:FF:EE:00:00:01"

SCANNER = textwrap.dedent("""
    import asyncio, errno, json, socket, sys

    AF_NETLINK, AF_BLUETOOTH = 16, 31  # <linux/socket.h>; not every CPython defines both
    refused = []
    def deny(event, args):
        if event == "socket.__new__" and args[1] in (AF_BLUETOOTH, AF_NETLINK):
            refused.append(int(args[1]))
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported (unit filter)")
    sys.addaudithook(deny)
    try:  # the filter is live: a netlink socket is refused here
        socket.socket(AF_NETLINK, socket.SOCK_RAW, 0)
        sys.exit("the AF_NETLINK filter did not refuse a socket")
    except OSError as exc:
        assert exc.errno == errno.EAFNOSUPPORT, exc
    refused.clear()

    from bleak import BleakScanner

    async def main():
        seen = asyncio.Event()
        found = {}
        def on_advert(device, adv):
            found.update(address=device.address, name=adv.local_name,
                         manufacturer={str(k): v.hex() for k, v in adv.manufacturer_data.items()})
            seen.set()
        async with BleakScanner(on_advert):
            print("SCANNING", flush=True)
            await asyncio.wait_for(seen.wait(), 20)
        print(json.dumps({"found": found, "refused": refused}), flush=True)

    asyncio.run(main())
""")


class Adapter(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.bluez.Adapter1")
        self.discovering = False

    @method()
    def SetDiscoveryFilter(self, properties: "a{sv}") -> None:  # noqa: F722
        pass

    @method()
    def StartDiscovery(self) -> None:
        self.discovering = True

    @method()
    def StopDiscovery(self) -> None:
        self.discovering = False

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":  # noqa: F821
        return "00:1A:7D:DA:71:13"

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> "b":  # noqa: F821
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> "b":  # noqa: F821
        return self.discovering

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> "as":  # noqa: F722
        return ["central", "peripheral"]


class Device(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.bluez.Device1")

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":  # noqa: F821
        return ADDRESS

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> "s":  # noqa: F821
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> "s":  # noqa: F821
        return "Scale"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":  # noqa: F821
        return "Scale"

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> "o":  # noqa: F821
        return "/org/bluez/hci0"

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> "n":  # noqa: F821
        return -60

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":  # noqa: F722
        return []

    @dbus_property(access=PropertyAccess.READ)
    def ManufacturerData(self) -> "a{qv}":  # noqa: F722
        return {0x0157: Variant("ay", b"\x01\x02")}

    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> "a{sv}":  # noqa: F722
        return {}

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> "b":  # noqa: F821
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> "b":  # noqa: F821
        return False

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> "b":  # noqa: F821
        return False


@pytest.mark.skipif(DBUS_DAEMON is None, reason="dbus-daemon is not installed here")
@pytest.mark.timeout(60)
async def test_bleak_scans_over_dbus_with_bluetooth_and_netlink_sockets_refused(
        tmp_path: Path) -> None:
    address = f"unix:path={tmp_path}/bus"
    daemon = subprocess.Popen([DBUS_DAEMON, "--session", "--nofork", "--nopidfile",
                               f"--address={address}", "--print-address"],
                              stdout=subprocess.PIPE, text=True)
    scanner: asyncio.subprocess.Process | None = None
    try:
        assert daemon.stdout is not None
        await asyncio.to_thread(daemon.stdout.readline)  # the bus is listening
        bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
        adapter = Adapter()
        bus.export("/org/bluez/hci0", adapter)
        await bus.request_name("org.bluez")
        scanner = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SCANNER, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"DBUS_SYSTEM_BUS_ADDRESS": address, "PATH": "/usr/bin:/bin"})
        assert scanner.stdout is not None and scanner.stderr is not None
        line = await asyncio.wait_for(scanner.stdout.readline(), 30)
        if line.strip() != b"SCANNING":
            raise AssertionError((line + await scanner.stderr.read()).decode()[-3000:])
        assert adapter.discovering
        bus.export("/org/bluez/hci0/dev_C0_FF_EE_00_00_01", Device())  # InterfacesAdded
        out, err = await asyncio.wait_for(scanner.communicate(), 30)
        assert scanner.returncode == 0, err.decode()[-2000:]
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        assert result["found"] == {"address": ADDRESS, "name": "Scale",
                                   "manufacturer": {str(0x0157): "0102"}}
        # Nothing even tried a Bluetooth or netlink socket: dropping them costs nothing.
        assert result["refused"] == []
        bus.disconnect()
    finally:
        if scanner is not None and scanner.returncode is None:
            scanner.kill()
            await scanner.wait()
        daemon.terminate()
        daemon.wait(10)
