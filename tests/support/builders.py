"""Builders of deal events, contexts and lookups shared by the domain tests.

Their own tests are in `tests/unit/test_domain_builders.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal

from streams.domain.context import UTC_ZONE, MetricContext
from streams.domain.contributions import ContributionKey, labels
from streams.domain.events import DealEvent, EventType
from streams.domain.money import Money
from streams.domain.pipeline_config import PipelineConfig, parse_pipeline_config
from streams.domain.windows import Granularity, Window

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
MONDAY = datetime(2026, 3, 2, 9, tzinfo=UTC)  # 2026-03-02 is a Monday

PIPELINES: PipelineConfig = parse_pipeline_config(
    {
        "pipelines": {
            "new-business": {
                "stages": [
                    {"name": "lead", "win_probability": Decimal("0.05")},
                    {"name": "qualified", "win_probability": Decimal("0.15")},
                    {"name": "demo", "win_probability": Decimal("0.3")},
                    {"name": "proposal", "win_probability": Decimal("0.5")},
                    {"name": "negotiation", "win_probability": Decimal("0.75")},
                ]
            },
            "renewal": {
                "stages": [
                    {"name": "review", "win_probability": Decimal("0.6")},
                    {"name": "quote", "win_probability": Decimal("0.85")},
                ]
            },
        }
    }
)
RATES: Mapping[str, Decimal] = {"USD": Decimal("0.92"), "GBP": Decimal("1.1723")}


def context(
    *,
    now: datetime = NOW,
    tz: tzinfo = UTC_ZONE,
    retention: Mapping[Granularity, int] | None = None,
    rates: Mapping[str, Decimal] = RATES,
) -> MetricContext:
    """A context reporting in EUR with monthly, weekly and daily windows kept for a year."""
    kept = (
        retention
        if retention is not None
        else {Granularity.DAY: 400, Granularity.WEEK: 60, Granularity.MONTH: 14}
    )
    return MetricContext(
        pipelines=PIPELINES,
        reporting_currency="EUR",
        rates=rates,
        now=now,
        timezone=tz,
        retention=kept,
    )


def money(text: str) -> Money:
    amount, currency = text.split()
    return Money(Decimal(amount), currency)


def days(n: float) -> timedelta:
    return timedelta(days=n)


@dataclass
class Deal:
    """Writes one deal's events with ids `<deal>-1`, `<deal>-2`, ... in call order."""

    deal_id: str = "d1"
    tenant: str = "acme"
    written: list[DealEvent] = field(default_factory=list)

    def event(
        self,
        event_type: EventType,
        at: datetime,
        *,
        pipeline: str | None = None,
        stage: str | None = None,
        owner: str | None = None,
        amount: str | None = None,
        reason: str | None = None,
        event_id: str | None = None,
        closes_on: date | str | None = None,
    ) -> DealEvent:
        """`closes_on`: the expected close date, or its ISO text."""
        if isinstance(closes_on, str):
            closes_on = date.fromisoformat(closes_on)
        written = DealEvent(
            event_id=event_id or f"{self.deal_id}-{len(self.written) + 1}",
            type=event_type,
            occurred_at=at,
            deal_id=self.deal_id,
            tenant=self.tenant,
            pipeline=pipeline,
            stage=stage,
            owner=owner,
            amount=None if amount is None else money(amount),
            reason=reason,
            expected_close_date=closes_on,
        )
        self.written.append(written)
        return written

    def created(
        self,
        at: datetime,
        *,
        pipeline: str = "new-business",
        stage: str = "lead",
        owner: str = "ann",
        amount: str = "1000 EUR",
        closes_on: date | str | None = None,
    ) -> DealEvent:
        return self.event(
            EventType.CREATED,
            at,
            pipeline=pipeline,
            stage=stage,
            owner=owner,
            amount=amount,
            closes_on=closes_on,
        )

    def stage(self, at: datetime, stage: str, **fields: str) -> DealEvent:
        return self.event(EventType.STAGE_CHANGED, at, stage=stage, **fields)

    def close_date(self, at: datetime, closes_on: date) -> DealEvent:
        return self.event(EventType.CLOSE_DATE_CHANGED, at, closes_on=closes_on)

    def owner(self, at: datetime, owner: str) -> DealEvent:
        return self.event(EventType.OWNER_CHANGED, at, owner=owner)

    def amount(self, at: datetime, amount: str) -> DealEvent:
        return self.event(EventType.AMOUNT_CHANGED, at, amount=amount)

    def won(self, at: datetime, **fields: str) -> DealEvent:
        return self.event(EventType.WON, at, **fields)

    def lost(self, at: datetime, reason: str = "price", **fields: str) -> DealEvent:
        return self.event(EventType.LOST, at, reason=reason, **fields)

    def reopened(self, at: datetime, **fields: str) -> DealEvent:
        return self.event(EventType.REOPENED, at, **fields)

    def churned(self, at: datetime, reason: str = "budget cut") -> DealEvent:
        return self.event(EventType.CHURNED, at, reason=reason)

    def deleted(self, at: datetime) -> DealEvent:
        return self.event(EventType.DELETED, at)


def key(
    metric: str, window: Window | tuple[str, date] | None = None, /, **label_values: str
) -> ContributionKey:
    """A contribution key; `window` may be given as `("month", date(...))`."""
    if window is not None:
        window = Window(Granularity(window[0]), window[1])
    return ContributionKey(metric, labels(**label_values), window)


def month(year: int, month_number: int) -> Window:
    return Window(Granularity.MONTH, date(year, month_number, 1))


def week(year: int, month_number: int, day: int) -> Window:
    start = date(year, month_number, day)
    assert start.weekday() == 0, "weeks start on Monday"
    return Window(Granularity.WEEK, start)


def day(year: int, month_number: int, day_number: int) -> Window:
    return Window(Granularity.DAY, date(year, month_number, day_number))
