"""The canonical v1 event a bridge writes, with an `event_id` made from the source's identity.

A CRM redelivers (webhook retries, a connector restarted from an older offset);
the worker de-duplicates by `event_id`, so a redelivered source event must give
byte-identical canonical events. The id is therefore a function of the source's
own identity only (Pipedrive's delivery id, Salesforce's transaction key,
sequence number and record id) and of which derived event it is, never of a
clock, a counter or the delivery attempt.

Its shape is ``<tag>-<digest>-<sequence><rank>-<kind>``, for example
``pd-6f1c0e93b7a2d4e5f6a7b8c9-2-stage_changed``: a readable source tag and
kind around a 96-bit digest of the identity. The worker replays a deal's events
in `(occurred_at, event_id)` order, and the events derived from one source event
share their `occurred_at`; so the part after the digest sorts them into the
order they must apply in. A reopen comes first (it re-enters a stage), then the
stage, amount, owner and close-date changes, and a win or a loss last, so a
deal moved to its last stage and won in one edit is won *from* that stage.
Salesforce's `sequenceNumber` (zero-padded) orders the events of one
transaction the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from streams.bridges.mapping_file import SourceMapping
from streams.domain.events import SCHEMA_VERSION, EventType

_RANKS = {
    EventType.CREATED: 0,
    EventType.REOPENED: 1,
    EventType.STAGE_CHANGED: 2,
    EventType.AMOUNT_CHANGED: 3,
    EventType.OWNER_CHANGED: 4,
    EventType.CLOSE_DATE_CHANGED: 5,
    EventType.WON: 6,
    EventType.LOST: 6,
    EventType.CHURNED: 7,
    EventType.DELETED: 8,
}
_DIGEST_HEX_CHARS = 24
_SEQUENCE_DIGITS = 9

Payload = Mapping[str, str | int]


@dataclass(frozen=True, slots=True)
class Change:
    """One canonical event a source event implies, before it has an identity.

    `amount` is already the canonical decimal string, with its `currency`.
    """

    type: EventType
    pipeline: str | None = None
    stage: str | None = None
    owner: str | None = None
    amount: str | None = None
    currency: str | None = None
    reason: str | None = None
    expected_close_date: date | None = None


@dataclass(frozen=True, slots=True)
class SourceIdentity:
    """What makes a source event itself: `tag` names the source kind (`pd`, `sf`),
    `parts` its own ids; `sequence` orders the events of one source transaction."""

    tag: str
    parts: tuple[str, ...]
    sequence: int | None = None
    sequence_digits: int = _SEQUENCE_DIGITS
    """Zero-padded to this width so ids sort by sequence (20 holds any 64-bit number)."""

    def event_id(self, change_type: EventType) -> str:
        digest = hashlib.sha256("\x1f".join(self.parts).encode("utf-8")).hexdigest()
        width = self.sequence_digits
        sequence = "" if self.sequence is None else f"{self.sequence:0{width}d}-"
        kind = change_type.value.removeprefix("deal.")
        return f"{self.tag}-{digest[:_DIGEST_HEX_CHARS]}-{sequence}{_RANKS[change_type]}-{kind}"


@dataclass(frozen=True, slots=True)
class CanonicalEvent:
    """A canonical event as the bridge will produce it: keyed by its deal."""

    deal_id: str
    payload: Payload

    @property
    def key(self) -> bytes:
        return self.deal_id.encode("utf-8")

    @property
    def event_id(self) -> str:
        return str(self.payload["event_id"])

    def encode(self) -> bytes:
        """The message value: compact JSON, keys sorted, so equal events are equal bytes."""
        return json.dumps(
            self.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")


def canonical_events(
    changes: Iterable[Change],
    *,
    identity: SourceIdentity,
    deal_id: str,
    occurred_at: datetime,
    mapping: SourceMapping,
) -> tuple[CanonicalEvent, ...]:
    """The canonical events of one source event's `changes`, in the order they apply."""
    ordered = sorted(changes, key=lambda change: _RANKS[change.type])
    kinds = [change.type for change in ordered]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"one source event implies one event per type, not {kinds}")
    return tuple(
        CanonicalEvent(
            deal_id=deal_id,
            payload=_payload(change, identity, deal_id, occurred_at, mapping),
        )
        for change in ordered
    )


def _payload(
    change: Change,
    identity: SourceIdentity,
    deal_id: str,
    occurred_at: datetime,
    mapping: SourceMapping,
) -> dict[str, str | int]:
    payload: dict[str, str | int] = {
        "event_id": identity.event_id(change.type),
        "schema_version": SCHEMA_VERSION,
        "type": change.type.value,
        "occurred_at": utc_text(occurred_at),
        "deal_id": deal_id,
        "source": mapping.source,
    }
    optional = {
        "tenant": mapping.tenant,
        "pipeline": change.pipeline,
        "stage": change.stage,
        "owner": change.owner,
        "amount": change.amount,
        "currency": change.currency,
        "reason": change.reason,
        "expected_close_date": (
            None if change.expected_close_date is None else change.expected_close_date.isoformat()
        ),
    }
    payload.update({field: value for field, value in optional.items() if value is not None})
    return payload


def utc_text(instant: datetime) -> str:
    """RFC 3339 in UTC with microseconds and `Z`: one spelling per instant."""
    naive = instant.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(timespec="microseconds") + "Z"
