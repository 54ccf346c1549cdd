"""A throwaway PKI made in the test with `cryptography`: CA, broker and client certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Ca:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    path: Path

    @classmethod
    def create(cls, directory: Path, cn: str) -> Ca:
        key = _key()
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                             crl_sign=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        path = directory / f"{cn}.crt"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(key, cert, path)

    def issue(self, directory: Path, cn: str, *, server: bool = False,
              not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None) -> tuple[Path, Path]:
        key = _key()
        now = dt.datetime.now(dt.UTC)
        builder = (x509.CertificateBuilder().subject_name(_name(cn))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(not_before or now - dt.timedelta(days=1))
                   .not_valid_after(not_after or now + dt.timedelta(days=365)))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        crt = directory / f"{cn}.crt"
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return crt, _write_key(key, directory / f"{cn}.key")


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
    server_crt, server_key = ca.issue(directory, "broker", server=True)
    client_crt, client_key = ca.issue(directory, "home-1")
    now = dt.datetime.now(dt.UTC)
    expired_crt, expired_key = ca.issue(directory, "home-1-expired",
                                        not_before=now - dt.timedelta(days=400),
                                        not_after=now - dt.timedelta(days=2))
    expiring_crt, expiring_key = ca.issue(directory, "home-1-expiring",
                                          not_after=now + dt.timedelta(days=10))
    return Pki(ca, wrong, server_crt, server_key, client_crt, client_key, expired_crt,
               expired_key, expiring_crt, expiring_key)
