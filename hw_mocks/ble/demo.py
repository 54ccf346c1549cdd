"""A furnished home for the demo and the supervisor tests: one monitor of each profile.

    adapter = default_adapter()
    populate_demo(adapter, clock)
    asyncio.create_task(adapter.autopump(1.0))   # real time; or adapter.pump() per tick

The addresses match the commented "fake" example in drivers/ble/sample.toml.
"""

from __future__ import annotations

from edgeagent.clock import Clock

from . import encoders
from .backend import FakeAdapter
from .peripheral import FakePeripheral

DEMO_DEVICES = {
    "hr-strap": "DE:30:00:00:00:01",
    "oximeter": "DE:30:00:00:00:02",
    "bp-cuff": "DE:30:00:00:00:03",
    "scale": "DE:30:00:00:00:04",
    "thermometer": "DE:30:00:00:00:05",
}


def populate_demo(adapter: FakeAdapter, clock: Clock, *, speed_s: float = 60.0
                  ) -> dict[str, FakePeripheral]:
    """Add the demo monitors; each measures every `speed_s` seconds of `clock`."""
    hr = FakePeripheral(DEMO_DEVICES["hr-strap"], "HRM-Demo",
                        profiles=["heart_rate", "battery"], clock=clock, battery_pct=64)
    hr.every("2a37", speed_s / 6, lambda n: encoders.heart_rate(68 + n % 7, rr_s=(0.86,)))
    ox = FakePeripheral(DEMO_DEVICES["oximeter"], "PO-Demo",
                        profiles=["pulse_oximeter", "battery"], clock=clock, battery_pct=90)
    ox.every("2a5f", speed_s, lambda n: encoders.plx_continuous(96 + n % 3, 70 + n % 5))
    bp = FakePeripheral(DEMO_DEVICES["bp-cuff"], "BP-Demo",
                        profiles=["blood_pressure", "battery"], clock=clock,
                        store_while_disconnected=True, battery_pct=55)
    bp.every("2a35", speed_s * 4,
             lambda n: encoders.blood_pressure(124 + n % 9, 79 + n % 5, pulse=71,
                                               when=None))
    scale = FakePeripheral(DEMO_DEVICES["scale"], "Scale-Demo",
                           profiles=["weight_scale"], clock=clock,
                           store_while_disconnected=True)
    scale.every("2a9d", speed_s * 10, lambda n: encoders.weight(61.4 + (n % 3) / 10))
    thermo = FakePeripheral(DEMO_DEVICES["thermometer"], "Thermo-Demo",
                            profiles=["thermometer"], clock=clock)
    devices = {"hr-strap": hr, "oximeter": ox, "bp-cuff": bp, "scale": scale,
               "thermometer": thermo}
    adapter.add(*devices.values())
    thermo.broadcast("1809", encoders.temperature(36.7))
    return devices
