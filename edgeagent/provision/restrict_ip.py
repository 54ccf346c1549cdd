"""`edgeagent install --restrict-ip`: an opt-in drop-in that limits the agent's IP peers.

Never installed by default: LAN brokers, walk-test pages and broker
addresses that change (DNS fail-over) must keep working on an ordinary kit.
A site that wants egress pinned gets `IPAddressDeny=any` plus an allow list
of loopback, the brokers in the config (`mqtt.urls` and every driver's
`broker`, resolved now) and the DNS servers in /etc/resolv.conf. Re-run
`edgeagent install --restrict-ip` after changing a broker.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from edgeagent.config import AgentConfig

DROPIN_FILE = "/etc/systemd/system/edgeagent.service.d/restrict-ip.conf"

Resolver = Callable[[str], list[str]]


def resolve(host: str) -> list[str]:
    """Every address `host` resolves to now (an IP literal is itself)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def broker_hosts(config: AgentConfig) -> list[str]:
    """Host names of the platform brokers and of any driver's `broker` URL (mqtt.local)."""
    urls = list(config.mqtt.urls)
    for driver in config.drivers:
        broker = getattr(driver, "broker", None)
        if isinstance(broker, str):
            urls.append(broker)
    return sorted({host for url in urls if (host := urlsplit(url).hostname)})


def nameservers(resolv_conf: str) -> list[str]:
    found = []
    for line in resolv_conf.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                found.append(str(ipaddress.ip_address(parts[1].split("%")[0])))
            except ValueError:
                continue
    return found


def dropin_text(config: AgentConfig, resolv_conf: str, extra: Iterable[str] = (), *,
                resolver: Resolver = resolve) -> str:
    """The drop-in; OSError (from the resolver) if a broker name does not resolve."""
    allowed: list[str] = ["localhost"]
    comments = []
    for host in broker_hosts(config):
        addresses = resolver(host)
        comments.append(f"# {host}: {' '.join(addresses)}")
        allowed.extend(addresses)
    allowed.extend(nameservers(resolv_conf))
    allowed.extend(str(ipaddress.ip_network(net, strict=False)) for net in extra)
    unique = list(dict.fromkeys(allowed))
    return "\n".join([
        "# Written by `edgeagent install --restrict-ip`; remove this file to lift the limit.",
        "# Brokers as resolved at install time; run the install again after changing one.",
        *comments,
        "[Service]",
        "IPAddressDeny=any",
        f"IPAddressAllow={' '.join(unique)}",
        "",
    ])
