"""The MQTT link on its own, against a real mosquitto behind a black-hole proxy.

The link closes a black-holed connection itself (its socket-activity check,
1.4 x keepalive), before paho's own keepalive timeout (2 x keepalive) would,
whether the last write was a PUBLISH awaiting its PUBACK or only paho's ping;
and it never closes a healthy idle link, whose only traffic is those pings.
"""

from __future__ import annotations

import asyncio
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edgeagent.mqtt_link import BrokerAddress, ClientSettings, Link
from tests.faults.harness import BlackHoleProxy
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import until

KEEPALIVE = 5  # the smallest the agent's config allows


class Watched:
    """A link to the proxy, with its CONNACK and its end as futures."""

    def __init__(self, proxy: BlackHoleProxy) -> None:
        loop = asyncio.get_running_loop()
        self.connack: asyncio.Future[Any] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()
        settings = ClientSettings(client_id="link-test", keepalive=KEEPALIVE,
                                  connect_timeout=2.0)
        self.link = Link(settings, BrokerAddress("127.0.0.1", proxy.port, tls=False),
                         self._on_closed)

        def on_connect(_c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            if not self.connack.done():
                self.connack.set_result(rc)

        self.link.client.on_connect = on_connect

    def _on_closed(self, _link: Link, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result(reason)

    async def start(self) -> None:
        self.link.start()
        rc = await asyncio.wait_for(self.connack, 10)
        assert not rc.is_failure


@pytest.mark.timeout(60)
@pytest.mark.parametrize("last_write", ["publish", "ping only"])
async def test_black_holed_link_is_closed_by_the_links_own_dead_link_check(
        mosquitto: Mosquitto, last_write: str) -> None:
    proxy = BlackHoleProxy(mosquitto.port).start()
    watched = Watched(proxy)
    try:
        await watched.start()
        first = watched.link.client.publish("link-test/x", b"before", qos=1)
        await until(first.is_published, 10, "PUBACK before the black hole")
        proxy.blackhole = True
        stuck = None
        if last_write == "publish":
            stuck = watched.link.client.publish("link-test/x", b"into the hole", qos=1)
        # paho alone would close at 2 x keepalive with "connection lost"; 3 x is the bound.
        reason = await asyncio.wait_for(watched.closed, 3 * KEEPALIVE)
        assert "dead link" in reason, reason
        assert watched.link.dropped_by_peer is False  # we closed it, nobody told us
        if stuck is not None:
            assert not stuck.is_published()
    finally:
        watched.link.close()
        proxy.close()


@pytest.mark.timeout(60)
async def test_a_healthy_idle_link_survives_its_keepalive_pings(mosquitto: Mosquitto) -> None:
    """Idle, the only writes are paho's pings and the only reads their answers."""
    proxy = BlackHoleProxy(mosquitto.port).start()
    watched = Watched(proxy)
    try:
        await watched.start()
        connected_at = watched.link.last_heard
        # Two ping round trips: the broker is heard more than 2 x keepalive after the connect,
        # past the 1.4 x keepalive at which a wrongly armed check would have closed the link.
        await until(lambda: watched.closed.done()
                    or watched.link.last_heard > connected_at + 2 * KEEPALIVE,
                    4 * KEEPALIVE, "a ping answered two keepalives after the connect")
        assert not watched.closed.done(), watched.closed.result()
        assert not watched.link.finished
    finally:
        watched.link.close()
        proxy.close()
