"""MQTT, one step per check, so the failing step is named: DNS, TCP, TLS handshake,
certificate chain, client certificate expiry, authentication, publish + PUBACK.

Each broker URL is probed in order; after a failed step the later steps of
that URL are skipped (they cannot tell anything new).
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from edgeagent import __version__
from edgeagent.config import AgentConfig, MqttConfig
from edgeagent.errors import ConfigError
from edgeagent.publisher import BrokerAddress, tls_context
from edgeagent.topics import Topics

from .env import DoctorEnv
from .mqtt_probe import MqttProbe, ProbeError
from .result import CheckResult, Status, fail, ok, skip, warn

CERT_WARN_DAYS = 30


def doctor_topic(config: AgentConfig) -> str:
    return f"{Topics(config.mqtt.topic_prefix, config.home.id).base}/doctor"


def check_mqtt(config: AgentConfig, env: DoctorEnv) -> list[CheckResult]:
    results: list[CheckResult] = []
    if env.live is not None:
        results.append(check_daemon_link(env.live))
    if config.mqtt.cert_file:
        results.append(check_client_cert(config.mqtt.cert_file, env.now()))
    if not env.network:
        return results
    for url in config.mqtt.urls:
        address = BrokerAddress.parse(url)
        env.progress(f"probing {address}")
        results.extend(probe_broker(config, address, env))
    return results


def check_daemon_link(live: dict[str, Any]) -> CheckResult:
    health = live.get("mqtt", {})
    state = health.get("state", "")
    details = {k: health.get(k) for k in ("broker", "connections", "acked", "rejected",
                                          "connect_attempts")}
    if state == "connected":
        return ok("mqtt.daemon", f"daemon connected to {health.get('broker')}, "
                  f"{health.get('acked', 0)} events acknowledged", **details)
    return fail("mqtt.daemon", f"daemon link {state or 'unknown'}: "
                f"{health.get('last_error') or 'no error recorded'}",
                "see the mqtt.* steps below for which one fails", **details)


def check_client_cert(path: Path, now: float) -> CheckResult:
    """Parse the client certificate: expired fails, under 30 days warns."""
    name = "mqtt.tls.client_cert"
    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except FileNotFoundError:
        return fail(name, f"mqtt.cert_file {path} not found", "install the kit's identity "
                    "(edgeagent identity install) or correct mqtt.cert_file")
    except (OSError, ValueError) as exc:
        return fail(name, f"mqtt.cert_file {path} unreadable: {exc}",
                    "it must be a PEM certificate")
    when = datetime.fromtimestamp(now, UTC)
    not_after = cert.not_valid_after_utc
    not_before = cert.not_valid_before_utc
    subject = cert.subject.rfc4514_string()
    details: dict[str, Any] = {"subject": subject, "not_after": not_after.isoformat(),
               "not_before": not_before.isoformat()}
    if not_after <= when:
        return fail(name, f"client certificate {subject} expired on {not_after:%Y-%m-%d}",
                    "issue a new certificate for this kit (edgeagent identity create) and "
                    "install it", **details)
    if not_before > when:
        return fail(name, f"client certificate not valid before {not_before:%Y-%m-%d %H:%M} "
                    "UTC (clock wrong?)", "check clock.synced; reissue if the date is right",
                    **details)
    days = (not_after - when).total_seconds() / 86400
    details["days_left"] = round(days, 1)
    if days < CERT_WARN_DAYS:
        return warn(name, f"client certificate expires in {days:.0f} days "
                    f"({not_after:%Y-%m-%d})", "renew it before it expires", **details)
    return ok(name, f"client certificate valid until {not_after:%Y-%m-%d} ({days:.0f} days)",
              **details)


def probe_broker(config: AgentConfig, address: BrokerAddress,
                 env: DoctorEnv) -> list[CheckResult]:
    cfg = config.mqtt
    tag = f"[{address.host}:{address.port}]"
    steps: list[CheckResult] = []

    def failed() -> bool:
        return any(s.status is Status.FAIL for s in steps)

    steps.append(_dns(tag, address))
    if not failed():
        steps.append(_tcp(tag, address, env.mqtt_timeout))
    tls = address.tls or cfg.ca_file is not None
    if tls and not failed():
        steps.append(_tls_handshake(tag, cfg, address, env.mqtt_timeout))
        if not failed():
            steps.append(_tls_chain(tag, cfg, address, env.mqtt_timeout))
    elif not tls and not failed():
        steps.append(warn(f"mqtt.tls{tag}", f"{address} is not encrypted",
                          "use an mqtts:// URL with mqtt.ca_file in production"))
    if not failed():
        steps.extend(_auth_and_publish(tag, config, address, env.mqtt_timeout))
    done = {s.name.split("[")[0] for s in steps}
    for step in ("mqtt.dns", "mqtt.tcp", "mqtt.tls.handshake", "mqtt.tls.chain", "mqtt.auth",
                 "mqtt.publish"):
        if step not in done and (tls or not step.startswith("mqtt.tls")):
            steps.append(skip(f"{step}{tag}", "an earlier step failed"))
    return steps


def _dns(tag: str, address: BrokerAddress) -> CheckResult:
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return fail(f"mqtt.dns{tag}", f"cannot resolve {address.host}: {exc.strerror}",
                    "check the host name in mqtt.urls and the kit's DNS (resolvectl status)")
    addrs = sorted({str(info[4][0]) for info in infos})
    return ok(f"mqtt.dns{tag}", f"{address.host} -> {', '.join(addrs)}", addresses=addrs)


def _tcp(tag: str, address: BrokerAddress, timeout: float) -> CheckResult:
    start = time.monotonic()
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            pass
    except TimeoutError:
        return fail(f"mqtt.tcp{tag}", f"no answer from {address.host}:{address.port} within "
                    f"{timeout:g} s", "a firewall drops the port, or the broker is down")
    except OSError as exc:
        return fail(f"mqtt.tcp{tag}", f"cannot connect to {address.host}:{address.port}: "
                    f"{exc.strerror or exc}", "is the broker running and the port right?")
    ms = (time.monotonic() - start) * 1000
    return ok(f"mqtt.tcp{tag}", f"port {address.port} open ({ms:.0f} ms)", rtt_ms=round(ms, 1))


def _handshake(ctx: ssl.SSLContext, address: BrokerAddress, timeout: float) -> dict[str, Any]:
    with socket.create_connection((address.host, address.port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, server_hostname=address.host) as tls:
        peer = tls.getpeercert(binary_form=True)
        info: dict[str, Any] = {"version": tls.version(), "cipher": (tls.cipher() or ("",))[0]}
    if peer:
        cert = x509.load_der_x509_certificate(peer)
        info["server_subject"] = cert.subject.rfc4514_string()
        info["server_issuer"] = cert.issuer.rfc4514_string()
        info["server_not_after"] = cert.not_valid_after_utc.isoformat()
    return info


def _tls_handshake(tag: str, cfg: MqttConfig, address: BrokerAddress,
                   timeout: float) -> CheckResult:
    """TLS without judging the certificate: is there a TLS server speaking on this port?"""
    name = f"mqtt.tls.handshake{tag}"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        info = _handshake(ctx, address, timeout)
    except (ssl.SSLError, OSError) as exc:
        return fail(name, f"TLS handshake with {address.host}:{address.port} failed: {exc}",
                    "is this a TLS port? mqtts:// is usually 8883, mqtt:// 1883")
    return ok(name, f"{info['version']} with {info['cipher']}", **info)


def _tls_chain(tag: str, cfg: MqttConfig, address: BrokerAddress,
               timeout: float) -> CheckResult:
    """The broker's certificate against mqtt.ca_file (or the system store) and its name."""
    name = f"mqtt.tls.chain{tag}"
    if cfg.tls_insecure_skip_verify:
        return warn(name, "certificate verification is disabled "
                    "(mqtt.tls_insecure_skip_verify = true)",
                    "set mqtt.ca_file to the broker's CA and remove the insecure option")
    try:
        ctx = tls_context(cfg)
        info = _handshake(ctx, address, timeout)
    except ConfigError as exc:
        return fail(name, str(exc), "fix the key named above")
    except ssl.SSLCertVerificationError as exc:
        return fail(name, f"broker certificate rejected: {exc.verify_message}",
                    "mqtt.ca_file must be the CA that signed the broker's certificate, and the "
                    "URL's host must be in its names (openssl s_client -connect "
                    f"{address.host}:{address.port} -showcerts)",
                    ca_file=str(cfg.ca_file or "system store"))
    except (ssl.SSLError, OSError, ValueError) as exc:
        return fail(name, f"verified TLS failed: {exc}",
                    "check mqtt.ca_file, mqtt.cert_file and mqtt.key_file")
    return ok(name, f"broker certificate {info.get('server_subject', '')} verified against "
              f"{cfg.ca_file or 'the system store'}", **info)


