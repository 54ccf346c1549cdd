"""The custom-firmware formats of Xiaomi LYWSD03MMC-class thermometers on service 0x181A.

Flashing these €4 sensors with atc1441's or pvvx's firmware (done in a browser,
no tools) makes them advertise readings in the clear. Two layouts share the
Environmental Sensing UUID and are told apart by length:

- atc1441 (13 bytes, big-endian): MAC[6] in display order, temperature int16
  x0.1 °C, humidity uint8 %, battery uint8 %, battery mV uint16, frame counter.
  https://github.com/atc1441/ATC_MiThermometer#advertising-format-of-the-custom-firmware
- pvvx "custom" (15 bytes, little-endian): MAC[6] reversed, temperature int16
  x0.01 °C, humidity uint16 x0.01 %, battery mV uint16, battery uint8 %,
  measurement counter uint8, flags uint8.
  https://github.com/pvvx/ATC_MiThermometer#custom-format-all-data-little-endian

pvvx's encrypted variants (other lengths) and the stock Mi "MiBeacon"
(0xFE95, encrypted on this model) are not decoded: set the firmware to
"custom" or "BTHome" without encryption.
"""

from __future__ import annotations

import struct

from edgeagent.i18n import N_

from .formats import AdvertPayloadError, EnvFrame

SERVICE_UUID16 = "181a"
ATC1441_LENGTH = 13
PVVX_LENGTH = 15


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02X}" for b in raw)


def parse(data: bytes) -> EnvFrame:
    """Decode one 0x181A service-data payload; `AdvertPayloadError` if it is neither layout."""
    data = bytes(data)
    if len(data) == ATC1441_LENGTH:
        temp, hum, batt, mv, counter = struct.unpack(">hBBHB", data[6:])
        frame = EnvFrame(fmt="atc1441", mac=_mac(data[:6]), packet_id=counter)
        frame.values.update({"temperature": round(temp * 0.1, 1), "humidity": hum,
                             "battery": batt, "voltage": round(mv / 1000, 3)})
        return frame
    if len(data) == PVVX_LENGTH:
        temp, hum, mv, batt, counter, flags = struct.unpack("<hHHBBB", data[6:])
        frame = EnvFrame(fmt="pvvx", mac=_mac(data[5::-1]), packet_id=counter)
        frame.values.update({"temperature": round(temp * 0.01, 2),
                             "humidity": round(hum * 0.01, 2), "battery": batt,
                             "voltage": round(mv / 1000, 3), "flags": flags})
        return frame
    raise AdvertPayloadError("atc", N_(
        "{size} bytes on 0x181A: expected {atc} (atc1441) or {pvvx} (pvvx custom); encrypted "
        "pvvx formats are not supported").format(size=len(data), atc=ATC1441_LENGTH,
                                                  pvvx=PVVX_LENGTH))
