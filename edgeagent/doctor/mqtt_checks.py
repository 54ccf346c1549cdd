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
from edgeagent.i18n import _
from edgeagent.mqtt_link import BrokerAddress, tls_context
from edgeagent.topics import Topics

from .context import DoctorContext
from .mqtt_probe import MqttProbe, ProbeError
from .result import CheckResult, Status, fail, ok, skip, warn

CERT_WARN_DAYS = 30


def doctor_topic(config: AgentConfig) -> str:
    return f"{Topics(config.mqtt.topic_prefix, config.home.id).base}/doctor"


def check_mqtt(config: AgentConfig, env: DoctorContext) -> list[CheckResult]:
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
        return ok("mqtt.daemon", _("daemon connected to {broker}, {acked} events acknowledged")
                  .format(broker=health.get("broker"), acked=health.get("acked", 0)), **details)
    return fail("mqtt.daemon", _("daemon link {state}: {error}").format(
                    state=state or "unknown",
                    error=health.get("last_error") or _("no error recorded")),
                _("see the mqtt.* steps below for which one fails"), **details)


def check_client_cert(path: Path, now: float) -> CheckResult:
    """Parse the client certificate: expired fails, under 30 days warns."""
    name = "mqtt.tls.client_cert"
    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except FileNotFoundError:
        return fail(name, _("mqtt.cert_file {path} not found").format(
                              path=path), _("install the kit's identity "
                                                                "(edgeagent identity install) or "
                                                                "correct mqtt.cert_file"))
    except (OSError, ValueError) as exc:
        return fail(name, _("mqtt.cert_file {path} unreadable: {exc}").format(path=path, exc=exc),
                    _("it must be a PEM certificate"))
    when = datetime.fromtimestamp(now, UTC)
    not_after = cert.not_valid_after_utc
    not_before = cert.not_valid_before_utc
    subject = cert.subject.rfc4514_string()
    details: dict[str, Any] = {"subject": subject, "not_after": not_after.isoformat(),
               "not_before": not_before.isoformat()}
    if not_after <= when:
        return fail(name, _("client certificate {subject} expired on {not_after:%Y-%m-%d}").format(
                              subject=subject, not_after=not_after),
                    _("issue a new certificate for this kit (edgeagent identity create) and "
                      "install it"), **details)
    if not_before > when:
        return fail(name, _("client certificate not valid before {not_before:%Y-%m-%d %H:%M} "
                            "UTC (clock wrong?)").format(not_before=not_before),
                    _("check clock.synced; reissue if the date is right"), **details)
    days = (not_after - when).total_seconds() / 86400
    details["days_left"] = round(days, 1)
    if days < CERT_WARN_DAYS:
        return warn(name, _("client certificate expires in {days:.0f} days "
                            "({not_after:%Y-%m-%d})").format(days=days, not_after=not_after),
                    _("renew it before it expires"), **details)
    return ok(name, _("client certificate valid until {not_after:%Y-%m-%d} ({days:.0f} days)")
              .format(not_after=not_after, days=days), **details)


def probe_broker(config: AgentConfig, address: BrokerAddress,
                 env: DoctorContext) -> list[CheckResult]:
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
        steps.append(warn(f"mqtt.tls{tag}", _("{address} is not encrypted").format(address=address),
                          _("use an mqtts:// URL with mqtt.ca_file in production")))
    if not failed():
        steps.extend(_auth_and_publish(tag, config, address, env.mqtt_timeout))
    done = {s.name.split("[")[0] for s in steps}
    for step in ("mqtt.dns", "mqtt.tcp", "mqtt.tls.handshake", "mqtt.tls.chain", "mqtt.auth",
                 "mqtt.publish"):
        if step not in done and (tls or not step.startswith("mqtt.tls")):
            steps.append(skip(f"{step}{tag}", _("an earlier step failed")))
    return steps


def _dns(tag: str, address: BrokerAddress) -> CheckResult:
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return fail(f"mqtt.dns{tag}", _("cannot resolve {host}: {strerror}").format(
                                          host=address.host, strerror=exc.strerror),
                    _("check the host name in mqtt.urls and the kit's DNS (resolvectl status)"))
    addrs = sorted({str(info[4][0]) for info in infos})
    return ok(f"mqtt.dns{tag}", _("{host} -> {addresses}").format(
                  host=address.host, addresses=", ".join(addrs)), addresses=addrs)