def _auth_and_publish(tag: str, config: AgentConfig, address: BrokerAddress,
                      timeout: float) -> list[CheckResult]:
    cfg = config.mqtt
    client_id = f"edgeagent-{config.home.id}-doctor"
    who = f"user {cfg.username!r}" if cfg.username else "anonymous"
    if cfg.cert_file:
        who += " with client certificate"
    try:
        probe = MqttProbe(cfg, address, client_id, timeout=timeout)
    except ValueError as exc:
        return [fail(f"mqtt.auth{tag}", f"client setup failed: {exc}", "check mqtt.* keys")]
    with probe:
        try:
            rc = probe.connect()
        except ConfigError as exc:
            return [fail(f"mqtt.auth{tag}", str(exc), "fix the key named above")]
        except (ProbeError, ssl.SSLError, ValueError) as exc:
            return [fail(f"mqtt.auth{tag}", f"connection as {who} failed: {exc}",
                         "check the client certificate and key (mqtt.cert_file, mqtt.key_file) "
                         "and that the broker trusts their CA")]
        if rc.is_failure:
            return [fail(f"mqtt.auth{tag}", f"broker refused {who}: {rc.getName()}",
                         "check mqtt.username and mqtt.password_file (or the certificate) "
                         "against the broker's accounts", reason_code=rc.value)]
        auth = ok(f"mqtt.auth{tag}", f"CONNACK accepted {who} (MQTT {cfg.protocol})")
        topic = doctor_topic(config)
        payload = json.dumps({"doctor": time.time(), "home": config.home.id,
                              "version": __version__})
        try:
            ack = probe.publish(topic, payload)
        except ProbeError as exc:
            return [auth, fail(f"mqtt.publish{tag}", f"{topic}: {exc}",
                               "the broker accepted the connection but not the message: "
                               "check its ACL and quotas")]
        if ack.is_failure:
            return [auth, fail(f"mqtt.publish{tag}", f"broker refused the publish on {topic}: "
                               f"{ack.getName()}",
                               f"the broker's ACL must let this kit publish to "
                               f"{Topics(cfg.topic_prefix, config.home.id).base}/#",
                               reason_code=ack.value)]
        note = "" if cfg.protocol == "5" else " (MQTT 3.1.1 cannot report an ACL refusal)"
        return [auth, ok(f"mqtt.publish{tag}", f"QoS 1 publish on {topic} acknowledged{note}",
                         topic=topic)]
