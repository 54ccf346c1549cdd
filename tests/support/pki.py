"""A throwaway PKI made in the test with `cryptography`: a CA that issues PEM files.

Shared by the diagnostics tests (expired, expiring, wrong-CA certificates) and
the TLS tests (server/client certificates with their extended key usage).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def write_pem(directory: Path, stem: str, cert: x509.Certificate,
              key: ec.EllipticCurvePrivateKey | None = None) -> tuple[Path, Path | None]:
    """`<stem>.crt` and, with a key, `<stem>.key` (0600)."""
    crt = directory / f"{stem}.crt"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is None:
        return crt, None
    key_path = directory / f"{stem}.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return crt, key_path


@dataclass
class Ca:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    path: Path

    @classmethod
    def create(cls, directory: Path, cn: str, *, stem: str | None = None,
               not_before: dt.timedelta = dt.timedelta(days=1),
               valid_for: dt.timedelta = dt.timedelta(days=3650)) -> Ca:
        """A self-signed CA valid from `not_before` ago for `valid_for`, written to `<stem>.crt`."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - not_before)
                .not_valid_after(now + valid_for)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                             crl_sign=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        path, _ = write_pem(directory, stem or cn, cert)
        return cls(key, cert, path)

    def issue(self, directory: Path, cn: str, *, not_before: dt.datetime, not_after: dt.datetime,
              san: list[x509.GeneralName] | None = None,
              usage: x509.ObjectIdentifier | None = None) -> tuple[Path, Path]:
        """A leaf certificate and its key as `<cn>.crt`/`<cn>.key`.

        With `usage`, also BasicConstraints(ca=False) and that extended key usage.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(cn))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after))
        if usage is not None:
            builder = (builder
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                      critical=True)
                       .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        crt, key_path = write_pem(directory, cn, builder.sign(self.key, hashes.SHA256()), key)
        assert key_path is not None
        return crt, key_path
