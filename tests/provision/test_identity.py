"""Device identity: key made on the kit, certificate accepted only for this key, CA and home."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edgeagent.cli.main import main
from edgeagent.provision import identity as ident
from edgeagent.provision.install import Installer
from edgeagent.provision.system import RootSystem

NOW = datetime.now(UTC)


class CA:
    """A municipal CA in miniature: signs CSRs the way the platform would."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(1)
                     .not_valid_before(NOW - timedelta(days=1))
                     .not_valid_after(NOW + timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, csr_pem: bytes, *, days: int = 365, start_days_ago: int = 1,
             public_key: ec.EllipticCurvePublicKey | None = None) -> bytes:
        csr = x509.load_pem_x509_csr(csr_pem)
        assert csr.is_signature_valid
        cert = (x509.CertificateBuilder().subject_name(csr.subject)
                .issuer_name(self.cert.subject)
                .public_key(public_key or csr.public_key())  # type: ignore[arg-type]
                .serial_number(x509.random_serial_number())
                .not_valid_before(NOW - timedelta(days=start_days_ago))
                .not_valid_after(NOW - timedelta(days=start_days_ago) + timedelta(days=days))
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    """An installed kit under a temporary root, home id home-42, trusting 'City CA'."""
    root = tmp_path / "root"
    Installer(RootSystem(root), home="home-42", executable="/usr/bin/edgeagent").install()
    return root


@pytest.fixture
def city_ca(kit: Path) -> CA:
    ca = CA("City CA")
    (kit / "etc/edgeagent/ca.pem").write_bytes(ca.pem())
    return ca


def create(kit: Path) -> bytes:
    assert main(["--lang", "en", "identity", "create", "--root", str(kit)]) == 0
    return (kit / "etc/edgeagent/device.csr").read_bytes()


def test_create_makes_a_p256_key_0600_and_a_csr_for_the_home(
        kit: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csr_pem = create(kit)
    key_path = kit / "etc/edgeagent/secrets/device.key"
    st = key_path.stat()
    assert st.st_mode & 0o777 == 0o600
    if os.geteuid() == 0:
        account = RootSystem(kit).account("edgeagent")
        assert account is not None and (st.st_uid, st.st_gid) == (account.uid, account.gid)
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "home-42"
    assert csr.public_key() == key.public_key()
    out = capsys.readouterr().out
    assert "PRIVATE KEY" not in out  # the key never leaves the kit, not even to the screen
    assert "BEGIN CERTIFICATE REQUEST" in out


def test_create_again_keeps_the_key(kit: Path) -> None:
    create(kit)
    key_before = (kit / "etc/edgeagent/secrets/device.key").read_bytes()
    csr = create(kit)
    assert (kit / "etc/edgeagent/secrets/device.key").read_bytes() == key_before
    key = serialization.load_pem_private_key(key_before, None)
    assert x509.load_pem_x509_csr(csr).public_key() == key.public_key()


def test_install_accepts_a_certificate_signed_for_this_key_by_the_ca(
        kit: Path, city_ca: CA, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert = tmp_path / "signed.pem"
    cert.write_bytes(city_ca.sign(create(kit)))
    assert main(["--lang", "en", "identity", "install", str(cert), "--root", str(kit)]) == 0
    installed = kit / "etc/edgeagent/device.crt"
    assert installed.read_bytes() == cert.read_bytes()
    assert installed.stat().st_mode & 0o777 == 0o644
    assert "installed" in capsys.readouterr().out


def refused(kit: Path, pem: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    cert = tmp_path / "offered.pem"
    cert.write_bytes(pem)
    assert main(["--lang", "en", "identity", "install", str(cert), "--root", str(kit)]) == 1
    assert not (kit / "etc/edgeagent/device.crt").exists()
    return capsys.readouterr().err


def test_refuses_a_certificate_for_another_key(
        kit: Path, city_ca: CA, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csr = create(kit)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    err = refused(kit, city_ca.sign(csr, public_key=other), tmp_path, capsys)
    assert "certificate refused: the certificate is for another key" in err


def test_refuses_a_certificate_from_another_ca(
        kit: Path, city_ca: CA, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rogue = CA("Someone Else CA")
    err = refused(kit, rogue.sign(create(kit)), tmp_path, capsys)
    assert "not issued by the configured CA" in err and "Someone Else CA" in err


def test_refuses_an_expired_certificate(
        kit: Path, city_ca: CA, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pem = city_ca.sign(create(kit), start_days_ago=400, days=365)
    err = refused(kit, pem, tmp_path, capsys)
    assert "the certificate expired on" in err


def test_refuses_a_certificate_for_another_home(
        kit: Path, city_ca: CA, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    create(kit)
    key = ident.load_key(kit / "etc/edgeagent/secrets/device.key")
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "home-99")]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    err = refused(kit, city_ca.sign(csr), tmp_path, capsys)
    assert "for home 'home-99', this kit is home 'home-42'" in err


def test_refuses_garbage_and_a_missing_ca(kit: Path, tmp_path: Path) -> None:
    create(kit)
    key = kit / "etc/edgeagent/secrets/device.key"
    with pytest.raises(ident.IdentityError) as garbage:
        ident.check_certificate(b"hello", key, kit / "etc/edgeagent/ca.pem", "home-42")
    assert garbage.value.code == "not_a_certificate"
    ca = CA("City CA")
    with pytest.raises(ident.IdentityError) as no_ca:
        ident.check_certificate(ca.sign((kit / "etc/edgeagent/device.csr").read_bytes()),
                                key, tmp_path / "missing.pem", "home-42")
    assert no_ca.value.code == "no_ca"


def test_accepts_a_chain_through_an_intermediate_in_the_ca_bundle(kit: Path,
                                                                   tmp_path: Path) -> None:
    root = CA("City Root")
    inter = CA("City Issuing CA")
    inter.cert = (x509.CertificateBuilder().subject_name(inter.cert.subject)
                  .issuer_name(root.cert.subject).public_key(inter.key.public_key())
                  .serial_number(2).not_valid_before(NOW - timedelta(days=1))
                  .not_valid_after(NOW + timedelta(days=1000))
                  .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
                  .sign(root.key, hashes.SHA256()))
    (kit / "etc/edgeagent/ca.pem").write_bytes(inter.pem() + root.pem())
    pem = inter.sign(create(kit))
    info = ident.install_certificate(pem, kit / "etc/edgeagent/device.crt",
                                     kit / "etc/edgeagent/secrets/device.key",
                                     kit / "etc/edgeagent/ca.pem", "home-42")
    assert info.subject_cn == "home-42"
    assert 360 <= info.days_left(NOW) <= 365
