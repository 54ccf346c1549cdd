"""The configured outputs of one agent: built from `[[outputs]]`, opened, reported, closed.

An output that cannot open (no buzzer on that pin, no espeak-ng) is reported
`failed` in `status`/`doctor` and left out; the others keep working and the
agent keeps running: a mute kit still sends every alarm.
"""

from __future__ import annotations

import logging
from typing import Any

from edgeagent.errors import HardwareUnavailable
from edgeagent.output import (
    Output,
    OutputContext,
    OutputOptions,
    Sleep,
    health_of,
    load_output_class,
)

log = logging.getLogger(__name__)


class OutputSet:
    def __init__(self, options: list[OutputOptions], *, volume: int,
                 sleep: Sleep | None = None) -> None:
        self.options = [o for o in options if o.enabled]
        self._volume = volume
        self._sleep = sleep
        self.outputs: dict[str, Output] = {}
        self.failed: dict[str, str] = {}

    def open(self) -> list[Output]:
        """Build and open every enabled output; those that fail are reported, not fatal."""
        for opts in self.options:
            context = OutputContext(logger=logging.getLogger(f"edgeagent.output.{opts.name}"),
                                    volume=self._volume, sleep=self._sleep)
            try:
                output = load_output_class(opts.type)(opts, context)
                output.open()
            except (HardwareUnavailable, LookupError, OSError) as exc:
                self.failed[opts.name] = str(exc)
                log.warning("output %s unavailable: %s", opts.name, exc)
                continue
            self.outputs[opts.name] = output
        return list(self.outputs.values())

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for opts in self.options:
            entry = health_of(self.outputs.get(opts.name), opts)
            if opts.name in self.failed:
                entry["reason"] = self.failed[opts.name]
            out[opts.name] = entry
        return out

    def close(self) -> None:
        for output in self.outputs.values():
            try:
                output.close()
            except Exception:
                log.exception("closing output %s", output.name)
