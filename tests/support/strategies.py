"""Random deal histories, contexts and deliveries for the domain's property tests.

`event_sets()` draws the histories of a few deals, plausible and not (reopen,
churn, delete, unknown stages and pipelines, events before created, ids reused
with another payload, simultaneous events, expected close dates set and moved);
`contexts()` a clock, a zone, rates and retention over `PIPELINES`;
`deliveries(events)` the events duplicated and permuted as a broker might
deliver them. `partition_of` splits deals over
partitions by hash, and `kept_by_arrival` gives what a worker keeps when each
event arrives at its own clock (rule R).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from streams.domain.compaction import horizon
from streams.domain.context import MetricContext, is_too_late
from streams.domain.events import DealEvent, EventType
from streams.domain.history import DealHistory
from streams.domain.money import Money
from streams.domain.windows import Granularity
from tests.support.builders import PIPELINES

BASE = datetime(2025, 12, 1, tzinfo=UTC)
SPAN_HOURS = 24 * 240
TENANTS = ("acme", "globex")
PIPELINE_NAMES = ("new-business", "renewal", "side-project")  # the last is not configured
STAGES = ("lead", "qualified", "demo", "proposal", "negotiation", "review", "quote", "limbo", "won")
SELLERS = ("ann", "bob", "cy")
CURRENCIES = ("EUR", "USD", "GBP")
REASONS = ("price", "timing", "budget cut")
ZONES = tuple(
    ZoneInfo(name)
    for name in ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Chatham")
)
# Weighted towards a plausible life: creation and stage moves, then closes and the rest.
TYPES = (
    *[EventType.STAGE_CHANGED] * 8,
    EventType.CREATED,
    *[EventType.AMOUNT_CHANGED] * 2,
    *[EventType.OWNER_CHANGED] * 2,
    *[EventType.WON] * 4,
    *[EventType.LOST] * 2,
    *[EventType.REOPENED] * 2,
    *[EventType.CHURNED] * 3,
    EventType.DELETED,
    *[EventType.CLOSE_DATE_CHANGED] * 2,
)


def maybe(values: Sequence[str]) -> st.SearchStrategy[str | None]:
    return st.none() | st.sampled_from(values)


# Strategies are built once: building them inside a draw loop costs more than drawing.
AMOUNTS = st.integers(0, 10**6).map(Decimal) | st.integers(0, 10**18 - 1).map(
    lambda micros: Decimal(micros).scaleb(-6)
)
MONEY = st.builds(Money, AMOUNTS, st.sampled_from(CURRENCIES))
MAYBE_MONEY = st.none() | MONEY
TENANT, STAGE, SELLER = (st.sampled_from(v) for v in (TENANTS, STAGES, SELLERS))
MAYBE_PIPELINE, MAYBE_STAGE, MAYBE_SELLER, MAYBE_REASON = (
    maybe(v) for v in (PIPELINE_NAMES, STAGES, SELLERS, REASONS)
)
# Steps of 0 h (simultaneous), hours, or weeks; negative ones play the CRM clock's skew.
STEP_HOURS = st.sampled_from((0, 1, 5, 30, 200, 900, -20))
ONE_IN = {n: st.integers(0, n - 1).map(lambda roll: roll == 0) for n in (5, 10, 20, 30)}
TYPE_LISTS = st.lists(st.sampled_from(TYPES), max_size=10)
CLOSE_DATE = st.dates(BASE.date() - timedelta(days=60), BASE.date() + timedelta(days=400))
MAYBE_CLOSE_DATE = st.none() | CLOSE_DATE
START_HOURS = st.integers(0, SPAN_HOURS)


@st.composite
def deal_story(draw: st.DrawFn, deal_id: str) -> list[DealEvent]:
    """One deal's events: a created first (usually), then steps forward in time."""
    tenant = draw(TENANT)
    pipeline = draw(st.sampled_from(PIPELINE_NAMES))
    clock = BASE + timedelta(hours=draw(START_HOURS))
    types = draw(TYPE_LISTS)
    if not draw(ONE_IN[5]):  # four deals in five start with a creation
        types.insert(0, EventType.CREATED)
    events: list[DealEvent] = []
    for index, event_type in enumerate(types):
        clock += timedelta(hours=draw(STEP_HOURS))
        is_created = event_type is EventType.CREATED
        event_id = f"{deal_id}-{index}"
        if draw(ONE_IN[20]) and events:
            event_id = draw(st.sampled_from(events)).event_id  # an upstream bug: id reused
        events.append(
            DealEvent(
                event_id=event_id,
                type=event_type,
                occurred_at=clock,
                deal_id=deal_id,
                tenant=draw(TENANT) if draw(ONE_IN[30]) else tenant,
                pipeline=draw(MAYBE_PIPELINE) if draw(ONE_IN[10]) else pipeline,
                stage=draw(STAGE if is_created else MAYBE_STAGE),
                owner=draw(SELLER if is_created else MAYBE_SELLER),
                amount=draw(MONEY if is_created else MAYBE_MONEY),
                reason=draw(MAYBE_REASON),
                expected_close_date=draw(
                    CLOSE_DATE if event_type is EventType.CLOSE_DATE_CHANGED else MAYBE_CLOSE_DATE
                ),
            )
        )
    return events


