"""Why a message was refused: the machine-readable half of a dead letter.

The reasons form a closed set so that the rejected-messages counter has a
bounded label; the free-text `detail` carries the specifics.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    OVERSIZE = "oversize"
    TOMBSTONE = "tombstone"
    """A message without a value: the event topic has no deletions by key."""
    UNDECODABLE = "undecodable"
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    BAD_CLOUDEVENT = "bad_cloudevent"
    CE_CONFLICT = "ce_conflict"
    """A CloudEvent attribute (id, type, time, subject) that contradicts its data."""
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_TYPE = "unknown_type"
    BAD_AMOUNT = "bad_amount"
    BAD_CURRENCY = "bad_currency"
    UNKNOWN_CURRENCY = "unknown_currency"
    BAD_TIMESTAMP = "bad_timestamp"
    BAD_CLOSE_DATE = "bad_close_date"
    """`expected_close_date` not a calendar date (`2026-02-30`)."""
    FUTURE_TIMESTAMP = "future_timestamp"
    KEY_MISMATCH = "key_mismatch"
    SCHEMA_VIOLATION = "schema_violation"
    DEAL_TOO_LONG = "deal_too_long"
    """Valid, but its deal's stored history would pass DEALPULSE_MAX_DEAL_BYTES."""


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str
