"""Shared builders for ingest tests: settings, a fixed clock and messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from streams.ingest.ingestor import Ingestor
from streams.ingest.message import Headers, RawMessage
from streams.settings import Settings

FIXED_NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def make_ingestor(**overrides: Any) -> Ingestor:
    return Ingestor(Settings(**overrides), clock=lambda: FIXED_NOW)


def message_for(payload: dict[str, Any], headers: Headers = ()) -> RawMessage:
    key = payload.get("deal_id")
    return RawMessage(
        key=key.encode() if isinstance(key, str) else None,
        value=json.dumps(payload).encode(),
        headers=headers,
        topic="crm.deal-events",
        partition=0,
        offset=0,
    )
