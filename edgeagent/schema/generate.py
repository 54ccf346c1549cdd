"""The event JSON Schema, generated from the pydantic model (and shipped beside this file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeagent.models import SCHEMA_ID, Event

SHIPPED = Path(__file__).with_name("event-v1.schema.json")


def event_schema() -> dict[str, Any]:
    schema = Event.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://edgeagent.invalid/schema/{SCHEMA_ID}.json"
    schema["title"] = "edgeagent event v1"
    return schema


def render() -> str:
    return json.dumps(event_schema(), indent=2, sort_keys=True) + "\n"
