"""A private mosquitto per test: the package's own helper (the demo starts its broker the same way)."""

from __future__ import annotations

from edgeagent.demo.mosquitto import MOSQUITTO, Mosquitto, free_port, wait_port

__all__ = ["MOSQUITTO", "Mosquitto", "free_port", "wait_port"]
