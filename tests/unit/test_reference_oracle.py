"""The independent reference (`tests/support/reference.py`) against `compute`, exactly.

Two computations written apart must give the same `Decimal`s for the same keys:
on random histories at random contexts (the strategies of
`tests/support/strategies.py`, which the domain's property tests draw from too),
and on the simulator's and the adversarial workloads after ingest.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain import metrics
from streams.domain.context import MetricContext, is_too_late
from streams.domain.contributions import ContributionKey
from streams.domain.deal_record import encode_event
from streams.domain.events import DealEvent, EventType
from streams.domain.replay import compute
from streams.domain.windows import Granularity
from streams.exposition import catalogue as cat
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage
from streams.metric_context import build_context
from streams.settings import Settings
from streams.simulator import OutboundMessage
from tests.support.adversarial import adversarial
from tests.support.reference import canonical, reference
from tests.support.strategies import MAYBE_MONEY, TENANTS, ZONES, contexts, event_sets
from tests.support.workload import CLOCK, simulated


def differences(
    actual: dict[ContributionKey, Decimal], expected: dict[ContributionKey, Decimal]
) -> str:
    keys = sorted(set(actual) | set(expected), key=repr)
    lines = [
        f"{key}: reference {actual.get(key)} != compute {expected.get(key)}"
        for key in keys
        if actual.get(key) != expected.get(key)
    ]
    return "\n".join(lines[:20] + ([f"... {len(lines) - 20} more"] if len(lines) > 20 else []))


def assert_same(events: Sequence[DealEvent], ctx: MetricContext) -> dict[ContributionKey, Decimal]:
    actual, expected = reference(events, ctx), compute(events, ctx)
    assert actual == expected, differences(actual, expected)
    return actual


@settings(max_examples=300)
@given(events=event_sets(), ctx=contexts(), data=st.data())
def test_the_reference_equals_compute_on_random_histories(
    events: list[DealEvent], ctx: MetricContext, data: st.DataObject
) -> None:
    assert_same(events, ctx)
    duplicates = (
        data.draw(st.lists(st.sampled_from(events), max_size=len(events))) if events else []
    )
    delivery = data.draw(st.permutations([*events, *duplicates]))
    assert reference(delivery, ctx) == compute(events, ctx)  # the set of distinct events only


TEXT = st.text(max_size=6)
ANY_EVENTS = st.builds(
    DealEvent,
    event_id=st.text(min_size=1, max_size=6),
    type=st.sampled_from(EventType),
    occurred_at=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 -- hypothesis takes naive bounds
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.sampled_from((UTC, *ZONES)),
    ),
    deal_id=st.just("deal"),
    tenant=st.sampled_from(("default", *TENANTS)) | TEXT,
    pipeline=st.none() | TEXT,
    stage=st.none() | TEXT,
    owner=st.none() | TEXT,
    amount=MAYBE_MONEY,
    reason=st.none() | TEXT,
    source=st.none() | TEXT,
    schema_version=st.sampled_from((1, 2)),
)


@given(event=ANY_EVENTS)
def test_the_re_derived_canonical_encoding_is_the_histories_one(event: DealEvent) -> None:
    """Of two events sharing an id, both pick the one whose encoding sorts first."""
    assert canonical(event) == json.dumps(
        encode_event(event), sort_keys=True, separators=(",", ":")
    )


def ingested(messages: Sequence[OutboundMessage], settings: Settings) -> list[DealEvent]:
    """The events ingest accepts, as `bench/fold_rate.py` ingests them."""
    ingestor = Ingestor(settings, lambda: CLOCK)
    outcomes = [ingestor.ingest(RawMessage(m.key, m.value, m.headers)) for m in messages]
    return [outcome for outcome in outcomes if isinstance(outcome, DealEvent)]


def shorter(ctx: MetricContext, now: datetime) -> MetricContext:
    """`ctx` at `now`, keeping 60 days and 10 weeks only: events of 11 weeks ago are too late."""
    retention = {Granularity.DAY: 60, Granularity.WEEK: 10}
    return dataclasses.replace(ctx, now=now, retention=retention)


def test_the_reference_equals_compute_on_the_simulated_workload() -> None:
    settings = Settings(clock=CLOCK)
    events = ingested(simulated(5_000, seed=31), settings)
    assert len(events) > 4_000
    ctx = build_context(settings, CLOCK)
    result = assert_same(events, ctx)
    derived_at_export = (
        metrics.DEALS_ACTIVE_AT_WINDOW_START,
        metrics.PERIOD_WON_REVENUE,
        metrics.FORECAST_REVENUE,
        metrics.FORECAST_REVENUE_UNWEIGHTED,
        metrics.SLIPPED_DEALS,
        metrics.SLIPPED_VALUE,
    )
    exported = {metrics.DEALS_ACTIVE_CHANGE, *metrics.CLOSING_METRICS} | {
        metric.in_bucket if metric.histogram else metric.name
        for metric in (spec.metric for spec in cat.ALL_METRICS)
        if metric not in (*derived_at_export, metrics.DEAL_ANOMALIES)
    }
    # Every metric but the anomalies (the simulator's stories are plausible): not a match
    # of two empty results.
    assert {key.metric for key in result} >= exported
    later = shorter(ctx, CLOCK + timedelta(days=20))
    assert any(is_too_late(event, later) for event in events)  # rule R at work
    assert_same(events, later)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_reference_equals_compute_on_adversarial_histories(seed: int) -> None:
    settings = Settings(clock=CLOCK)
    messages = adversarial(300, seed, start=CLOCK - timedelta(days=150), span=timedelta(days=140))
    events = ingested(messages, settings)
    ctx = build_context(settings, CLOCK)
    anomalies = assert_same(events, ctx)
    assert any(key.metric == metrics.DEAL_ANOMALIES.name for key in anomalies)
    for days_later in (0, 30, 120):
        later = shorter(ctx, CLOCK + timedelta(days=days_later))
        assert any(is_too_late(event, later) for event in events)
        assert_same(events, later)
