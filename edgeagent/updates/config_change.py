"""Which remote config changes are allowed: the policy `cmd/config-set` and the updater share.

A new config is validated exactly like `edgeagent config check` (the same
parser), then compared with the running one. Only `[heuristics]` and
`[[drivers]]` may differ; every other section (home, mqtt, outbox, control,
commands, updates: the kit's identity, keys and paths) only with
`commands.allow_remote_core = true` in the *running* config. A change that
removes or disables a driver of an alarm type (SOS button, smoke/gas/CO
input, pendant) is refused unless forced on the kit itself. The agent checks
before it hands the file over; the root updater checks again before it
writes, since the agent's word is not enough to change /etc.
"""

from __future__ import annotations

import tomllib
from typing import Any

from edgeagent.config import AgentConfig, parse_config
from edgeagent.errors import ConfigError, EdgeAgentError

REMOTE_SECTIONS = ("heuristics", "drivers")
# Driver types whose readings are alarms: losing one silently is never a remote decision.
ALARM_DRIVER_TYPES = ("gpio.sos", "gpio.alarm_input", "ble.button")
MAX_CONFIG_BYTES = 64 * 1024


class ConfigChangeRefused(EdgeAgentError, ValueError):
    """The new config may not replace the running one remotely; the message says why."""


def dump(config: AgentConfig) -> dict[str, Any]:
    """The validated config as plain data, each driver and output with its own options model."""
    data = config.model_dump(mode="json", exclude={"drivers", "outputs", "source"})
    data["drivers"] = [d.model_dump(mode="json") for d in config.drivers]
    data["outputs"] = [o.model_dump(mode="json") for o in config.outputs]
    return data


def parse_new(text: str, source: str = "<cmd/config-set>") -> AgentConfig:
    """Parse and validate like `config check`; ConfigChangeRefused names the key and why."""
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise ConfigChangeRefused(f"config of {len(text.encode())} bytes exceeds "
                                  f"{MAX_CONFIG_BYTES}")
    try:
        return parse_config(tomllib.loads(text), source)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigChangeRefused(f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigChangeRefused("not valid TOML: nested too deeply") from None
    except ConfigError as exc:
        raise ConfigChangeRefused(str(exc)) from None


def check_change(running: AgentConfig, new: AgentConfig, *,
                 force_alarm_removal: bool = False) -> list[str]:
    """The diff (one line per change) if allowed, else ConfigChangeRefused."""
    old_data, new_data = dump(running), dump(new)
    core = sorted(k for k in set(old_data) | set(new_data)
                  if k not in REMOTE_SECTIONS and old_data.get(k) != new_data.get(k))
    if core and not running.commands.allow_remote_core:
        raise ConfigChangeRefused(f"[{'], ['.join(core)}] may not change remotely "
                                  "(commands.allow_remote_core is false)")
    lost = alarm_drivers(running) - alarm_drivers(new)
    if lost and not force_alarm_removal:
        raise ConfigChangeRefused(f"removes or disables alarm driver(s) {', '.join(sorted(lost))}"
                                  ": only a technician on the kit may do that")
    return diff(old_data, new_data)


def alarm_drivers(config: AgentConfig) -> set[str]:
    return {d.name for d in config.drivers if d.enabled and d.type in ALARM_DRIVER_TYPES}


def diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """`key: old -> new` lines; drivers compared by name."""
    lines: list[str] = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key == "drivers" and not prefix and isinstance(a, list) and isinstance(b, list):
            lines.extend(_driver_diff(a, b))
        elif isinstance(a, dict) and isinstance(b, dict):
            lines.extend(diff(a, b, f"{path}."))
        else:
            lines.append(f"{path}: {_show(a)} -> {_show(b)}")
    return lines


def _driver_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    before = {str(d.get("name")): d for d in old}
    after = {str(d.get("name")): d for d in new}
    lines = [f"drivers[{n}]: added ({after[n].get('type')})"
             for n in sorted(set(after) - set(before))]
    lines += [f"drivers[{n}]: removed" for n in sorted(set(before) - set(after))]
    for name in sorted(set(before) & set(after)):
        lines += diff(before[name], after[name], f"drivers[{name}].")
    return lines


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
