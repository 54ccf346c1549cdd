"""Room and role names: one spelling for the heuristics, whatever the installer typed.

The heuristics compare names exactly (`bathroom`, `entrance`): `卫生间`,
`Bathroom` or `bathroom-door` would silently switch a safety rule off. Every
room and role is canonicalised where a reading gets it (the supervisor's
driver boundary, the replay map loader); `config check` and `doctor` lint
the names a config gives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Built-in aliases, keyed by the folded spelling (see `fold`).
ROOM_ALIASES: dict[str, str] = {
    "卫生间": "bathroom", "浴室": "bathroom", "洗手间": "bathroom", "淋浴间": "shower",
    "厕所": "toilet", "卧室": "bedroom", "主卧": "bedroom", "睡房": "bedroom",
    "厨房": "kitchen", "客厅": "living", "起居室": "living", "living_room": "living",
    "lounge": "living", "门厅": "hall", "玄关": "hall", "走廊": "hall", "hallway": "hall",
    "餐厅": "dining", "dining_room": "dining", "书房": "study", "阳台": "balcony",
    "restroom": "toilet", "washroom": "bathroom", "bath": "bathroom",
    "master_bedroom": "bedroom", "main_bedroom": "bedroom", "bed_room": "bedroom",
    "master_bathroom": "bathroom", "main_bathroom": "bathroom", "ensuite": "bathroom",
    "en_suite": "bathroom", "shower_room": "shower", "half_bath": "toilet",
    "powder_room": "toilet", "lavatory": "toilet", "loo": "toilet",
    "family_room": "living", "sitting_room": "living", "entry": "hall", "foyer": "hall",
}
KNOWN_ROOMS = frozenset({"bathroom", "toilet", "wc", "shower", "bedroom", "kitchen", "living",
                         "hall", "dining", "study", "balcony", "entrance", "garage", "garden",
                         "laundry", "storage", "office", "attic", "basement", "stairs"})

ROLE_ALIASES: dict[str, str] = {
    "大门": "entrance", "入户门": "entrance", "前门": "entrance", "front_door": "entrance",
    "main_door": "entrance", "entry_door": "entrance", "toilet_door": "bathroom_door",
    "卫生间门": "bathroom_door", "浴室门": "bathroom_door", "厕所门": "bathroom_door",
    "卧室门": "bedroom_door", "门": "door", "窗": "window", "窗户": "window",
    "冰箱": "fridge", "冰箱门": "fridge_door", "水壶": "kettle", "电水壶": "kettle",
    "微波炉": "microwave", "紧急按钮": "sos", "呼叫按钮": "sos",
}
# Roles a rule depends on: a near miss of one of these is an error, not a custom name.
RULE_ROLES = frozenset({"entrance", "door", "bedroom_door", "bathroom_door", "window",
                        "fridge", "fridge_door", "kettle", "sos", "alarm", "ok", "chair",
                        "sofa", "radar"})
APPLIANCE_ROLES = frozenset({"microwave", "oven", "cooker", "hob", "stove", "toaster",
                             "air_fryer", "rice_cooker", "tv", "washing_machine", "lamp",
                             "heater", "fan", "kettle", "fridge"})


def fold(name: str) -> str:
    """Case, surrounding blanks and `-`/space separators do not matter in a name."""
    return re.sub(r"[\s\-]+", "_", name.strip()).casefold()


def canonical_room(room: str | None, aliases: Mapping[str, str] | None = None) -> str | None:
    """The canonical spelling of a room (declared aliases first, then built-in ones)."""
    if room is None:
        return None
    key = fold(room)
    if aliases:
        for alias, target in aliases.items():
            if fold(alias) == key:
                return fold(target)
    return ROOM_ALIASES.get(key, key)


def canonical_role(role: str | None) -> str | None:
    if role is None:
        return None
    key = fold(role)
    return ROLE_ALIASES.get(key, key)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (small strings: names of a few dozen characters)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def near_rule_role(role: str) -> str | None:
    """The rule role `role` is a likely typo of (`entrnce` -> `entrance`), or None."""
    if role in RULE_ROLES or role in APPLIANCE_ROLES:
        return None
    limit = 1 if len(role) <= 4 else 2
    best = min(RULE_ROLES, key=lambda known: (edit_distance(role, known), known))
    return best if edit_distance(role, best) <= limit else None


def known_roles(extra: Iterable[str] = ()) -> list[str]:
    return sorted(RULE_ROLES | APPLIANCE_ROLES | set(extra))
