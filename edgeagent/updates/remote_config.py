"""`cmd/config-get` and `cmd/config-set`: the config, remotely, without bricking the kit.

`config-get` returns the effective config with secrets redacted (as the
support bundle does). `config-set` checks `args.toml` against the running
config (edgeagent/updates/config_change.py), then hands the file to the root
updater (the agent cannot write /etc/edgeagent), which checks it again,
keeps the old file as `edgeagent.toml.prev`, reloads, and keeps the new one
only if the agent is healthy afterwards. The reply's `result.diff` is the
change that will be applied; the outcome follows as a `status`/`config` event
whose `data.command_id` is the command's `id`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeagent.config import AgentConfig
from edgeagent.downlink import CommandArgsError
from edgeagent.updates.config_change import ConfigChangeRefused, check_change, parse_new
from edgeagent.updates.request import write_config_request


class RemoteConfig:
    def __init__(self, running: Callable[[], AgentConfig], state_dir: Path) -> None:
        self.running = running
        self.state_dir = state_dir

    async def get(self, args: dict[str, Any]) -> dict[str, Any]:
        from edgeagent.doctor.bundle import redact_config  # noqa: PLC0415 - on first use

        redacted, _ = redact_config(self.running())
        return {"config": redacted}

    async def set(self, args: dict[str, Any], command_id: str | None) -> dict[str, Any]:
        text = args.get("toml")
        if not isinstance(text, str):
            raise CommandArgsError("args.toml must be the whole new config file as a string")
        try:
            diff = check_change(self.running(), parse_new(text))
        except ConfigChangeRefused as exc:
            raise CommandArgsError(str(exc)) from None
        if not diff:
            return {"changed": False, "diff": []}
        # The updater's result carries the id back: the status/config event names the command.
        write_config_request(self.state_dir, text, command_id)
        return {"changed": True, "diff": diff,
                "applied_by": "the updater: kept only if the agent is healthy after the reload"}
