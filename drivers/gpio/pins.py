"""Pin names a technician may write in a config, reduced to one BCM number.

gpiozero accepts many spellings (`17`, `"GPIO17"`, `"BCM17"`, `"BOARD11"`).
The config loader must compare pins across drivers to reject a pin wired
twice, so every spelling is normalised here to the Broadcom (BCM) number
the 40-pin header carries. Only the 40-pin header (every Pi since the B+)
is known; older 26-pin boards are long out of service.
"""

from __future__ import annotations

import re

# Physical header position -> BCM GPIO number, 40-pin J8 header.
BOARD_TO_BCM: dict[int, int] = {
    3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23,
    18: 24, 19: 10, 21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5,
    31: 6, 32: 12, 33: 13, 35: 19, 36: 16, 37: 26, 38: 20, 40: 21,
}

MAX_BCM = 27

_NOT_A_PIN = 'pin must be a GPIO number such as 17 or a name such as "GPIO17"'
_FORM = re.compile(r"^\s*(?:(GPIO|BCM|BOARD|J8:)\s*)?(\d{1,2})\s*$", re.IGNORECASE)


def parse_pin(value: object) -> int:
    """BCM number of `value` (int, "17", "GPIO17", "BCM17", "BOARD11", "J8:11").

    Raises ValueError with a message a technician can act on.
    """
    if isinstance(value, bool):
        raise ValueError(_NOT_A_PIN)  # noqa: TRY004 - pydantic turns ValueError into a config error
    if isinstance(value, int):
        number, scheme = value, "BCM"
    elif isinstance(value, str):
        match = _FORM.match(value)
        if not match:
            raise ValueError(
                f"{value!r} is not a pin name: write a BCM number (17), \"GPIO17\" or \"BOARD11\""
            )
        scheme = (match.group(1) or "BCM").upper()
        number = int(match.group(2))
    else:
        raise ValueError(_NOT_A_PIN)  # noqa: TRY004 - as above
    if scheme in ("BOARD", "J8:"):
        if number not in BOARD_TO_BCM:
            raise ValueError(
                f"header pin {number} is not a GPIO (power, ground or out of range 1-40)"
            )
        return BOARD_TO_BCM[number]
    if not 0 <= number <= MAX_BCM:
        raise ValueError(f"GPIO{number} does not exist on the 40-pin header (0-{MAX_BCM})")
    return number