def _tcp(tag: str, address: BrokerAddress, timeout: float) -> CheckResult:
    start = time.monotonic()
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            pass
    except TimeoutError:
        return fail(f"mqtt.tcp{tag}", _("no answer from {host}:{port} within {timeout:g} s")
                    .format(host=address.host, port=address.port, timeout=timeout),
                    _("a firewall drops the port, or the broker is down"))
    except OSError as exc:
        return fail(f"mqtt.tcp{tag}", _("cannot connect to {host}:{port}: {reason}").format(
                        host=address.host, port=address.port, reason=exc.strerror or exc),
                    _("is the broker running and the port right?"))
    ms = (time.monotonic() - start) * 1000
    return ok(f"mqtt.tcp{tag}", _("port {port} open ({ms:.0f} ms)").format(
                                    port=address.port, ms=ms), rtt_ms=round(ms, 1))


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
        return fail(name, _("TLS handshake with {host}:{port} failed: {exc}").format(
                              host=address.host, port=address.port, exc=exc),
                    _("is this a TLS port? mqtts:// is usually 8883, mqtt:// 1883"))
    return ok(name, _("{version} with {cipher}").format(
                        version=info['version'], cipher=info['cipher']), **info)


def _tls_chain(tag: str, cfg: MqttConfig, address: BrokerAddress,
               timeout: float) -> CheckResult:
    """The broker's certificate against mqtt.ca_file (or the system store) and its name."""
    name = f"mqtt.tls.chain{tag}"
    if cfg.tls_insecure_skip_verify:
        return warn(name, _("certificate verification is disabled (mqtt.tls_insecure_skip_verify "
                            "= true)"),
                    _("set mqtt.ca_file to the broker's CA and remove the insecure option"))
    try:
        ctx = tls_context(cfg)
        info = _handshake(ctx, address, timeout)
    except ConfigError as exc:
        return fail(name, _("config error: {reason}").format(reason=exc),
                    _("fix the key named above"))
    except ssl.SSLCertVerificationError as exc:
        return fail(name, _("broker certificate rejected: {verify_message}").format(
                              verify_message=exc.verify_message),
                    _("mqtt.ca_file must be the CA that signed the broker's certificate, and the "
                      "URL's host must be in its names (openssl s_client -connect {host}:{port} "
                      "-showcerts)").format(host=address.host, port=address.port),
                    ca_file=str(cfg.ca_file or "system store"))
    except (ssl.SSLError, OSError, ValueError) as exc:
        return fail(name, _("verified TLS failed: {exc}").format(exc=exc),
                    _("check mqtt.ca_file, mqtt.cert_file and mqtt.key_file"))
    return ok(name, _("broker certificate {subject} verified against {ca_file}").format(
                  subject=info.get("server_subject", ""),
                  ca_file=cfg.ca_file or _("the system store")), **info)


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
        return [fail(f"mqtt.auth{tag}", _("client setup failed: {exc}").format(
                                            exc=exc), _("check mqtt.* keys"))]
    with probe:
        try:
            rc = probe.connect()
        except ConfigError as exc:
            return [fail(f"mqtt.auth{tag}", _("config error: {reason}").format(reason=exc),
                         _("fix the key named above"))]
        except (ProbeError, ssl.SSLError, ValueError) as exc:
            return [fail(f"mqtt.auth{tag}", _("connection as {who} failed: {exc}").format(
                                                who=who, exc=exc),
                         _("check the client certificate and key (mqtt.cert_file, mqtt.key_file) "
                           "and that the broker trusts their CA"))]
        if rc.is_failure:
            return [fail(f"mqtt.auth{tag}", _("broker refused {who}: {reason}").format(
                             who=who, reason=rc.getName()),
                         _("check mqtt.username and mqtt.password_file (or the certificate) "
                           "against the broker's accounts"), reason_code=rc.value)]
        auth = ok(f"mqtt.auth{tag}", _("CONNACK accepted {who} (MQTT {protocol})").format(
                      who=who, protocol=cfg.protocol))
        topic = doctor_topic(config)
        payload = json.dumps({"doctor": time.time(), "home": config.home.id,
                              "version": __version__})
        try:
            ack = probe.publish(topic, payload)
        except ProbeError as exc:
            return [auth, fail(f"mqtt.publish{tag}", _("{topic}: {exc}").format(
                                   topic=topic, exc=exc),
                               _("the broker accepted the connection but not the message: check "
                                 "its ACL and quotas"))]
        if ack.is_failure:
            return [auth, fail(f"mqtt.publish{tag}", _("broker refused the publish on {topic}: "
                                                       "{reason}").format(
                                   topic=topic, reason=ack.getName()),
                               _("the broker's ACL must let this kit publish to {base}/#").format(
                                   base=Topics(cfg.topic_prefix, config.home.id).base),
                               reason_code=ack.value)]
        note = "" if cfg.protocol == "5" else _(" (MQTT 3.1.1 cannot report an ACL refusal)")
        return [auth, ok(f"mqtt.publish{tag}", _("QoS 1 publish on {topic} acknowledged{note}")
                         .format(topic=topic, note=note),
                         topic=topic)]
