"""The outbound Kafka message and the wire encoding of an event.

Events are encoded once, compactly and with sorted keys, so equal events are
equal bytes: determinism tests compare bytes, and a duplicate is a byte-for-byte
copy just as a CRM's retry would be.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

WireEvent = dict[str, str | int]
"""A valid event as the JSON object on the wire: strings, plus the integer schema_version."""

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One record to produce: key, value and headers exactly as they go to Kafka.

    `invalid_kind` names the defect of a deliberately bad message (None for a
    valid one), so tests and dashboards can tell expected rejects from bugs.
    `occurred_at` is the event time of a valid message; None when the message
    has no trustworthy event time (every invalid one).
    """

    key: bytes | None
    value: bytes
    headers: Headers = ()
    invalid_kind: str | None = None
    occurred_at: datetime | None = None


def encode_json(payload: object) -> bytes:
    """Compact, key-sorted UTF-8 JSON: one canonical byte form per payload."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def encode_event(
    event: Mapping[str, str | int], occurred_at: datetime, key: bytes | None = None
) -> OutboundMessage:
    """A valid event keyed by its deal, so Kafka keeps each deal in one partition.

    Pass `key` (the deal id, UTF-8) to share one bytes object among a deal's
    messages when a million of them are held for sorting.
    """
    if key is None:
        key = str(event["deal_id"]).encode("utf-8")
    return OutboundMessage(key=key, value=encode_json(event), occurred_at=occurred_at)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a "Z", milliseconds only when the clock had them.

    CRMs differ on sub-second precision, so both forms appear on the wire; the
    caller passes an aware UTC datetime already truncated to milliseconds.
    """
    precision = "milliseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=precision) + "Z"
