"""Support bundle: config with secrets redacted, doctor JSON, recent log lines, outbox stats.

Secrets never leave the kit. Two layers make sure of it: the config is
dumped from the validated model (never the raw file, whose comments may
hold anything) with secret-looking keys and URL passwords replaced; then
every text that goes into the bundle is scrubbed of the actual secret
values (the password file's content, the client key, URL passwords), so a
password that leaked into a log line is caught too. Paths of key and
password files are kept: "file not found" is worth knowing.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from edgeagent.config import AgentConfig

REDACTED = "<redacted>"
SECRET_KEY = re.compile(r"(pass(word|wd|phrase)?|secret|token|psk|api_?key|credential|pin_code)$",
                        re.IGNORECASE)
DEFAULT_LOG_LINES = 200
REMOTE_CAP = 48 * 1024


class Scrubber:
    """Replaces every known secret value in any text with `<redacted>`."""

    def __init__(self, secrets: set[str]) -> None:
        # Longest first, so a secret containing another is removed whole.
        self.secrets = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


def _url_without_password(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:{REDACTED}@" if parts.username else f"{REDACTED}@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment)), \
        parts.password


def _redact(value: Any, secrets: set[str], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, secrets, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets, key) for v in value]
    if isinstance(value, str):
        if SECRET_KEY.search(key) and not key.endswith(("_file", "_path")):
            secrets.add(value)
            return REDACTED
        if "://" in value:
            clean, password = _url_without_password(value)
            if password:
                secrets.add(password)
            return clean
    return value


def config_dump(config: AgentConfig) -> dict[str, Any]:
    """The validated config as plain data; each driver and output with its own Options model."""
    data = config.model_dump(mode="json", exclude={"drivers", "outputs"})
    data["drivers"] = [d.model_dump(mode="json") for d in config.drivers]
    data["outputs"] = [o.model_dump(mode="json") for o in config.outputs]
    data["source"] = config.source
    return data


def _file_secret(path: Path | None) -> set[str]:
    if path is None:
        return set()
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    found = {text, text.strip()}
    # PEM keys: every base64 line on its own, in case a log quoted one line.
    found.update(line.strip() for line in text.splitlines() if len(line.strip()) >= 16
                 and not line.startswith("-----"))
    # TOML secret files (BLE bind keys): each quoted value on its own.
    found.update(re.findall(r'=\s*"([^"\n]{16,})"', text))
    return {s for s in found if s}


def redact_config(config: AgentConfig) -> tuple[dict[str, Any], Scrubber]:
    """The redacted config and a scrubber holding every secret value found on the way."""
    secrets: set[str] = set()
    secrets |= _file_secret(config.mqtt.password_file)
    secrets |= _file_secret(config.mqtt.key_file)
    for driver in config.drivers:
        for path in driver.secret_files().values():
            secrets |= _file_secret(path)
    redacted = _redact(config_dump(config), secrets)
    return redacted, Scrubber(secrets)


def collect_logs(lines: int = DEFAULT_LOG_LINES, log_file: str | Path | None = None, *,
                 service: str = "edgeagent",
                 journalctl: str | None = None) -> tuple[str, list[str]]:
    """The last `lines` lines: journald for the service if it has any, else the log file."""
    journalctl = journalctl if journalctl is not None else shutil.which("journalctl")
    if journalctl:
        try:
            proc = subprocess.run(  # noqa: S603 - fixed argv
                [journalctl, "-u", service, "-n", str(lines), "--no-pager", "-o", "short-iso"],
                capture_output=True, text=True, timeout=10, check=False)
            got = [ln for ln in proc.stdout.splitlines() if ln and not ln.startswith("-- ")]
            if proc.returncode == 0 and got:
                return f"journalctl -u {service}", got[-lines:]
        except (OSError, subprocess.TimeoutExpired):
            pass
    if log_file:
        try:
            with open(log_file, encoding="utf-8", errors="replace") as fh:
                tail = fh.read().splitlines()[-lines:]
            return str(log_file), tail
        except OSError as exc:
            return f"{log_file} (unreadable: {exc.strerror})", []
    return "none (no journald entries and no --log-file)", []


def bundle_parts(config: AgentConfig, doctor: dict[str, Any], outbox: dict[str, Any] | None,
                 status: dict[str, Any] | None, logs: tuple[str, list[str]]) -> dict[str, Any]:
    """Everything in one JSON-able document, already scrubbed."""
    redacted, scrub = redact_config(config)
    log_source, log_lines = logs
    doc = {
        "bundle": "edgeagent.support/1",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "home": config.home.id,
        "config": redacted,
        "doctor": doctor,
        "outbox": outbox,
        "status": status,
        "logs": {"source": log_source, "lines": log_lines},
    }
    cleaned: dict[str, Any] = json.loads(scrub(json.dumps(doc, default=str)))
    return cleaned


def write_bundle(doc: dict[str, Any], output: Path) -> Path:
    """One file: `.json` as is, anything else a tar.gz with one member per part."""
    if output.suffix == ".json":
        # Private before the first byte lands, also when the file already existed.
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc, indent=2, default=str) + "\n")
        return output
    members = {
        "manifest.json": json.dumps({k: doc[k] for k in ("bundle", "created", "home")}, indent=2),
        "config.redacted.json": json.dumps(doc["config"], indent=2),
        "doctor.json": json.dumps(doc["doctor"], indent=2),
        "outbox.json": json.dumps(doc["outbox"], indent=2),
        "status.json": json.dumps(doc["status"], indent=2, default=str),
        "logs.txt": f"# source: {doc['logs']['source']}\n" + "\n".join(doc["logs"]["lines"])
                    + "\n",
    }
    with tarfile.open(output, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"edgeagent-bundle/{name}")
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    output.chmod(0o600)
    return output


def cap_size(doc: dict[str, Any], cap: int = REMOTE_CAP) -> dict[str, Any]:
    """Trim a bundle to at most `cap` bytes of JSON: oldest log lines first, then status."""
    def size() -> int:
        return len(json.dumps(doc, default=str, separators=(",", ":")).encode())

    lines: list[str] = doc["logs"]["lines"]
    if size() > cap:
        doc["truncated"] = True
    while size() > cap and lines:
        del lines[: max(1, len(lines) // 4)]
    if size() > cap:
        doc["status"] = {"omitted": "over the size cap"}
    if size() > cap:
        doc["doctor"] = {k: v for k, v in doc["doctor"].items() if k != "checks"} | {
            "checks": [c for c in doc["doctor"].get("checks", []) if c.get("status") != "pass"]}
    return doc
