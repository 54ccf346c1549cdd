"""The MQTT topic contract (docs/architecture.md): one place builds every topic the agent uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    home: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.home}"

    def event(self, kind: str, type_: str) -> str:
        return f"{self.base}/events/{kind}/{type_}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def commands(self) -> str:
        return f"{self.base}/cmd/+"

    def command_name(self, topic: str) -> str | None:
        head = f"{self.base}/cmd/"
        if not topic.startswith(head):
            return None
        name = topic[len(head):]
        return name if name and "/" not in name else None

    def reply(self, name: str) -> str:
        return f"{self.base}/cmd/{name}/reply"
