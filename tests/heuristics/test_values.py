"""What the heuristics accept as a number from a reading."""

from __future__ import annotations

import math

import pytest

from edgeagent.heuristics.values import finite_number


@pytest.mark.parametrize(("value", "expected"), [
    (37, 37.0), (36.6, 36.6), ("98", 98.0), (" 21.5 ", 21.5), (0, 0.0),
    (True, None), (False, None), (None, None), ("warm", None), ("", None),
    (math.nan, None), (math.inf, None), ("-inf", None), ([37], None), ({"v": 1}, None),
    (10**400, None),  # a driver's absurd int is not a number, and must not raise
])
def test_finite_number(value, expected):
    assert finite_number(value) == expected
