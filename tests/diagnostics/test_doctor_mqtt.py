"""Each MQTT step passes against a healthy broker and fails, named, for the right reason."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from edgeagent.doctor import Status
from edgeagent.doctor.mqtt_checks import check_client_cert, check_mqtt
from edgeagent.doctor.result import CheckResult
from tests.support.mosquitto import Mosquitto, free_port

from .conftest import KEEP_ROOT, config_with, quiet_env
from .pki import Pki


def by_step(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name.split("[")[0]: r for r in results}


def test_plain_broker_every_step_passes(tmp_path, mosquitto):
    steps = by_step(check_mqtt(config_with(tmp_path, mosquitto.url), quiet_env()))
    for name in ("mqtt.dns", "mqtt.tcp", "mqtt.auth", "mqtt.publish"):
        assert steps[name].status is Status.PASS, steps[name]
    assert steps["mqtt.tls"].status is Status.WARN  # plain text is flagged, not failed
    # The probe's own publish really reached the broker on the home's doctor topic.
    assert "care/home-1/doctor" in steps["mqtt.publish"].reason


def test_unresolvable_host_fails_dns_and_skips_the_rest(tmp_path):
    steps = by_step(check_mqtt(config_with(tmp_path, "mqtt://no-such-broker.invalid:1883"),
                               quiet_env()))
    assert steps["mqtt.dns"].status is Status.FAIL
    assert "cannot resolve no-such-broker.invalid" in steps["mqtt.dns"].reason
    assert steps["mqtt.tcp"].status is Status.SKIP
    assert steps["mqtt.publish"].status is Status.SKIP


def test_closed_port_fails_tcp(tmp_path):
    port = free_port()
    steps = by_step(check_mqtt(config_with(tmp_path, f"mqtt://127.0.0.1:{port}"), quiet_env()))
    assert steps["mqtt.dns"].status is Status.PASS
    assert steps["mqtt.tcp"].status is Status.FAIL
    assert f"127.0.0.1:{port}" in steps["mqtt.tcp"].reason
    assert steps["mqtt.auth"].status is Status.SKIP


def test_tls_url_on_a_plain_port_fails_the_handshake(tmp_path, mosquitto, pki: Pki):
    url = f"mqtts://127.0.0.1:{mosquitto.port}"
    steps = by_step(check_mqtt(config_with(tmp_path, url, ca_file=str(pki.ca.path)),
                               quiet_env()))
    assert steps["mqtt.tcp"].status is Status.PASS
    assert steps["mqtt.tls.handshake"].status is Status.FAIL
    assert "is this a TLS port" in steps["mqtt.tls.handshake"].fix
    assert steps["mqtt.tls.chain"].status is Status.SKIP


def test_tls_with_the_right_ca_passes_every_step(tmp_path, tls_broker: Mosquitto, pki: Pki):
    url = f"mqtts://127.0.0.1:{tls_broker.port}"
    steps = by_step(check_mqtt(config_with(tmp_path, url, ca_file=str(pki.ca.path)),
                               quiet_env()))
    for name in ("mqtt.tls.handshake", "mqtt.tls.chain", "mqtt.auth", "mqtt.publish"):
        assert steps[name].status is Status.PASS, steps[name]
    assert "CN=broker" in steps["mqtt.tls.chain"].reason


def test_wrong_ca_fails_the_chain_after_a_good_handshake(tmp_path, tls_broker, pki: Pki):
    url = f"mqtts://127.0.0.1:{tls_broker.port}"
    steps = by_step(check_mqtt(config_with(tmp_path, url, ca_file=str(pki.wrong_ca.path)),
                               quiet_env()))
    assert steps["mqtt.tls.handshake"].status is Status.PASS
    chain = steps["mqtt.tls.chain"]
    assert chain.status is Status.FAIL
    assert "certificate rejected" in chain.reason
    # OpenSSL's own words for "not signed by the CA you gave me"
    assert "self-signed certificate in certificate chain" in chain.reason or \
        "unable to get local issuer certificate" in chain.reason
    assert "mqtt.ca_file" in chain.fix
    assert steps["mqtt.auth"].status is Status.SKIP


def test_client_certificate_expiry(pki: Pki):
    now = __import__("time").time()
    good = check_client_cert(pki.client_crt, now)
    assert good.status is Status.PASS and "valid until" in good.reason
    soon = check_client_cert(pki.expiring_crt, now)
    assert soon.status is Status.WARN and "expires in" in soon.reason
    expired = check_client_cert(pki.expired_crt, now)
    assert expired.status is Status.FAIL
    assert "expired on" in expired.reason and "CN=home-1-expired" in expired.reason
    missing = check_client_cert(Path("/nonexistent/client.crt"), now)
    assert missing.status is Status.FAIL and "not found" in missing.reason


def test_mutual_tls_broker_refuses_the_expired_certificate(tmp_path, pki: Pki):
    broker = Mosquitto(tmp_path / "mtls", listener_extra="\n".join([
        f"cafile {pki.ca.path}", f"certfile {pki.server_crt}", f"keyfile {pki.server_key}",
        "require_certificate true"]), extra=KEEP_ROOT).start()
    try:
        url = f"mqtts://127.0.0.1:{broker.port}"
        ok_steps = by_step(check_mqtt(config_with(
            tmp_path, url, ca_file=str(pki.ca.path), cert_file=str(pki.client_crt),
            key_file=str(pki.client_key)), quiet_env()))
        assert ok_steps["mqtt.tls.client_cert"].status is Status.PASS
        assert ok_steps["mqtt.publish"].status is Status.PASS, ok_steps["mqtt.publish"]
        bad = by_step(check_mqtt(config_with(
            tmp_path, url, ca_file=str(pki.ca.path), cert_file=str(pki.expired_crt),
            key_file=str(pki.expired_key)), quiet_env()))
        assert bad["mqtt.tls.client_cert"].status is Status.FAIL
        assert "expired" in bad["mqtt.tls.client_cert"].reason
        assert Status.FAIL in {bad[s].status for s in ("mqtt.tls.handshake", "mqtt.tls.chain",
                                                        "mqtt.auth")}
    finally:
        broker.kill()


def _password_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mqtt.pass"
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def test_auth_passes_with_the_right_password_and_names_the_refusal(tmp_path, password_broker):
    good = by_step(check_mqtt(config_with(
        tmp_path, password_broker.url, username="tech",
        password_file=str(_password_file(tmp_path, "right-password"))), quiet_env()))
    assert good["mqtt.auth"].status is Status.PASS
    assert good["mqtt.publish"].status is Status.PASS
    bad = by_step(check_mqtt(config_with(
        tmp_path, password_broker.url, username="tech",
        password_file=str(_password_file(tmp_path, "wrong-password"))), quiet_env()))
    assert bad["mqtt.tcp"].status is Status.PASS
    assert bad["mqtt.auth"].status is Status.FAIL
    assert "Bad user name or password" in bad["mqtt.auth"].reason or \
        "Not authorized" in bad["mqtt.auth"].reason
    assert bad["mqtt.publish"].status is Status.SKIP


def test_acl_refusal_fails_the_publish_step(tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("topic read care/#\n")
    broker = Mosquitto(tmp_path / "acl-broker", extra=f"acl_file {acl}\n{KEEP_ROOT}").start()
    try:
        steps = by_step(check_mqtt(config_with(tmp_path, broker.url), quiet_env()))
        assert steps["mqtt.auth"].status is Status.PASS
        publish = steps["mqtt.publish"]
        assert publish.status is Status.FAIL
        assert "Not authorized" in publish.reason and "ACL" in publish.fix
    finally:
        broker.kill()


def test_mosquitto_passwd_available():
    assert subprocess.run(["mosquitto_passwd", "-h"], capture_output=True).returncode in (0, 1)
