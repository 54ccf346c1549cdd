"""The event JSON Schema, generated from `edgeagent.event.Event` (and shipped beside this file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from edgeagent.event import Event
from edgeagent.models import SCHEMA_ID

SHIPPED = Path(__file__).with_name("event-v1.schema.json")


def event_schema() -> dict[str, Any]:
    schema = TypeAdapter(Event).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://edgeagent.invalid/schema/{SCHEMA_ID}.json"
    schema["title"] = "edgeagent event v1"
    return schema


def render() -> str:
    return json.dumps(event_schema(), indent=2, sort_keys=True) + "\n"
