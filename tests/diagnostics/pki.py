"""The diagnostics tests' PKI: a kit CA, a wrong CA, broker, client, expired and expiring certs."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from tests.support.pki import Ca


@dataclass
class Pki:
    ca: Ca
    wrong_ca: Ca
    server_crt: Path
    server_key: Path
    client_crt: Path
    client_key: Path
    expired_crt: Path
    expired_key: Path
    expiring_crt: Path
    expiring_key: Path


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = Ca.create(directory, "kit-ca")
    wrong = Ca.create(directory, "some-other-ca")
    now = dt.datetime.now(dt.UTC)
    day_ago, in_a_year = now - dt.timedelta(days=1), now + dt.timedelta(days=365)
    server_crt, server_key = ca.issue(
        directory, "broker", not_before=day_ago, not_after=in_a_year,
        san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client_crt, client_key = ca.issue(directory, "home-1", not_before=day_ago,
                                      not_after=in_a_year)
    expired_crt, expired_key = ca.issue(directory, "home-1-expired",
                                        not_before=now - dt.timedelta(days=400),
                                        not_after=now - dt.timedelta(days=2))
    expiring_crt, expiring_key = ca.issue(directory, "home-1-expiring", not_before=day_ago,
                                          not_after=now + dt.timedelta(days=10))
    return Pki(ca, wrong, server_crt, server_key, client_crt, client_key, expired_crt,
               expired_key, expiring_crt, expiring_key)
