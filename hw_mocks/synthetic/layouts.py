"""Sensor layouts of synthetic homes: which sensors a kit has, in which room, with which role.

Two families, as deployed: a *contacts* kit (reed switches on doors,
cupboards, fridge, taps, toilet flush and light switches, like the MIT
PlaceLab homes; the bedroom is seen only through its lamp, a drawer and, in
some homes, its door) and a *PIR* kit (a motion sensor per room plus the
fridge and bathroom door contacts). Either may have a bed mat and an
entrance contact. The held-occupancy layouts (`HELD_LAYOUT_NAMES`, kept
apart so the first eight stay as they were) add a pressure pad on her
armchair in the living room (`occupancy`, role `chair`) and/or an mmWave
presence radar in the living room (`occupancy`, role `radar`). The map
rendered here is the `map.toml` format of the recordings (`[sensors.ID]`
with kind, room, role).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import Literal

Kind = Literal["motion", "contact", "bed", "occupancy"]
ROOMS = ("bedroom", "bathroom", "kitchen", "living", "hall")


@dataclass(frozen=True, slots=True)
class Sensor:
    """One sensor of a layout. `use` says what the resident does that fires it."""

    id: str
    kind: Kind
    room: str
    role: str | None = None
    use: str = ""


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    pir: bool
    bed: bool
    entrance: bool
    sensors: tuple[Sensor, ...] = field(default=())
    chair: bool = False
    radar: bool = False

    def by_use(self, use: str) -> list[Sensor]:
        return [s for s in self.sensors if s.use == use]

    def motion(self, room: str) -> Sensor | None:
        return next((s for s in self.sensors if s.kind == "motion" and s.room == room), None)

    def map_toml(self) -> str:
        kinds = "motion | contact | bed | occupancy | ignore" if self.chair or self.radar \
            else "motion | contact | bed | ignore"
        lines = [f"# Synthetic layout {self.name}. kind: {kinds}."]
        for s in self.sensors:
            lines += [f"[sensors.{s.id}]", f'kind = "{s.kind}"', f'room = "{s.room}"']
            if s.role:
                lines.append(f'role = "{s.role}"')
        return "\n".join(lines) + "\n"


def _contacts(with_bedroom_door: bool) -> list[Sensor]:
    """A contacts-only kit: what the resident touches, room by room (MIT PlaceLab style)."""
    kitchen = [Sensor("S10_Kitchen_Refrigerator", "contact", "kitchen", "fridge", "fridge"),
               Sensor("S11_Kitchen_Freezer", "contact", "kitchen", None, "cupboard")]
    kitchen += [Sensor(f"S{12 + i}_Kitchen_Cabinet_{c}", "contact", "kitchen", None, "cupboard")
                for i, c in enumerate("ABCDE")]
    kitchen += [Sensor("S17_Kitchen_Drawer_A", "contact", "kitchen", None, "cupboard"),
                Sensor("S18_Kitchen_Microwave", "contact", "kitchen", None, "cooking"),
                Sensor("S19_Kitchen_Sink_faucet", "contact", "kitchen", None, "tap"),
                Sensor("S20_Kitchen_Light_switch", "contact", "kitchen", None, "light")]
    bathroom = [Sensor("S30_Bathroom_Door", "contact", "bathroom", "bathroom_door", "door"),
                Sensor("S31_Bathroom_Toilet_Flush", "contact", "bathroom", None, "flush"),
                Sensor("S32_Bathroom_Sink_faucet", "contact", "bathroom", None, "tap"),
                Sensor("S33_Bathroom_Shower_faucet", "contact", "bathroom", None, "shower"),
                Sensor("S34_Bathroom_Medicine_cabinet", "contact", "bathroom", None, "cupboard"),
                Sensor("S35_Bathroom_Light_switch", "contact", "bathroom", None, "light")]
    living = [Sensor("S40_Living_room_TV", "contact", "living", None, "tv"),
              Sensor("S41_Living_room_Light_switch", "contact", "living", None, "light"),
              Sensor("S42_Living_room_Cabinet", "contact", "living", None, "cupboard")]
    bedroom = [Sensor("S50_Bedroom_Lamp", "contact", "bedroom", None, "light"),
               Sensor("S51_Bedroom_Drawer", "contact", "bedroom", None, "cupboard")]
    if with_bedroom_door:
        bedroom.append(Sensor("S52_Bedroom_Door", "contact", "bedroom", "door", "door"))
    hall = [Sensor("S60_Hall_Light_switch", "contact", "hall", None, "light"),
            Sensor("S61_Hall_Closet", "contact", "hall", None, "cupboard")]
    return kitchen + bathroom + living + bedroom + hall


def _pir_kit() -> list[Sensor]:
    """A care kit: one PIR per room, the fridge and the bathroom door."""
    pirs = [Sensor(f"M{i:02d}_PIR_{room}", "motion", room, None, "motion")
            for i, room in enumerate(ROOMS, start=1)]
    return [*pirs, Sensor("D01_Fridge", "contact", "kitchen", "fridge", "fridge"),
            Sensor("D02_Bathroom_door", "contact", "bathroom", "bathroom_door", "door")]


def make_layout(pir: bool, bed: bool, entrance: bool, *, bedroom_door: bool = False,
                chair: bool = False, radar: bool = False) -> Layout:
    sensors = _pir_kit() if pir else _contacts(bedroom_door)
    if bed:
        sensors.append(Sensor("B01_Bed_mat", "bed", "bedroom", None, "bed"))
    if entrance:
        sensors.append(Sensor("E01_Front_door", "contact", "hall", "entrance", "entrance"))
    if chair:
        sensors.append(Sensor("C01_Armchair_pad", "occupancy", "living", "chair", "chair"))
    if radar:
        sensors.append(Sensor("R01_Living_radar", "occupancy", "living", "radar", "radar"))
    name = ("pir" if pir else "contacts") + ("+bed" if bed else "") + \
        ("+chair" if chair else "") + ("+radar" if radar else "") + \
        ("" if entrance else "-entrance")
    return Layout(name, pir, bed, entrance, tuple(sensors), chair, radar)


# (pir, bed, entrance, chair, radar)
_PLAIN = [(pir, bed, entrance, False, False)
          for pir, bed, entrance in product((False, True), (False, True), (True, False))]
_HELD = [(False, False, True, True, False), (False, True, True, True, False),
         (True, False, True, False, True), (True, True, True, True, True)]

LAYOUT_NAMES: tuple[str, ...] = tuple(
    make_layout(p, b, e, chair=c, radar=r).name for p, b, e, c, r in _PLAIN)
"""The eight layouts a population goes round by default."""
HELD_LAYOUT_NAMES: tuple[str, ...] = tuple(
    make_layout(p, b, e, chair=c, radar=r).name for p, b, e, c, r in _HELD)
"""Layouts with a chair pad and/or a presence radar in the living room."""
ALL_LAYOUT_NAMES: tuple[str, ...] = LAYOUT_NAMES + HELD_LAYOUT_NAMES


def layout_named(name: str, *, bedroom_door: bool = False) -> Layout:
    for pir, bed, entrance, chair, radar in (*_PLAIN, *_HELD):
        layout = make_layout(pir, bed, entrance, bedroom_door=bedroom_door, chair=chair,
                             radar=radar)
        if layout.name == name:
            return layout
    raise KeyError(f"no layout {name!r}; known: {', '.join(ALL_LAYOUT_NAMES)}")
