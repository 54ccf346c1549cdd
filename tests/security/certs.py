"""A throwaway PKI for TLS tests, made with `cryptography`: one CA, a broker certificate
valid for DNS:localhost only (so connecting by IP must fail hostname verification), and
one client certificate per identity (CN = the MQTT username mosquitto derives from it)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.support.pki import Ca


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


class Pki:
    """`ca`, `server()` and `client(cn)` write PEM files into `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._ca = Ca.create(directory, "edgeagent test CA", stem="ca",
                             not_before=dt.timedelta(hours=1), valid_for=dt.timedelta(days=2))
        self.ca = self._ca.path

    def _issue(self, cn: str, usage: x509.ObjectIdentifier,
               san: list[x509.GeneralName] | None) -> Pair:
        now = dt.datetime.now(dt.UTC)
        return Pair(*self._ca.issue(self.directory, cn, not_before=now - dt.timedelta(hours=1),
                                    not_after=now + dt.timedelta(days=1), san=san, usage=usage))

    def server(self, *, ip: bool = False) -> Pair:
        names: list[x509.GeneralName] = [x509.DNSName("localhost")]
        if ip:
            names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        return self._issue("broker", ExtendedKeyUsageOID.SERVER_AUTH, names)

    def client(self, cn: str) -> Pair:
        return self._issue(cn, ExtendedKeyUsageOID.CLIENT_AUTH, None)
