"""`test-alarm` without a running daemon: store the alert in the outbox, publish it directly.

The alert is numbered by the outbox like any other event (the platform's
gap detection stays intact), published once over a short connection of its
own, and marked delivered on its PUBACK. If no broker takes it, it stays
pending and the daemon sends it when it starts. Only safe when no daemon
runs: the daemon caches the last `seq` in memory (the CLI checks the
control socket first and refuses when access is merely denied).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from edgeagent.clock import SystemClock, boot_id
from edgeagent.clock_sync import clock_synced
from edgeagent.config import AgentConfig
from edgeagent.control import test_alarm_draft
from edgeagent.models import Severity
from edgeagent.mqtt_link import BrokerAddress
from edgeagent.outbox import Outbox
from edgeagent.topics import Topics

from .mqtt_probe import MqttProbe, ProbeError


def platform_reply_topic(config: AgentConfig) -> str:
    """Where a platform that supports it confirms a test alarm: `{"id": "<event id>"}`."""
    return f"{Topics(config.mqtt.topic_prefix, config.home.id).base}/test-alarm/reply"


def direct_test_alarm(config: AgentConfig, severity: Severity, note: str = "", *,
                      timeout: float = 10.0) -> dict[str, Any]:
    outbox = Outbox(config.outbox.path, config.home.id, boot_id=boot_id(),
                    max_bytes=config.outbox.max_bytes,
                    retention=timedelta(hours=config.outbox.retention_hours))
    try:
        draft = test_alarm_draft(SystemClock(), severity, note)
        event = outbox.append([draft], synced=clock_synced())[0]
        result: dict[str, Any] = {"mode": "direct", "seq": event.seq, "id": event.id,
                                  "acked": False}
        topic = Topics(config.mqtt.topic_prefix, config.home.id).event("alert", "test")
        errors = []
        for url in config.mqtt.urls:
            address = BrokerAddress.parse(url)
            started = time.monotonic()
            try:
                with MqttProbe(config.mqtt, address, f"edgeagent-{config.home.id}-test",
                               timeout=timeout) as probe:
                    rc = probe.connect()
                    if rc.is_failure:
                        errors.append(f"{address}: refused: {rc.getName()}")
                        continue
                    ack = probe.publish(topic, event.body)
            except (ProbeError, OSError, ValueError) as exc:
                errors.append(f"{address}: {exc}")
                continue
            if ack.is_failure:
                errors.append(f"{address}: publish refused: {ack.getName()}")
                continue
            outbox.mark_delivered([event.seq])
            result.update(acked=True, broker=str(address),
                          after_s=round(time.monotonic() - started, 3))
            return result
        result["error"] = "; ".join(errors) + " (the alarm stays in the outbox)"
        return result
    finally:
        outbox.close()
