"""The sample configs shipped with the drivers stay valid."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edgeagent.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sample", ["drivers/gpio/sample.toml", "drivers/serial/sample.toml"])
def test_sample_config_validates(sample: str) -> None:
    data = tomllib.loads((ROOT / sample).read_text())
    config = parse_config(data, sample)
    assert config.drivers
    pins = [p for d in config.drivers for p in d.claimed_pins()]
    assert len(pins) == len(set(pins))
