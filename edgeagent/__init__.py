"""edgeagent: sensors in, local heuristics, a durable outbox, MQTT out."""

__version__ = "0.1.0"
