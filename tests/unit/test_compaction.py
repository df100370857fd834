"""Compaction: a deal beyond the retention horizon folds like its events, for every later window.

The property: a random deal's history, compacted at a random horizon past its
newest event, then given more events (at or after the horizon, and too late
before it, some reusing old ids), folded through `admit` (rule R), gives the
same contributions as the uncompacted history given the same events, for every
later clock; and the same through the table's JSON form.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streams.domain import metrics
from streams.domain.compaction import (
    Outcome,
    admit,
    compact,
    horizon,
    is_compactable,
    is_compactable_encoded,
)
from streams.domain.context import MetricContext, is_too_late
from streams.domain.contributions import contributions
from streams.domain.events import DealEvent, EventType
from streams.domain.fold import COMPACTED_AT, fold
from streams.domain.history import DealHistory, DealSnapshot
from streams.domain.pipeline_config import parse_pipeline_config
from streams.domain.view import DealStatus
from streams.domain.windows import Granularity
from tests.support.builders import PIPELINES, Deal, context, key, month
from tests.support.strategies import (
    MAYBE_MONEY,
    MAYBE_PIPELINE,
    MAYBE_REASON,
    MAYBE_SELLER,
    MAYBE_STAGE,
    TENANT,
    TYPES,
    contexts,
    deal_story,
)

DEAL = "deal-0"
WINDOW_DAYS = {Granularity.DAY: 1, Granularity.WEEK: 7, Granularity.MONTH: 31}


def passed(history: DealHistory, ctx: MetricContext, extra_hours: int) -> MetricContext:
    """`ctx` with its clock late enough that `history`'s newest event is before the horizon."""
    newest = history.newest
    assert newest is not None
    span = max(WINDOW_DAYS[g] * (windows + 1) for g, windows in ctx.retention.items())
    later = ctx.with_now(max(ctx.now, newest + timedelta(days=span + 1, hours=extra_hours)))
    limit = horizon(later)
    assert limit is not None
    assert newest < limit
    return later


@st.composite
def later_events(
    draw: st.DrawFn, old: list[DealEvent], around: datetime, tag: str
) -> list[DealEvent]:
    """Events of the deal around instant `around`: some before it, some reusing old ids."""
    events = []
    for index, event_type in enumerate(draw(st.lists(st.sampled_from(TYPES), max_size=8))):
        event_id = f"{DEAL}-{tag}{index}"
        if old and draw(st.integers(0, 5)) == 0:
            event_id = draw(st.sampled_from(old)).event_id  # an id reused upstream
        events.append(
            DealEvent(
                event_id=event_id,
                type=event_type,
                occurred_at=around + timedelta(hours=draw(st.integers(-24 * 60, 24 * 200))),
                deal_id=DEAL,
                tenant=draw(TENANT),
                pipeline=draw(MAYBE_PIPELINE),
                stage=draw(MAYBE_STAGE),
                owner=draw(MAYBE_SELLER),
                amount=draw(MAYBE_MONEY),
                reason=draw(MAYBE_REASON),
            )
        )
    return events


def is_tombstone(history: DealHistory) -> bool:
    return history.base is not None and history.base.status is DealStatus.DELETED


def through_json(history: DealHistory) -> DealHistory:
    return DealHistory.from_dict(json.loads(json.dumps(history.to_dict())))


def admitted(history: DealHistory, events: list[DealEvent], ctx: MetricContext) -> DealHistory:
    for event in events:
        history = admit(history, event, ctx).history
    return history


@settings(max_examples=200)
@given(story=deal_story(DEAL), ctx=contexts(), data=st.data())
def test_a_compacted_deal_gives_the_contributions_of_its_events_ever_after(
    story: list[DealEvent], ctx: MetricContext, data: st.DataObject
) -> None:
    assume(ctx.retention)
    full = admitted(DealHistory.empty(DEAL), story, ctx)
    assume(full.events)
    at_compaction = passed(full, ctx, data.draw(st.integers(0, 24 * 400)))
    compacted = compact(full, at_compaction)
    assert compacted is not full
    assert compacted.events == ()
    assert compacted.newest == full.newest
    if data.draw(st.booleans()):
        compacted = through_json(compacted)
    assert contributions(fold(compacted), at_compaction) == contributions(fold(full), at_compaction)
    clock = at_compaction
    for round_number in range(data.draw(st.integers(1, 3))):  # more events, compacted again
        limit = horizon(clock)
        assert limit is not None
        for event in data.draw(later_events(story, limit, f"r{round_number}-")):
            clock = clock.with_now(clock.now + timedelta(hours=data.draw(st.integers(0, 24 * 9))))
            on_full, on_compacted = admit(full, event, clock), admit(compacted, event, clock)
            if not is_tombstone(compacted):  # it forgot the ids: it folds a twin it cannot tell
                assert on_compacted.outcome is on_full.outcome
            full, compacted = on_full.history, on_compacted.history
            if data.draw(st.integers(0, 3)) == 0:
                compacted = through_json(compacted)
            assert contributions(fold(compacted), clock) == contributions(fold(full), clock)
        if full.newest is not None and data.draw(st.booleans()):
            clock = passed(full, clock, data.draw(st.integers(0, 24 * 100)))
            compacted = compact(compacted, clock)
            assert not is_compactable(compacted, clock)
    assert contributions(fold(compacted), clock) == contributions(fold(full), clock)


