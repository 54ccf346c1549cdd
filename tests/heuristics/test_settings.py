"""The `[heuristics]` table: typed, defaults, per-home overrides, typos rejected."""

from __future__ import annotations

from datetime import time

import pytest

from edgeagent.config import parse_config
from edgeagent.errors import ConfigError
from edgeagent.heuristics.settings import HeuristicsSettings


def test_defaults_are_the_documented_ones() -> None:
    s = HeuristicsSettings()
    assert (s.night_start, s.night_end) == (time(22), time(6))
    assert s.bed_exit_no_return_minutes == 20 and s.bathroom_overstay_minutes == 45
    assert s.bathroom_night_critical_minutes == 45
    assert s.routine_window_days == 28 and s.vitals.spo2_min == 90


def test_a_care_plan_overrides_per_home() -> None:
    config = parse_config({"heuristics": {
        "night_start": "23:00", "bed_exit_no_return_minutes": 15,
        "vitals": {"spo2_min": 92, "heart_rate_max": 110},
        "distant_rooms": [["bedroom", "kitchen"]],
    }})
    h = config.heuristics
    assert h.night_start == time(23) and h.bed_exit_no_return_minutes == 15
    assert h.vitals.spo2_min == 92 and h.vitals.heart_rate_max == 110
    assert h.distant_rooms == [("bedroom", "kitchen")]


@pytest.mark.parametrize(("table", "key"), [
    ({"nigth_start": "23:00"}, "heuristics.nigth_start"),
    ({"vitals": {"spo2_mni": 92}}, "heuristics.vitals.spo2_mni"),
    ({"bed_exit_no_return_minutes": 0}, "heuristics.bed_exit_no_return_minutes"),
])
def test_typos_and_nonsense_are_rejected_with_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"heuristics": table})
    assert key in str(info.value)


def test_floor_above_ceiling_is_rejected() -> None:
    with pytest.raises(ValueError, match="floor"):
        HeuristicsSettings(inactivity_floor_minutes=200, inactivity_ceiling_minutes=100)
