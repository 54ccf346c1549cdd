"""The reference platform ingest: what a municipality runs on the other side of the broker.

It uses only the agent's published contract (the topics, the event JSON Schema,
the `resend` command and the retained status), never the agent's code: a
municipality writing its own ingest needs no more than this package does.
"""

__version__ = "0.1.0"
