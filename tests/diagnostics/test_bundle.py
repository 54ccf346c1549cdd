"""Bundle building blocks: redaction, scrubbing, the remote size cap, log sources."""

from __future__ import annotations

import json
import tarfile

from edgeagent.doctor.bundle import (
    REDACTED,
    bundle_parts,
    cap_size,
    collect_logs,
    redact_config,
    write_bundle,
)
from tests.conftest import make_config


def test_url_passwords_and_secret_files_are_redacted_but_paths_kept(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("hunter2-long-enough\n")
    secret.chmod(0o600)
    config = make_config(tmp_path, "mqtts://kit:UrlSecret99@broker.example:8883",
                         mqtt={"username": "kit", "password_file": str(secret)})
    redacted, scrub = redact_config(config)
    assert redacted["mqtt"]["urls"] == [f"mqtts://kit:{REDACTED}@broker.example:8883"]
    assert redacted["mqtt"]["password_file"] == str(secret)
    assert scrub("log: login kit/hunter2-long-enough via UrlSecret99") == \
        f"log: login kit/{REDACTED} via {REDACTED}"


def test_secret_looking_driver_keys_are_redacted(tmp_path):
    config = make_config(tmp_path, "mqtt://127.0.0.1:1", [
        {"type": "mock.stress", "name": "stress"}])
    doc = bundle_parts(config, {"checks": []}, None, {"token": "abc"}, ("test", []))
    assert doc["config"]["drivers"][0]["name"] == "stress"
    assert doc["status"] == {"token": "abc"}  # status is not config: scrubbed by value only


def test_ble_bind_keys_never_reach_the_bundle_but_addresses_do(tmp_path):
    keys = tmp_path / "ble-keys.toml"
    keys.write_text('[devices."3C:2E:F5:00:00:01"]\nkey = "00112233445566778899aabbccddeeff"\n')
    keys.chmod(0o600)
    config = make_config(tmp_path, "mqtt://127.0.0.1:1", [
        {"type": "ble.button", "name": "pendants", "keys_file": str(keys),
         "devices": [{"id": "p", "address": "3C:2E:F5:00:00:01"}]}])
    line = "pendant 3C:2E:F5:00:00:01 key 00112233445566778899aabbccddeeff"
    doc = bundle_parts(config, {"checks": []}, None, None, ("test", [line]))
    text = json.dumps(doc)
    assert "00112233445566778899aabbccddeeff" not in text
    assert doc["config"]["drivers"][0]["keys_file"] == str(keys)
    assert "3C:2E:F5:00:00:01" in text


def test_remote_cap_trims_old_log_lines_first(tmp_path):
    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    lines = [f"line {n} " + "x" * 200 for n in range(2000)]
    doc = bundle_parts(config, {"checks": [{"name": "a", "status": "pass"}]}, {"pending": 0},
                       {"home": "home-1"}, ("file", lines))
    capped = cap_size(doc, 16 * 1024)
    assert capped["truncated"] is True
    assert len(json.dumps(capped, separators=(",", ":")).encode()) <= 16 * 1024
    kept = capped["logs"]["lines"]
    assert kept and kept[-1] == lines[-1]  # the newest lines survive
    assert capped["status"] == {"home": "home-1"}


def test_tar_bundle_members_and_mode(tmp_path):
    config = make_config(tmp_path, "mqtt://127.0.0.1:1")
    doc = bundle_parts(config, {"checks": []}, {"pending": 3}, None, ("file", ["a", "b"]))
    out = write_bundle(doc, tmp_path / "b.tar.gz")
    with tarfile.open(out) as tar:
        names = sorted(m.name for m in tar.getmembers())
        logs = tar.extractfile("edgeagent-bundle/logs.txt").read().decode()
    assert names == sorted(f"edgeagent-bundle/{n}" for n in (
        "manifest.json", "config.redacted.json", "doctor.json", "outbox.json", "status.json",
        "logs.txt"))
    assert logs.endswith("a\nb\n")
    assert out.stat().st_mode & 0o777 == 0o600


def test_logs_fall_back_to_the_log_file_when_journald_has_nothing(tmp_path):
    journal = tmp_path / "journalctl"
    journal.write_text("#!/bin/sh\necho '-- No entries --'\n")
    journal.chmod(0o755)
    log = tmp_path / "agent.log"
    log.write_text("\n".join(f"l{n}" for n in range(10)) + "\n")
    source, lines = collect_logs(3, log, journalctl=str(journal))
    assert source == str(log) and lines == ["l7", "l8", "l9"]
    full = tmp_path / "journalctl-full"
    full.write_text("#!/bin/sh\necho 'Nov 22 edgeagent[1]: started'\n")
    full.chmod(0o755)
    source, lines = collect_logs(3, log, journalctl=str(full))
    assert source.startswith("journalctl") and lines == ["Nov 22 edgeagent[1]: started"]
