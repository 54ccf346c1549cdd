"""The kit's own TLS identity: a key born on the device, a certificate from the city's CA.

`create_identity` makes an EC P-256 private key on the kit (0600, owned by
the daemon's account; it is never printed, copied or sent anywhere) and a
certificate signing request whose CN is the home id. The technician hands
the CSR (public) to the municipal CA, which signs it, typically in bulk
(docs/install.md). `install_certificate` accepts the signed certificate only
if it is for this key, chains to the CA the config trusts, names this home
and is valid now; otherwise it refuses with the reason and installs nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from edgeagent.errors import EdgeAgentError
from edgeagent.i18n import _

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

KEY_FILE = "/etc/edgeagent/secrets/device.key"
CSR_FILE = "/etc/edgeagent/device.csr"
CERT_FILE = "/etc/edgeagent/device.crt"
CA_FILE = "/etc/edgeagent/ca.pem"
EXPIRY_WARNING_DAYS = 30


class IdentityError(EdgeAgentError):
    """A refused identity step. `code` is stable (for scripts and tests), `str()` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    subject_cn: str
    issuer: str
    not_after: datetime
    serial: int

    def days_left(self, now: datetime) -> int:
        return (self.not_after - now).days


def _crypto() -> None:
    try:
        import cryptography  # noqa: F401, PLC0415
    except ImportError:
        raise IdentityError("no_cryptography", _(
            "the 'cryptography' package is not installed; install it from the kit's "
            "wheelhouse (docs/install.md)")) from None


def _write_private(path: Path, data: bytes) -> None:
    """Create with 0600 from the first byte (never a moment readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    _crypto()
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise IdentityError("no_key", _(
            "no device key at {path}: run `edgeagent identity create` first").format(
                path=path)) from None
    except ValueError as exc:
        raise IdentityError("bad_key", _("{path} is not a usable private key: {reason}").format(
            path=path, reason=exc)) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise IdentityError("bad_key", _("{path} is not an EC private key").format(path=path))
    return key


def create_identity(home_id: str, key_path: Path, csr_path: Path) -> tuple[bool, bytes]:
    """Make the key if there is none (an existing key is kept) and a CSR for it.

    Returns (key_was_created, csr_pem). Re-running after a lost CSR gives a new
    CSR for the same key, so a certificate already signed stays valid.
    """
    _crypto()
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    created = False
    if not key_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        _write_private(key_path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        created = True
    key = load_key(key_path)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, home_id)]))
           .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                          critical=False)
           .sign(key, hashes.SHA256()))
    pem = csr.public_bytes(serialization.Encoding.PEM)
    csr_path.parent.mkdir(parents=True, exist_ok=True)
    csr_path.write_bytes(pem)
    csr_path.chmod(0o644)
    return created, pem


def _load_certs(data: bytes, what: str) -> list[x509.Certificate]:
    from cryptography import x509  # noqa: PLC0415

    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise IdentityError("not_a_certificate", _("{what} holds no PEM certificate").format(
            what=what))
    return certs


def _chains_to(cert: x509.Certificate, bundle: list[x509.Certificate]) -> bool:
    """True if cert is signed by a certificate in bundle, directly or via others in it."""
    current = cert
    for _depth in range(len(bundle) + 1):
        issuer = next((ca for ca in bundle if _issued_by(current, ca)), None)
        if issuer is None:
            return False
        if issuer.issuer == issuer.subject and _issued_by(issuer, issuer):
            return True  # reached a self-signed root the config trusts
        current = issuer
    return False


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _cn(name: x509.Name) -> str:
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode()


def check_certificate(cert_pem: bytes, key_path: Path, ca_path: Path, home_id: str,
                      now: datetime | None = None) -> CertificateInfo:
    """Every reason a certificate would fail at the broker, checked here, with its reason."""
    _crypto()
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    now = now or datetime.now(UTC)
    cert = _load_certs(cert_pem, _("the certificate file"))[0]
    key = load_key(key_path)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.PEM, public) != \
            key.public_key().public_bytes(serialization.Encoding.PEM, public):
        raise IdentityError("wrong_key", _(
            "the certificate is for another key, not this kit's {path} (was it signed from "
            "another kit's CSR?)").format(path=key_path))
    try:
        ca_data = ca_path.read_bytes()
    except FileNotFoundError:
        raise IdentityError("no_ca", _(
            "no CA certificate at {path} (mqtt.ca_file): copy the municipal CA there "
            "first").format(path=ca_path)) from None
    bundle = _load_certs(ca_data, str(ca_path))
    if not _chains_to(cert, bundle):
        raise IdentityError("wrong_ca", _(
            "the certificate was not issued by the configured CA {path} (issuer: "
            "{issuer})").format(path=ca_path, issuer=cert.issuer.rfc4514_string()))
    if cert.not_valid_after_utc <= now:
        raise IdentityError("expired", _("the certificate expired on {date}").format(
            date=cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")))
    if cert.not_valid_before_utc > now:
        raise IdentityError("not_yet_valid", _(
            "the certificate is not valid before {date} (is the kit's clock right?)").format(
                date=cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M UTC")))
    cn = _cn(cert.subject)
    if cn != home_id:
        raise IdentityError("wrong_home", _(
            "the certificate is for home {cn!r}, this kit is home {home!r}").format(
                cn=cn, home=home_id))
    return CertificateInfo(cn, cert.issuer.rfc4514_string(), cert.not_valid_after_utc,
                           cert.serial_number)


def install_certificate(cert_pem: bytes, dest: Path, key_path: Path, ca_path: Path,
                        home_id: str, now: datetime | None = None) -> CertificateInfo:
    """Check, then write `dest` atomically (0644: a certificate is public)."""
    info = check_certificate(cert_pem, key_path, ca_path, home_id, now)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.edgeagent-tmp")
    tmp.write_bytes(cert_pem)
    tmp.chmod(0o644)
    tmp.replace(dest)
    return info


def certificate_info(path: Path) -> CertificateInfo:
    """For `doctor`: who the installed certificate is for and when it expires."""
    _crypto()
    cert = _load_certs(path.read_bytes(), str(path))[0]
    return CertificateInfo(_cn(cert.subject), cert.issuer.rfc4514_string(),
                           cert.not_valid_after_utc, cert.serial_number)