@settings(max_examples=100)
@given(story=deal_story(DEAL), ctx=contexts(), data=st.data())
def test_a_compacted_history_round_trips_through_json(
    story: list[DealEvent], ctx: MetricContext, data: st.DataObject
) -> None:
    assume(ctx.retention)
    history = DealHistory.of(DEAL, story)
    assume(history.events)
    later = passed(history, ctx, data.draw(st.integers(0, 24 * 100)))
    compacted = compact(history, later)
    limit = horizon(later)
    assert limit is not None
    tail = data.draw(later_events(story, limit + timedelta(days=61), "t"))
    compacted = admitted(compacted, tail, later)
    encoded = json.dumps(compacted.to_dict())
    restored = DealHistory.from_dict(json.loads(encoded))
    assert restored == compacted
    assert json.dumps(restored.to_dict()) == encoded
    assert fold(restored) == fold(compacted)
    assert restored.event_ids == compacted.event_ids
    assert is_compactable_encoded(json.loads(encoded), later) == is_compactable(compacted, later)


@settings(max_examples=100)
@given(story=deal_story(DEAL), ctx=contexts())
def test_too_late_means_before_the_horizon(story: list[DealEvent], ctx: MetricContext) -> None:
    limit = horizon(ctx)
    for event in story:
        assert is_too_late(event, ctx) == (limit is not None and event.occurred_at < limit)


# --- by example -----------------------------------------------------------------------

MONTHS = {Granularity.MONTH: 2}
JUNE = context(now=datetime(2026, 6, 15, tzinfo=UTC), retention=MONTHS)  # horizon: May 1st
NEXT_JUNE = JUNE.with_now(datetime(2027, 6, 15, tzinfo=UTC))  # horizon: May 1st, 2027
SELLER = {"tenant": "acme", "pipeline": "new-business", "seller": "ann"}


def at(month_number: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month_number, day, tzinfo=UTC)


def won_in_may() -> Deal:
    deal = Deal()
    deal.created(at(5, 2), amount="1000 EUR")
    deal.stage(at(5, 3), "demo")
    deal.won(at(5, 20))
    return deal


def test_horizon_is_the_start_of_the_oldest_retained_window() -> None:
    assert horizon(JUNE) == at(5, 1)
    both = context(now=at(6, 15), retention={Granularity.MONTH: 2, Granularity.DAY: 7})
    assert horizon(both) == at(5, 1)
    assert horizon(context(retention={})) is None


def test_a_won_deal_keeps_its_win_and_churns_with_its_seller_and_amount() -> None:
    deal = won_in_may()
    history = DealHistory.of("d1", deal.written)
    assert not is_compactable(history, JUNE)
    assert compact(history, JUNE) is history
    compacted = compact(history, NEXT_JUNE)
    assert compacted.events == ()
    assert compacted.base is not None
    assert compacted.base.event_ids == {"d1-1", "d1-2", "d1-3"}
    assert compacted.base.status is DealStatus.WON
    assert fold(compacted).win == fold(history).win
    deal.owner(at(5, 10, 2027), "bob")
    churn = deal.churned(at(5, 20, 2027))
    found = contributions(fold(admit(compacted, churn, NEXT_JUNE).history), NEXT_JUNE)
    churned = {**SELLER, "reason": "budget cut"}
    assert found[key(metrics.CHURNED_REVENUE.name, month(2027, 5), **churned)] == 1000
    assert found == contributions(fold(DealHistory.of("d1", deal.written)), NEXT_JUNE)


def test_a_reopen_after_compaction_retracts_the_carried_active_deal() -> None:
    deal = won_in_may()
    compacted = compact(DealHistory.of("d1", deal.written), NEXT_JUNE)
    active = key(metrics.DEALS_ACTIVE_CHANGE, month(2027, 5), **SELLER)
    assert contributions(fold(compacted), NEXT_JUNE)[active] == 1
    reopened = admit(compacted, deal.reopened(at(6, 1, 2027)), NEXT_JUNE).history
    found = contributions(fold(reopened), NEXT_JUNE)
    assert active not in found
    open_in_demo = key(
        metrics.OPEN_DEALS.name, None, tenant="acme", pipeline="new-business", stage="demo"
    )
    assert found[open_in_demo] == 1  # back in the stage it was won from
    assert found == contributions(fold(DealHistory.of("d1", deal.written)), NEXT_JUNE)


