"""drivers/ambient/sample.toml stays a valid config for both environment drivers."""

from __future__ import annotations

import tomllib
from pathlib import Path

from edgeagent_drivers.ambient.advert_env import AdvertEnvOptions
from edgeagent_drivers.ambient.mqtt_local import MqttLocalOptions

from edgeagent.config import parse_config

SAMPLE = Path(__file__).resolve().parents[2] / "drivers" / "ambient" / "sample.toml"


def test_ambient_sample_config_validates() -> None:
    config = parse_config(tomllib.loads(SAMPLE.read_text()), str(SAMPLE))
    by_type = {d.type: d for d in config.drivers}
    thermos = by_type["ble.advert_env"]
    assert isinstance(thermos, AdvertEnvOptions)
    assert [s.room for s in thermos.sensors] == ["living_room", "bedroom"]
    plugs = by_type["mqtt.local"]
    assert isinstance(plugs, MqttLocalOptions)
    assert [m.role for m in plugs.map] == ["kettle", "fridge_door", "microwave"]
