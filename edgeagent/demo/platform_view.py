"""The console "platform view": each event printed as the call centre would receive it."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt

from edgeagent.i18n import N_, _, pad, weekday
from edgeagent.mqtt_link import BrokerAddress, ClientSettings, Link

COLOURS = {"critical": "\033[1;31m", "warning": "\033[33m", "info": "", "ok": "\033[32m"}
RESET = "\033[0m"
# What call-centre staff read. The msgid is the wire code, so English shows the code
# unchanged and a catalog gives each its local name; the event itself never changes.
TYPE_NAMES = {
    "sos": N_("sos"), "fall_suspected": N_("fall_suspected"),
    "bed_exit_no_return": N_("bed_exit_no_return"), "night_exit": N_("night_exit"),
    "inactivity": N_("inactivity"), "bathroom_overstay": N_("bathroom_overstay"),
    "not_up": N_("not_up"), "vital_out_of_range": N_("vital_out_of_range"),
    "device_offline": N_("device_offline"), "low_battery": N_("low_battery"),
    "cold_home": N_("cold_home"), "hot_home": N_("hot_home"), "not_done_by": N_("not_done_by"),
    "smoke": N_("smoke"), "gas": N_("gas"), "co": N_("co"), "test_alarm": N_("test_alarm"),
    "daily": N_("daily"), "heart_rate": N_("heart_rate"), "spo2": N_("spo2"),
    "blood_pressure": N_("blood_pressure"), "temperature": N_("temperature"),
    "weight": N_("weight"), "battery": N_("battery"), "motion": N_("motion"), "door": N_("door"),
    "bed": N_("bed"), "device_status": N_("device_status"),
}
WORDS = {"alert": N_("ALERT"), "summary": N_("summary"), "reading": N_("reading"),
         "state": N_("state"), "status": N_("status"), "critical": N_("CRITICAL"),
         "warning": N_("WARNING"), "info": N_("INFO"), "raised": N_("RAISED"),
         "escalated": N_("ESCALATED"), "resolved": N_("RESOLVED")}


STATES = {"online": N_("online"), "offline": N_("offline")}
RECONNECT_S = 1.0  # after the demo's broker dropped the view


def _word(code: str, table: dict[str, str]) -> str:
    return _(table[code]) if code in table else code


def describe(event: dict[str, Any], tz: ZoneInfo) -> tuple[str, str]:
    """One line for one event, and its colour key. Pure, so it is easy to test."""
    when = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).astimezone(tz)
    source = event.get("source", {})
    where = source.get("room") or source.get("device") or source.get("driver", "")
    head = f"{weekday(when)} {when:%H:%M:%S}  #{event['seq']:<5}"
    data = event.get("data", {})
    if event["kind"] == "alert":
        state = (event.get("alert") or {}).get("state", "raised")
        reason = data.get("reason", "")
        colour = "ok" if state == "resolved" else event["severity"]
        return (f"{head} {_word('alert', WORDS)} {pad(_word(event['severity'], WORDS), 8)} "
                f"{pad(_word(event['type'], TYPE_NAMES), 20)} {pad(_word(state, WORDS), 9)} "
                f"{reason}", colour)
    if event["kind"] == "summary":
        return (f"{head} {pad(_word('summary', WORDS), 8)} "
                f"{pad(_word(event['type'], TYPE_NAMES), 20)} "
                f"{json.dumps(data, ensure_ascii=False)[:120]}", "info")
    value = data.get("value")
    unit = data.get("unit", "")
    return (f"{head} {pad(_word(event['kind'], WORDS), 8)} "
            f"{pad(_word(event['type'], TYPE_NAMES), 20)} {pad(str(where), 12)} {value}{unit}",
            "info")


class PlatformView:
    """A real MQTT subscriber on `<prefix>/<home>/#`, printing events and status.

    It connects over the agent's MQTT link (`edgeagent.mqtt_link`, MQTT 3.1.1,
    which every demo broker speaks) on the caller's event loop, and connects
    again, subscribing anew, if the link drops.
    """

    def __init__(self, url: str, prefix: str, home: str, timezone: str, *,
                 out: TextIO = sys.stdout, alerts_only: bool = False) -> None:
        self.address = BrokerAddress.parse(url)
        self.host = self.address.host
        self.port = self.address.port
        self.topic = f"{prefix}/{home}/#"
        self.tz = ZoneInfo(timezone)
        self.out = out
        self.alerts_only = alerts_only
        self.colour = out.isatty()
        self.counts: dict[str, int] = {}
        self.last_state: str | None = None
        self.settings = ClientSettings(client_id=f"platform-view-{home}", protocol="3.1.1",
                                       clean=True, keepalive=30)
        self.subscribed = asyncio.Event()
        self.link: Link | None = None
        self._task: asyncio.Task[None] | None = None

    def _print(self, line: str, colour: str) -> None:
        if self.colour and COLOURS.get(colour):
            line = f"{COLOURS[colour]}{line}{RESET}"
        print(line, file=self.out, flush=True)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        """On the loop, inside the link's read: quick (one line printed)."""
        try:
            doc = json.loads(msg.payload)
        except ValueError:
            return
        if msg.topic.endswith("/status"):
            state = doc.get("state")
            if state == self.last_state or self.alerts_only:
                return
            self.last_state = state
            self._print(_("— home {home} is {state} (outbox pending: {pending})").format(
                home=doc.get("home"), state=_(STATES.get(str(state), str(state))),
                pending=doc.get("outbox", {}).get("pending", "?")), "info")
            return
        if "/events/" not in msg.topic:
            return
        key = f"{doc.get('kind')}/{doc.get('type')}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.alerts_only and doc.get("kind") not in ("alert", "summary"):
            return
        line, colour = describe(doc, self.tz)
        self._print(line, colour)

    async def _one_connection(self) -> None:
        closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_closed(_link: Link, reason: str) -> None:
            if not closed.done():
                closed.set_result(reason)

        link = Link(self.settings, self.address, on_closed)
        link.client.on_connect = lambda c, *_a: c.subscribe(self.topic, qos=1)
        link.client.on_subscribe = lambda *_a: self.subscribed.set()
        link.client.on_message = self._on_message
        self.link = link
        link.start()
        try:
            await closed
        finally:
            if not link.finished:
                link.client.disconnect()
                link.close()
            await link.wait_connect_worker(1.0)
            self.link = None
            self.subscribed.clear()

    async def _keep_connected(self) -> None:
        while True:
            await self._one_connection()
            await asyncio.sleep(RECONNECT_S)

    async def start(self, timeout: float = 10.0) -> None:
        self._task = asyncio.create_task(self._keep_connected(), name="platform-view")
        try:
            await asyncio.wait_for(self.subscribed.wait(), timeout)
        except TimeoutError:
            await self.stop()
            raise TimeoutError(f"platform view could not subscribe at "
                               f"{self.host}:{self.port}") from None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
