"""`ble.button`: the SOS pendant she wears, a BTHome button (Shelly BLU Button1, ...).

Any button event (press, double, triple, long, hold) from a configured
pendant is a `sos` reading (True, role "sos") at once, the same reading
`gpio.sos` makes, so it takes the same critical fast path. With
`long_press_action = "cancel"`, a long press within `cancel_window` seconds
after this pendant raised an SOS is `sos_cancel` instead (a carer on site);
a long press at any other time raises, as a resident holding the button
down must never be ignored.

A button configured with `role = "ok"` is her "I'm OK" button instead:
every press is an `ok` reading (True, role "ok"), which answers the kit's
"are you all right?" and is her daily check-in. It never raises and never
cancels an SOS: a fallen person pressing her red pendant must never cancel
her own alarm, so only a button set apart as "ok" can.

Supervised like a social-alarm pendant: not heard for `supervision_minutes`
(default 60; BTHome buttons advertise every few minutes even unpressed) is
`device_status = "offline"`, whose reason says the resident may not be able
to call for help; its battery (object 0x01) feeds `low_battery`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from edgeagent.driver import DriverOptions

from .bthome import BUTTON_EVENTS
from .bthome_devices import BthomeDeviceOptions, BthomeDevicesDriver, BthomeDriverOptions, Tag
from .formats import EnvFrame


class PendantOptions(BthomeDeviceOptions):
    """One pendant or wristband button: her SOS (the default) or her "I'm OK" button."""

    role: Literal["sos", "ok"] = "sos"


class ButtonOptions(BthomeDriverOptions):
    """The `[[drivers]]` table of type `ble.button`."""

    devices: Sequence[PendantOptions] = Field(min_length=1)
    long_press_action: Literal["none", "cancel"] = "none"
    cancel_window: float = Field(default=600.0, ge=0)


class ButtonDriver(BthomeDevicesDriver):
    """SOS presses (and optional cancels) from BLE pendants, with supervision."""

    Options: ClassVar[type[DriverOptions]] = ButtonOptions
    options: ButtonOptions
    kind_word: ClassVar[str] = "pendant"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_sos: dict[str, float] = {}
        self.last_press: dict[str, tuple[str, str]] = {}

    def on_frame(self, tag: Tag, frame: EnvFrame, *, fresh: bool) -> None:
        code = frame.values.get("button")
        if not fresh or not isinstance(code, int) or isinstance(code, bool) or code == 0:
            return
        event = BUTTON_EVENTS.get(code, f"event_0x{code:02x}")
        now = self.context.clock.monotonic()
        self.last_press[tag.opts.id] = (self.context.clock.wall().isoformat(timespec="seconds"),
                                        event)
        data: dict[str, Any] = {"event": event, "address": tag.opts.address, "rssi": tag.rssi,
                                "encrypted": frame.encrypted}
        if frame.packet_id is not None:
            data["packet_id"] = frame.packet_id
        if getattr(tag.opts, "role", "sos") == "ok":
            self.count("ok_presses")
            self.context.emit(self.reading("ok", True, device=tag.opts.id,
                                           room=self.room_of(tag), role="ok", data=data))
            return
        raised = self.last_sos.get(tag.opts.id)
        if (event == "long_press" and self.options.long_press_action == "cancel"
                and raised is not None and now - raised <= self.options.cancel_window):
            self.count("cancels")
            self.last_sos.pop(tag.opts.id, None)
            self.context.emit(self.reading("sos_cancel", True, device=tag.opts.id,
                                           room=self.room_of(tag), role="sos", data=data))
            return
        self.count("presses")
        self.last_sos[tag.opts.id] = now
        self.context.emit(self.reading("sos", True, device=tag.opts.id,
                                       room=self.room_of(tag), role="sos", data=data))

    def silence_reason(self, tag: Tag, silent_for: float) -> str:
        if getattr(tag.opts, "role", "sos") == "ok":
            return f"I'm OK button not heard for {silent_for / 60:.0f} min"
        return (f"pendant not heard for {silent_for / 60:.0f} min: the resident may not be "
                "able to call for help")

    def tag_details(self, tag: Tag) -> dict[str, Any]:
        details = super().tag_details(tag)
        press = self.last_press.get(tag.opts.id)
        details["last_press"] = {"at": press[0], "event": press[1]} if press else None
        return details