@st.composite
def event_sets(draw: st.DrawFn) -> list[DealEvent]:
    deals = draw(st.integers(1, 6))
    return [event for n in range(deals) for event in draw(deal_story(f"deal-{n}"))]


ZONE = st.sampled_from(ZONES)
RATE = st.integers(1, 10**11).map(lambda n: Decimal(n).scaleb(-8))  # 0.00000001 to 1000


@st.composite
def contexts(draw: st.DrawFn) -> MetricContext:
    zone: tzinfo = draw(ZONE)
    retention = {
        granularity: draw(st.integers(1, windows))
        for granularity, windows in (
            (Granularity.DAY, 120),
            (Granularity.WEEK, 30),
            (Granularity.MONTH, 9),
        )
        if draw(st.integers(0, 5))
    }
    return MetricContext(
        pipelines=PIPELINES,
        reporting_currency="EUR",
        rates={"USD": draw(RATE), "GBP": draw(RATE)},
        now=BASE + timedelta(hours=draw(st.integers(0, SPAN_HOURS + 24 * 60))),
        timezone=zone,
        retention=retention,
    )


@st.composite
def deliveries(draw: st.DrawFn, events: Sequence[DealEvent]) -> list[DealEvent]:
    """The events as a broker might deliver them: duplicated, in any order."""
    duplicates = draw(st.lists(st.sampled_from(events), max_size=len(events))) if events else []
    return draw(st.permutations([*events, *duplicates]))


def partition_of(deal_id: str, partitions: int) -> int:
    return zlib.crc32(deal_id.encode()) % partitions


def kept_by_arrival(
    delivery: Iterable[DealEvent], contexts_in_order: Iterable[MetricContext]
) -> list[DealEvent]:
    """The events a worker keeps when each arrives at its own clock (rule R).

    An event is kept unless it is too late when it arrives, or its id is already
    held by an event before the horizon then (the past is final); of two kept
    events sharing an id, the history's canonical choice holds.
    """
    held: dict[tuple[str, str], DealEvent] = {}
    for event, ctx in zip(delivery, contexts_in_order, strict=True):
        if is_too_late(event, ctx):
            continue
        key = (event.deal_id, event.event_id)
        twin = held.get(key)
        if twin is None:
            held[key] = event
            continue
        limit = horizon(ctx)
        if limit is None or twin.occurred_at >= limit:
            held[key] = DealHistory.of(event.deal_id, [twin, event]).events[0]
    return list(held.values())
