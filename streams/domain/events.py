"""The canonical deal event, v1, as the domain sees it after ingest.

Every field is already normalised: money is a `Decimal`, `occurred_at` is a
timezone-aware UTC datetime. The wire form is described by
`schemas/deal-event.v1.schema.json` and `docs/events.md`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from streams.domain.money import Money

SCHEMA_VERSION = 1
DEFAULT_TENANT = "default"


class EventType(StrEnum):
    CREATED = "deal.created"
    STAGE_CHANGED = "deal.stage_changed"
    AMOUNT_CHANGED = "deal.amount_changed"
    OWNER_CHANGED = "deal.owner_changed"
    WON = "deal.won"
    LOST = "deal.lost"
    REOPENED = "deal.reopened"
    CHURNED = "deal.churned"
    DELETED = "deal.deleted"
    CLOSE_DATE_CHANGED = "deal.close_date_changed"


@dataclass(frozen=True, slots=True)
class DealEvent:
    event_id: str
    type: EventType
    occurred_at: datetime
    deal_id: str
    tenant: str = DEFAULT_TENANT
    pipeline: str | None = None
    stage: str | None = None
    owner: str | None = None
    amount: Money | None = None
    reason: str | None = None
    source: str | None = None
    schema_version: int = SCHEMA_VERSION
    expected_close_date: date | None = None
    """The calendar date the CRM expects the deal to close on (no timezone: a CRM's date)."""

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
