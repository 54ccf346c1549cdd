"""Numbers out of sensor readings: drivers send ints, floats or strings; bools are not numbers."""

from __future__ import annotations

import math
from typing import Any


def finite_number(value: Any) -> float | None:
    """The reading's value as a finite float, or None (NaN, inf, text, True/False, None)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):  # OverflowError: an int beyond a float's range
        return None
    return number if math.isfinite(number) else None
