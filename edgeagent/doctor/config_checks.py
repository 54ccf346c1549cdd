"""Is the config valid, and are the secret files it names private?"""

from __future__ import annotations

import stat
from pathlib import Path

from edgeagent.config import AgentConfig, load_config
from edgeagent.errors import ConfigError

from .result import CheckResult, fail, ok, skip, warn


def check_config(path: str | None) -> tuple[list[CheckResult], AgentConfig | None]:
    """`config.valid`, then `config.secrets` for each secret file; returns the config if valid."""
    if path is None:
        return [warn("config.valid", "no config file: running on built-in defaults (demo home)",
                     "pass --config /etc/edgeagent/edgeagent.toml or set $EDGEAGENT_CONFIG")
                ], load_config(None)
    try:
        config = load_config(path)
    except ConfigError as exc:
        return [fail("config.valid", str(exc),
                     f"fix the key named above, then run: edgeagent config check {path}",
                     key=exc.key)], None
    results = [ok("config.valid", f"{path}: home {config.home.id}, "
                  f"{len(config.drivers)} drivers", home=config.home.id)]
    results.extend(check_secret_files(config))
    return results, config


def check_secret_files(config: AgentConfig) -> list[CheckResult]:
    """Each secret file exists and is readable by its owner only (never its contents)."""
    secrets = {"mqtt.password_file": config.mqtt.password_file,
               "mqtt.key_file": config.mqtt.key_file}
    results: list[CheckResult] = []
    for key, file in secrets.items():
        name = f"config.secrets[{key}]"
        if file is None:
            continue
        results.append(_check_private(name, key, Path(file)))
    if not results:
        results.append(skip("config.secrets", "no secret files configured"))
    return results


def _check_private(name: str, key: str, file: Path) -> CheckResult:
    try:
        st = file.stat()
    except FileNotFoundError:
        return fail(name, f"{key} = {file}: file not found",
                    f"create it (mode 600) or correct {key}", path=str(file))
    except PermissionError as exc:
        return fail(name, f"{key} = {file}: cannot stat ({exc.strerror})",
                    "run doctor as the agent's user or root", path=str(file))
    mode = stat.S_IMODE(st.st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return fail(name, f"{file} is readable by group/others (mode {mode:04o})",
                    f"chmod 600 {file}", path=str(file), mode=f"{mode:04o}")
    return ok(name, f"{file} is private (mode {mode:04o})", path=str(file), mode=f"{mode:04o}")
