"""Loading the canonical event's JSON Schema from `schemas/`."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
EVENT_SCHEMA_FILE = SCHEMA_DIR / "deal-event.v1.schema.json"


@cache
def event_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(EVENT_SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema
