"""`gpio.ok_button` on gpiozero's MockFactory: her "I'm OK" press, never an SOS."""

from __future__ import annotations

import pytest
from edgeagent_drivers.gpio.ok_button import OkButtonDriver
from gpiozero.pins.mock import MockFactory

from edgeagent.clock import ManualClock
from edgeagent.config import parse_config
from edgeagent.driver import HealthState
from edgeagent.errors import ConfigError
from tests.drivers.conftest import Harness

pytestmark = pytest.mark.usefixtures("mock_factory")


def test_each_press_is_one_ok_reading_and_a_long_hold_never_cancels_anything(
        harness: Harness, mock_factory: MockFactory, clock: ManualClock) -> None:
    ok = harness.make(OkButtonDriver, type="gpio.ok_button", name="ok", room="bedroom", pin=5,
                      stuck_after=30)
    ok.open()
    button = mock_factory.pin(5)
    button.drive_low()                  # 02:31:40 she presses
    clock.advance(0.3)
    button.drive_high()
    clock.advance(5)
    button.drive_low()                  # presses again and holds it
    clock.advance(10)
    ok.poll()
    button.drive_high()
    clock.advance(1)
    assert [(r.sensor, r.value, r.role, r.room) for r in harness.readings] == [
        ("ok", True, "ok", "bedroom"), ("ok", True, "ok", "bedroom")]
    button.drive_low()
    clock.advance(31)
    ok.poll()
    assert ok.health.state is HealthState.DEGRADED
    assert "I'm OK button held for 31 s" in ok.health.reason
    assert all(r.sensor == "ok" for r in harness.readings)


def test_the_ok_button_has_no_cancel_options_and_no_shared_pin_with_the_sos_button() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"drivers": [{"type": "gpio.ok_button", "name": "ok", "pin": 5,
                                   "long_press_action": "cancel"}]}, "<test>")
    assert err.value.key == "drivers[0].long_press_action"
    with pytest.raises(ConfigError) as err:
        parse_config({"drivers": [{"type": "gpio.sos", "name": "sos", "pin": 5},
                                  {"type": "gpio.ok_button", "name": "ok", "pin": 5}]}, "<test>")
    assert err.value.key == "drivers[1].pin"
