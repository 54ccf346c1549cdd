"""Is the config valid, and are the secret files it names private?"""

from __future__ import annotations

import stat
from pathlib import Path

from edgeagent.config import AgentConfig, load_config
from edgeagent.config_lint import lint
from edgeagent.errors import ConfigError
from edgeagent.i18n import _

from .result import CheckResult, fail, ok, skip, warn


def check_config(path: str | None) -> tuple[list[CheckResult], AgentConfig | None]:
    """`config.valid`, then `config.secrets` for each secret file; returns the config if valid."""
    if path is None:
        return [warn("config.valid", _("no config file: running on built-in defaults (demo home)"),
                     _("pass --config /etc/edgeagent/edgeagent.toml or set $EDGEAGENT_CONFIG"))
                ], load_config(None)
    try:
        config = load_config(path)
    except ConfigError as exc:
        return [fail("config.valid", _("config error: {reason}").format(reason=exc),
                     _("fix the key named above, then run: edgeagent config check {path}").format(
                         path=path),
                     key=exc.key)], None
    results = [ok("config.valid", _("{path}: home {id}, {drivers} drivers").format(
                                      path=path,
                                      id=config.home.id,
                                      drivers=len(config.drivers)), home=config.home.id)]
    results.extend(check_secret_files(config))
    results.extend(lint_results(config, path))
    return results, config


def lint_results(config: AgentConfig, path: str | None) -> list[CheckResult]:
    """`config.lint[KEY]`: placeholder id, no sensors, rooms, time zone, simulated drivers."""
    results: list[CheckResult] = []
    for finding in lint(config, path):
        name = f"config.lint[{finding.key}]"
        if finding.level == "warning":
            results.append(warn(name, finding.message, _("correct {key} in the config").format(
                key=finding.key), key=finding.key))
        else:
            results.append(fail(name, finding.message, _("correct {key} in the config").format(
                key=finding.key), key=finding.key))
    return results


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
        results.append(skip("config.secrets", _("no secret files configured")))
    return results


def _check_private(name: str, key: str, file: Path) -> CheckResult:
    try:
        st = file.stat()
    except FileNotFoundError:
        return fail(name, _("{key} = {file}: file not found").format(key=key, file=file),
                    _("create it (mode 600) or correct {key}").format(key=key), path=str(file))
    except PermissionError as exc:
        return fail(name, _("{key} = {file}: cannot stat ({strerror})").format(
                              key=key, file=file, strerror=exc.strerror),
                    _("run doctor as the agent's user or root"), path=str(file))
    mode = stat.S_IMODE(st.st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return fail(name, _("{file} is readable by group/others (mode {mode:04o})").format(
                              file=file, mode=mode),
                    _("chmod 600 {file}").format(file=file), path=str(file), mode=f"{mode:04o}")
    return ok(name, _("{file} is private (mode {mode:04o})").format(
                        file=file, mode=mode), path=str(file), mode=f"{mode:04o}")