def test_a_stage_entered_before_the_horizon_is_not_entered_again() -> None:
    deal = Deal()
    deal.created(at(5, 2))  # lead
    deal.stage(at(5, 3), "demo")
    deal.stage(at(5, 4), "qualified")  # back: not an advance with the configured order
    compacted = compact(DealHistory.of("d1", deal.written), NEXT_JUNE)
    assert compacted.base is not None
    assert compacted.base.entered_at == at(5, 4)  # the visit in progress is kept
    deal.stage(at(6, 1, 2027), "demo")
    deal.stage(at(6, 2, 2027), "proposal")
    full = DealHistory.of("d1", deal.written)
    resumed = admitted(compacted, deal.written[3:], NEXT_JUNE)
    found = contributions(fold(resumed), NEXT_JUNE)
    assert found == contributions(fold(full), NEXT_JUNE)
    june = month(2027, 6)
    stages = {"tenant": "acme", "pipeline": "new-business"}
    assert key(metrics.STAGE_ENTERED.name, june, **stages, stage="demo") not in found  # in May 2026
    assert found[key(metrics.STAGE_ENTERED.name, june, **stages, stage="proposal")] == 1
    assert found[key(metrics.STAGE_ADVANCED.name, june, **stages, stage="qualified")] == 1
    assert found[key(metrics.STAGE_ADVANCED.name, june, **stages, stage="demo")] == 1  # the first
    assert found[key(metrics.TIME_IN_STAGE.count, june, **stages, stage="qualified")] == 1


def test_advances_before_the_horizon_are_judged_by_the_configuration_in_force() -> None:
    deal = Deal()
    deal.created(at(5, 2))  # lead
    deal.stage(at(5, 3), "demo")
    deal.stage(at(5, 4), "qualified")
    deal.stage(at(6, 1, 2027), "demo")
    deal.stage(at(6, 2, 2027), "proposal")
    full = DealHistory.of("d1", deal.written)
    resumed = admitted(
        compact(DealHistory.of("d1", deal.written[:3]), NEXT_JUNE), deal.written[3:], NEXT_JUNE
    )
    order = ("lead", "demo", "qualified", "proposal")  # now demo -> qualified is an advance
    stages = [{"name": name, "win_probability": Decimal("0.5")} for name in order]
    reordered = parse_pipeline_config({"pipelines": {"new-business": {"stages": stages}}})
    for pipelines in (PIPELINES, reordered):
        ctx = MetricContext(
            pipelines=pipelines,
            reporting_currency="EUR",
            rates={},
            now=NEXT_JUNE.now,
            retention=MONTHS,
        )
        assert contributions(fold(resumed), ctx) == contributions(fold(full), ctx)
    demo_advanced = key(
        metrics.STAGE_ADVANCED.name,
        month(2027, 6),
        tenant="acme",
        pipeline="new-business",
        stage="demo",
    )
    assert demo_advanced in contributions(fold(resumed), NEXT_JUNE)
    assert demo_advanced not in contributions(
        fold(resumed), MetricContext(reordered, "EUR", {}, NEXT_JUNE.now, retention=MONTHS)
    )


def test_collapsed_visits_are_out_of_every_window_even_with_a_longer_retention() -> None:
    compacted = compact(DealHistory.of("d1", won_in_may().written), NEXT_JUNE)
    view = fold(compacted)
    assert {visit.entered_at for visit in view.visits} == {COMPACTED_AT}
    longer = MetricContext(PIPELINES, "EUR", {}, NEXT_JUNE.now, retention={Granularity.MONTH: 60})
    windows = {k.window for k in contributions(view, longer) if k.window is not None}
    assert all(window.start.year >= 2026 for window in windows)


def test_a_deleted_deal_shrinks_to_a_tombstone_at_once() -> None:
    deal = won_in_may()
    deal.deleted(at(6, 1))
    history = DealHistory.of("d1", deal.written)
    assert is_compactable(history, JUNE)  # in retention, but deletion is final
    tombstone = compact(history, JUNE)
    assert tombstone.to_dict() == {
        "v": 2,
        "deal": "d1",
        "events": [],
        "b": {"t": "2026-06-01T00:00:00Z", "z": "deleted", "n": "acme"},
    }
    after = admitted(tombstone, [deal.reopened(at(6, 2)), deal.won(at(6, 3))], JUNE)
    assert contributions(fold(after), JUNE) == {}
    assert compact(after, JUNE) == DealHistory.compacted(
        "d1", DealSnapshot.tombstone(at(6, 3), "acme")
    )


