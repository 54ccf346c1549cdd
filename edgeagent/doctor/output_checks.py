"""Are the kit's outputs (buzzer, call light, voice) there and working?

With the daemon running, its live output health is the answer (claiming a
pin twice would take it from the agent). Without it, a speech output's
programs and recorded-voice folder are looked for.
"""

from __future__ import annotations

import shutil
from typing import Any

from edgeagent.config import AgentConfig
from edgeagent.i18n import _

from .result import CheckResult, fail, ok, skip, warn


def check_outputs_live(config: AgentConfig, live: dict[str, Any]) -> list[CheckResult]:
    """One check per enabled output, from the daemon's `status()["outputs"]`."""
    outputs: dict[str, Any] = live.get("outputs") or {}
    results: list[CheckResult] = []
    for opts in config.outputs:
        name = f"output[{opts.name}]"
        if not opts.enabled:
            results.append(skip(name, _("disabled in config")))
            continue
        health = outputs.get(opts.name)
        if health is None:
            results.append(warn(name, _("configured but not running in the daemon"),
                                _("the daemon runs an older config: systemctl restart edgeagent")))
            continue
        state = str(health.get("state", ""))
        why = health.get("reason") or ""
        text = f"{opts.type}: {state}" + (f" ({why})" if why else "")
        details = {"type": opts.type, "state": state, "counters": health.get("counters", {})}
        if state == "ok":
            results.append(ok(name, text, **details))
        elif state == "failed":
            results.append(fail(name, text, _("journalctl -u edgeagent for the output's error"),
                                **details))
        else:
            results.append(warn(name, text, _("journalctl -u edgeagent for the output's error"),
                                **details))
    return results


def check_outputs_standalone(config: AgentConfig) -> list[CheckResult]:
    """The daemon is not running: a speech output's players and WAV folder exist."""
    results: list[CheckResult] = []
    for opts in config.outputs:
        name = f"output[{opts.name}]"
        if not opts.enabled:
            results.append(skip(name, _("disabled in config")))
            continue
        if not opts.type.startswith("audio."):
            results.append(skip(name, _("checked by the running daemon")))
            continue
        engine = getattr(opts, "engine", "espeak-ng")
        programs = [getattr(opts, "espeak", "espeak-ng")]
        if engine == "wav":
            programs.append(getattr(opts, "aplay", "aplay"))
        missing = [p for p in programs if shutil.which(p) is None]
        if missing:
            results.append(fail(name, _("{programs} not found").format(
                programs=", ".join(missing)), _("apt install espeak-ng alsa-utils")))
            continue
        wav_dir = getattr(opts, "wav_dir", None)
        if engine == "wav" and (wav_dir is None or not wav_dir.is_dir()):
            results.append(warn(name, _("wav_dir {path} is not a folder: speaking with "
                                        "espeak-ng").format(path=wav_dir),
                                _("copy the recorded messages to wav_dir")))
            continue
        results.append(ok(name, _("{type}: players found").format(type=opts.type)))
    return results
