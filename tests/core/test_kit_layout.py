"""The configured kit's layout reaches the safety engine before its first reading."""

from __future__ import annotations

import tomllib

from edgeagent.config import parse_config
from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.kit_layout import layout_of
from edgeagent.pipeline import build_default_engine

KIT = """
[home]
id = "home-1"
timezone = "Europe/Amsterdam"
[mqtt]
urls = ["mqtt://127.0.0.1:1883"]
[[drivers]]
type = "gpio.pir"
name = "pir-bedroom"
room = "bedroom"
pin = 17
[[drivers]]
type = "gpio.contact"
name = "door-entrance"
room = "hall"
role = "entrance"
pin = 22
[[drivers]]
type = "gpio.contact"
name = "door-bedroom"
room = "bedroom"
role = "door"
pin = 23
[[drivers]]
type = "gpio.bedmat"
name = "bed"
room = "bedroom"
pin = 5
"""


def test_the_config_tells_the_engine_what_the_kit_can_see(tmp_path) -> None:
    data = tomllib.loads(KIT)
    data["outbox"] = {"path": str(tmp_path / "outbox.db")}
    config = parse_config(data)
    assert layout_of(config) == {"motion_rooms": ["bedroom"], "entrance": True, "bed": True,
                                 "bedroom_door": True, "can_ask": False}
    engine = build_default_engine(config)
    assert isinstance(engine, SafetyEngine)
    layout = engine.state.layout
    assert layout.has_entrance and layout.has_bed and layout.bedroom_door
    assert layout.motion_rooms == ["bedroom"]


def test_a_bthome_button_set_apart_as_ok_and_a_buzzer_make_a_kit_that_can_ask(tmp_path) -> None:
    data = tomllib.loads(KIT)
    data["outbox"] = {"path": str(tmp_path / "outbox.db")}
    data["drivers"].append({"type": "ble.button", "name": "buttons", "devices": [
        {"id": "ok-button", "address": "A4:C1:38:12:34:57", "role": "ok"}]})
    assert layout_of(parse_config(data))["can_ask"] is False  # no annunciator yet
    data["outputs"] = [{"type": "gpio.buzzer", "name": "buzzer", "pin": 18}]
    assert layout_of(parse_config(data))["can_ask"] is True