def test_a_deletion_is_kept_over_a_twin_sharing_its_id() -> None:
    deal = won_in_may()
    deletion = deal.event(EventType.DELETED, at(6, 1), event_id="x")
    twin = deal.event(EventType.AMOUNT_CHANGED, at(6, 1), amount="1 EUR", event_id="x")
    for order in ([deletion, twin], [twin, deletion]):
        history = DealHistory.of("d1", [*deal.written[:3], *order])
        assert fold(history).status is DealStatus.DELETED


def test_rule_r_a_too_late_event_changes_nothing() -> None:
    history = DealHistory.of("d1", won_in_may().written)
    late = Deal().event(EventType.LOST, at(4, 30), event_id="late")
    assert admit(history, late, JUNE).outcome is Outcome.TOO_LATE
    assert admit(history, late, JUNE).history is history
    in_time = Deal().event(EventType.LOST, at(5, 1), event_id="in-time")
    assert admit(history, in_time, JUNE).outcome is Outcome.FOLDED


def test_rule_r_the_past_is_final_even_for_an_event_reusing_its_id() -> None:
    deal = won_in_may()
    history = DealHistory.of("d1", deal.written)
    twin = deal.event(EventType.LOST, at(5, 10, 2027), event_id="d1-3", reason="price")
    replaces = DealHistory.of("d1", [*deal.written, twin])
    assert replaces != history  # in time, the twin would replace the win ...
    on_full = admit(history, twin, NEXT_JUNE)
    assert on_full.outcome is Outcome.DUPLICATE  # ... but the win is before the horizon
    on_compacted = admit(compact(history, NEXT_JUNE), twin, NEXT_JUNE)
    assert on_compacted.outcome is Outcome.DUPLICATE


def test_an_event_not_after_a_compacted_past_is_too_late_for_it() -> None:
    compacted = compact(DealHistory.of("d1", won_in_may().written), NEXT_JUNE)
    longer = MetricContext(PIPELINES, "EUR", {}, NEXT_JUNE.now, retention={Granularity.MONTH: 60})
    before = Deal().event(EventType.LOST, at(5, 10), event_id="before")
    after = Deal().event(EventType.LOST, at(5, 21), event_id="after")
    assert not is_too_late(before, longer)  # the retention was lengthened
    assert admit(compacted, before, longer).outcome is Outcome.TOO_LATE
    assert admit(compacted, after, longer).outcome is Outcome.FOLDED


def test_version_1_is_still_read_and_written_without_a_snapshot() -> None:
    stored = {
        "v": 1,
        "deal": "d1",
        "events": [{"i": "d1-1", "y": "created", "t": "2026-05-02T00:00:00Z", "n": "acme"}],
    }
    history = DealHistory.from_dict(stored)
    assert history.base is None
    assert history.to_dict() == stored


@pytest.mark.parametrize("version", [0, 3, None])
def test_an_unknown_version_is_refused(version: int | None) -> None:
    with pytest.raises(ValueError, match="format"):
        DealHistory.from_dict({"v": version, "deal": "d1", "events": []})


def test_a_churned_deal_whose_fields_moved_on_after_the_win_round_trips() -> None:
    deal = won_in_may()
    deal.owner(at(5, 21), "bob")
    deal.amount(at(5, 22), "2000.50 USD")
    deal.stage(at(5, 23), "proposal")  # while won: where a reopen goes
    deal.churned(at(5, 25))
    full = DealHistory.of("d1", deal.written)
    compacted = compact(full, NEXT_JUNE)
    restored = through_json(compacted)
    assert restored == compacted
    view, expected = fold(restored), fold(full)
    assert (view.win, view.churn, view.owner, view.amount) == (
        expected.win,
        expected.churn,
        expected.owner,
        expected.amount,
    )
    assert view.churn is not None
    assert view.churn.seller == "ann"
    encoded = compacted.to_dict()["b"]
    assert encoded["w"] == {"t": "2026-05-20T00:00:00Z", "o": "ann", "m": ["1000", "EUR"]}
    assert encoded["x"] == {"r": "budget cut"}  # like its win, at the newest instant


def test_an_event_whose_id_was_compacted_adds_nothing() -> None:
    deal = won_in_may()
    compacted = compact(DealHistory.of("d1", deal.written), NEXT_JUNE)
    twin = deal.event(EventType.LOST, at(6, 1, 2027), event_id="d1-2")
    assert "d1-2" in compacted
    assert compacted.add(twin) is compacted
    assert compacted.event(twin.event_id) is None  # not among the events after the snapshot
