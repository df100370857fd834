"""Each metric's definition on small hand-written histories (docs/metrics.md, by example)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from streams.domain import metrics
from streams.domain.context import MetricContext, is_too_late
from streams.domain.contributions import ContributionKey, contributions, seconds
from streams.domain.errors import UnknownCurrencyError
from streams.domain.fold import fold
from streams.domain.history import DealHistory
from streams.domain.replay import aggregate, compute
from streams.domain.windows import Granularity, Window
from tests.support.builders import (
    MONDAY,
    Deal,
    context,
    days,
    key,
    month,
    week,
)
from tests.support.reference import reference

NB = "new-business"
MONTHLY = context(retention={Granularity.MONTH: 14})
WEEKLY = context(retention={Granularity.WEEK: 60})
MARCH, APRIL, MAY = month(2026, 3), month(2026, 4), month(2026, 5)
T = [MONDAY + days(n) for n in range(400)]  # T[0] is Monday 2026-03-02 09:00 UTC


def contributed(*deals: Deal, ctx: MetricContext = MONTHLY) -> dict[ContributionKey, Decimal]:
    return compute([event for deal in deals for event in deal.written], ctx)


def of(found: dict[ContributionKey, Decimal], *names: str) -> dict[ContributionKey, Decimal]:
    return {k: v for k, v in found.items() if k.metric in names}


def seller(name: str, pipeline: str = NB) -> dict[str, str]:
    return {"tenant": "acme", "pipeline": pipeline, "seller": name}


def test_a_win_is_credited_to_the_owner_at_the_win_in_its_window() -> None:
    deal = Deal()
    deal.created(T[0], owner="ann", amount="1000 USD")
    deal.owner(T[10], "bob")
    deal.won(T[40])  # 2026-04-11
    deal.owner(T[41], "cy")
    found = contributed(deal)
    assert of(
        found, metrics.WON_REVENUE.name, metrics.DEALS_WON.name, metrics.DEALS_CLOSED.name
    ) == {
        key(metrics.WON_REVENUE.name, APRIL, **seller("bob")): Decimal("920"),
        key(metrics.DEALS_WON.name, APRIL, **seller("bob")): 1,
        key(metrics.DEALS_CLOSED.name, APRIL, **seller("bob")): 1,
    }
    assert of(
        found, metrics.TICKET_SIZE.in_bucket, metrics.TICKET_SIZE.sum, metrics.TICKET_SIZE.count
    ) == {
        key(metrics.TICKET_SIZE.in_bucket, APRIL, le="1000", **seller("bob")): 1,
        key(metrics.TICKET_SIZE.sum, APRIL, **seller("bob")): Decimal("920"),
        key(metrics.TICKET_SIZE.count, APRIL, **seller("bob")): 1,
    }
    cycle = of(
        found, metrics.SALES_CYCLE.in_bucket, metrics.SALES_CYCLE.sum, metrics.SALES_CYCLE.count
    )
    assert cycle == {
        key(metrics.SALES_CYCLE.in_bucket, APRIL, le="5184000", **seller("bob")): 1,  # 40 d <= 60 d
        key(metrics.SALES_CYCLE.sum, APRIL, **seller("bob")): Decimal(40 * 86400),
        key(metrics.SALES_CYCLE.count, APRIL, **seller("bob")): 1,
    }


def test_the_won_events_amount_is_converted_and_rounded_once() -> None:
    deal = Deal()
    deal.created(T[0], amount="1 EUR")
    deal.won(T[1], amount="0.333333 GBP")  # x 1.1723 = 0.3907662759 -> 0.390766
    revenue = of(contributed(deal), metrics.WON_REVENUE.name)
    assert revenue == {key(metrics.WON_REVENUE.name, MARCH, **seller("ann")): Decimal("0.390766")}


def test_reopening_retracts_the_win_and_winning_again_credits_the_new_one() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.won(T[5])
    deal.reopened(T[20])
    won = (metrics.WON_REVENUE.name, metrics.DEALS_WON.name, metrics.DEALS_CLOSED.name)
    assert of(contributed(deal), *won) == {}
    deal.owner(T[30], "bob")
    deal.won(T[60], amount="2000 EUR")  # 2026-05-01
    assert of(contributed(deal), *won) == {
        key(metrics.WON_REVENUE.name, MAY, **seller("bob")): 2000,
        key(metrics.DEALS_WON.name, MAY, **seller("bob")): 1,
        key(metrics.DEALS_CLOSED.name, MAY, **seller("bob")): 1,
    }


def test_a_deleted_deal_contributes_nothing() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.stage(T[1], "demo")
    deal.won(T[2])
    deal.churned(T[50])
    assert contributed(deal)
    deal.deleted(T[60])
    assert contributed(deal) == {}


def test_churn_is_credited_to_the_seller_and_amount_of_the_win() -> None:
    deal = Deal()
    deal.created(T[0], owner="ann", amount="5000 EUR")
    deal.won(T[3])
    deal.owner(T[4], "account-manager")
    deal.amount(T[5], "10 EUR")
    deal.churned(T[61], reason="switched to competitor")  # 2026-05-02
    churn = {"reason": "switched to competitor", **seller("ann")}
    assert of(contributed(deal), metrics.DEALS_CHURNED.name, metrics.CHURNED_REVENUE.name) == {
        key(metrics.DEALS_CHURNED.name, MAY, **churn): 1,
        key(metrics.CHURNED_REVENUE.name, MAY, **churn): 5000,
    }
    # The win still stands in its own window.
    assert of(contributed(deal), metrics.WON_REVENUE.name) == {
        key(metrics.WON_REVENUE.name, MARCH, **seller("ann")): 5000
    }
    # Active from the first month starting after the win to the first after the churn.
    assert of(contributed(deal), metrics.DEALS_ACTIVE_CHANGE) == {
        key(metrics.DEALS_ACTIVE_CHANGE, APRIL, **seller("ann")): 1,
        key(metrics.DEALS_ACTIVE_CHANGE, month(2026, 6), **seller("ann")): -1,
    }


def test_churn_of_a_deal_not_won_counts_nowhere_but_is_reported() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.churned(T[3])
    found = contributed(deal)
    assert of(found, metrics.DEALS_CHURNED.name, metrics.CHURNED_REVENUE.name) == {}
    assert found[key(metrics.DEAL_ANOMALIES.name, tenant="acme", anomaly="churn_without_win")] == 1


def test_losses_count_per_reason_and_in_the_win_rate_denominator() -> None:
    lost = Deal("d1")
    lost.created(T[0], owner="ann")
    lost.lost(T[2], reason="no budget")
    won = Deal("d2")
    won.created(T[0], owner="ann")
    won.won(T[4])
    found = contributed(lost, won)
    assert of(found, metrics.DEALS_LOST.name) == {
        key(metrics.DEALS_LOST.name, MARCH, tenant="acme", pipeline=NB, reason="no budget"): 1
    }
    assert of(found, metrics.DEALS_WON.name, metrics.DEALS_CLOSED.name) == {
        key(metrics.DEALS_WON.name, MARCH, **seller("ann")): 1,
        key(metrics.DEALS_CLOSED.name, MARCH, **seller("ann")): 2,
    }


def test_per_stage_conversion_counts_each_deal_once_per_stage() -> None:
    deal = Deal()
    deal.created(T[0], stage="lead")
    deal.stage(T[1], "qualified")  # lead advanced
    deal.stage(T[2], "lead")  # back: not an advance
    deal.stage(T[3], "qualified")  # lead advanced again: counted once
    deal.stage(T[4], "proposal")  # qualified advanced, skipping demo
    deal.lost(T[5])
    deal.reopened(T[6])  # re-enters proposal: not a new entry
    deal.won(T[40])  # proposal advanced to won, in April
    found = contributed(deal)
    stage = {"tenant": "acme", "pipeline": NB}
    assert of(found, metrics.STAGE_ENTERED.name) == {
        key(metrics.STAGE_ENTERED.name, MARCH, stage=name, **stage): 1
        for name in ("lead", "qualified", "proposal")
    }
    assert of(found, metrics.STAGE_ADVANCED.name) == {
        key(metrics.STAGE_ADVANCED.name, MARCH, stage="lead", **stage): 1,
        key(metrics.STAGE_ADVANCED.name, MARCH, stage="qualified", **stage): 1,
        key(metrics.STAGE_ADVANCED.name, APRIL, stage="proposal", **stage): 1,
    }
    moves = {
        (k.labels[0][1], k.labels[3][1]): v
        for k, v in of(found, metrics.STAGE_TRANSITIONS.name).items()
    }
    assert moves == {
        ("lead", "qualified"): 2,
        ("qualified", "lead"): 1,
        ("qualified", "proposal"): 1,
        ("proposal", "lost"): 1,
        ("lost", "proposal"): 1,
        ("proposal", "won"): 1,
    }


def test_an_unknown_stage_is_counted_under_its_name_and_reported() -> None:
    deal = Deal()
    deal.created(T[0], stage="lead")
    deal.stage(T[1], "legal review")
    deal.stage(T[2], "negotiation")
    found = contributed(deal)
    stage = {"tenant": "acme", "pipeline": NB}
    assert found[key(metrics.STAGE_ENTERED.name, MARCH, stage="legal review", **stage)] == 1
    # Order unknown: neither into nor out of it is an advance.
    assert key(metrics.STAGE_ADVANCED.name, MARCH, stage="lead", **stage) not in found
    assert key(metrics.STAGE_ADVANCED.name, MARCH, stage="legal review", **stage) not in found
    assert found[key(metrics.DEAL_ANOMALIES.name, tenant="acme", anomaly="unknown_stage")] == 1


def test_time_in_stage_is_recorded_when_the_stage_is_left() -> None:
    deal = Deal()
    deal.created(T[0], stage="lead")
    deal.stage(T[0] + days(0.125), "demo")  # 3 hours in lead
    deal.stage(T[35], "proposal")  # 35 days less 3 hours in demo, left in April
    found = contributed(deal)
    stage = {"tenant": "acme", "pipeline": NB}
    spec = metrics.TIME_IN_STAGE
    demo_seconds = seconds(T[35] - (T[0] + days(0.125)))
    assert of(found, spec.in_bucket, spec.sum, spec.count) == {
        key(spec.in_bucket, MARCH, le="14400", stage="lead", **stage): 1,
        key(spec.sum, MARCH, stage="lead", **stage): 3 * 3600,
        key(spec.count, MARCH, stage="lead", **stage): 1,
        key(spec.in_bucket, APRIL, le="5184000", stage="demo", **stage): 1,
        key(spec.sum, APRIL, stage="demo", **stage): demo_seconds,
        key(spec.count, APRIL, stage="demo", **stage): 1,
    }


def test_open_pipeline_is_value_count_and_weighted_value_now() -> None:
    proposal = Deal("d1")
    proposal.created(T[0], amount="1000 USD")
    proposal.stage(T[1], "proposal")
    odd = Deal("d2")
    odd.created(T[0], stage="parked", amount="300 EUR")
    won = Deal("d3")
    won.created(T[0])
    won.won(T[1])
    found = contributed(proposal, odd, won)
    here = {"tenant": "acme", "pipeline": NB}
    assert of(
        found,
        metrics.OPEN_DEALS.name,
        metrics.OPEN_PIPELINE_VALUE.name,
        metrics.OPEN_PIPELINE_WEIGHTED_VALUE.name,
    ) == {
        key(metrics.OPEN_DEALS.name, stage="proposal", **here): 1,
        key(metrics.OPEN_PIPELINE_VALUE.name, stage="proposal", **here): 920,
        key(metrics.OPEN_PIPELINE_WEIGHTED_VALUE.name, stage="proposal", **here): 460,
        key(metrics.OPEN_DEALS.name, stage="parked", **here): 1,
        key(metrics.OPEN_PIPELINE_VALUE.name, stage="parked", **here): 300,
    }


def test_iso_weeks_split_sunday_night_from_monday_morning() -> None:
    sunday = Deal("d1")
    sunday.created(T[0])
    sunday.won(datetime(2026, 3, 15, 23, 59, 59, tzinfo=UTC))
    monday = Deal("d2")
    monday.created(T[0])
    monday.won(datetime(2026, 3, 16, 0, 0, tzinfo=UTC))
    assert of(contributed(sunday, monday, ctx=WEEKLY), metrics.DEALS_WON.name) == {
        key(metrics.DEALS_WON.name, week(2026, 3, 9), **seller("ann")): 1,
        key(metrics.DEALS_WON.name, week(2026, 3, 16), **seller("ann")): 1,
    }


def test_windows_follow_the_configured_timezone_across_dst() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.won(datetime(2026, 3, 31, 22, 30, tzinfo=UTC))  # 00:30 April 1st in Paris (UTC+2)
    paris = context(tz=ZoneInfo("Europe/Paris"), retention={Granularity.MONTH: 14})
    assert of(contributed(deal, ctx=paris), metrics.DEALS_WON.name) == {
        key(metrics.DEALS_WON.name, APRIL, **seller("ann")): 1
    }
    assert of(contributed(deal), metrics.DEALS_WON.name) == {
        key(metrics.DEALS_WON.name, MARCH, **seller("ann")): 1
    }


def test_windows_out_of_retention_are_dropped_but_active_changes_carry() -> None:
    deal = Deal()
    deal.created(T[0])  # March
    deal.stage(T[31], "demo")  # April 2nd
    deal.won(T[61])  # May 2nd
    folded = [DealHistory.of("d1", deal.written)]  # folded while in time, then the clock moved
    in_june = context(now=datetime(2026, 6, 15, tzinfo=UTC), retention={Granularity.MONTH: 2})
    found = aggregate(folded, in_june)
    assert {k.window for k in found if k.window} == {MAY, month(2026, 6)}
    assert of(found, metrics.DEALS_WON.name) == {
        key(metrics.DEALS_WON.name, MAY, **seller("ann")): 1
    }
    assert of(found, metrics.STAGE_ENTERED.name) == {}  # lead in March, demo in April: too late
    assert of(found, metrics.DEALS_ACTIVE_CHANGE) == {
        key(metrics.DEALS_ACTIVE_CHANGE, month(2026, 6), **seller("ann")): 1
    }
    in_august = in_june.with_now(datetime(2026, 8, 1, tzinfo=UTC))
    assert of(aggregate(folded, in_august), metrics.DEALS_ACTIVE_CHANGE) == {
        key(metrics.DEALS_ACTIVE_CHANGE, month(2026, 7), **seller("ann")): 1
    }


def test_the_batch_drops_events_too_late_for_its_clock() -> None:
    deal = Deal()
    deal.created(T[0], owner="ann")  # March: too late in June with two months kept
    deal.stage(T[31], "demo")  # April 2nd: too late too
    deal.won(T[61], owner="bob")  # May 2nd
    in_june = context(now=datetime(2026, 6, 15, tzinfo=UTC), retention={Granularity.MONTH: 2})
    found = compute(deal.written, in_june)
    assert of(found, metrics.DEALS_WON.name) == {
        key(metrics.DEALS_WON.name, MAY, **seller("bob", pipeline="(none)")): 1
    }
    assert of(found, metrics.SALES_CYCLE.count) == {}  # the created event changed nothing
    anomalies = {dict(k.labels)["anomaly"] for k in of(found, metrics.DEAL_ANOMALIES.name)}
    assert anomalies == {"no_created", "won_without_amount", "unknown_pipeline"}
    assert compute(deal.written[:2], in_june) == {}  # a deal of too-late events only: nothing


def test_too_late_means_before_every_retention() -> None:
    ctx = context(
        now=datetime(2026, 6, 15, tzinfo=UTC),
        retention={Granularity.MONTH: 2, Granularity.DAY: 7},
    )
    deal = Deal()
    assert is_too_late(deal.created(datetime(2026, 4, 30, 23, tzinfo=UTC)), ctx)
    assert not is_too_late(deal.created(datetime(2026, 5, 1, tzinfo=UTC)), ctx)
    assert not is_too_late(deal.created(datetime(2026, 6, 14, tzinfo=UTC)), ctx)
    nothing_windowed = context(retention={}).with_now(datetime(2030, 1, 1, tzinfo=UTC))
    assert not is_too_late(deal.created(datetime(2000, 1, 1, tzinfo=UTC)), nothing_windowed)


def test_every_granularity_gets_its_window() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.won(datetime(2026, 4, 1, 1, tzinfo=UTC))  # a Wednesday
    found = of(contributed(deal, ctx=context()), metrics.DEALS_WON.name)
    assert {k.window for k in found} == {
        Window(Granularity.DAY, date(2026, 4, 1)),
        Window(Granularity.WEEK, date(2026, 3, 30)),
        APRIL,
    }


def test_a_currency_missing_from_the_rate_table_is_an_error_not_zero() -> None:
    deal = Deal()
    deal.created(T[0], amount="1000 CHF")
    view = fold(DealHistory.of("d1", deal.written))
    with pytest.raises(UnknownCurrencyError, match="CHF to EUR"):
        contributions(view, MONTHLY)


def test_a_win_without_amount_counts_as_a_deal_of_zero_and_without_cycle() -> None:
    deal = Deal()
    deal.stage(T[0], "demo", pipeline=NB, owner="ann")
    deal.won(T[1])
    found = contributed(deal)
    assert of(found, metrics.WON_REVENUE.name, metrics.SALES_CYCLE.count) == {}
    assert of(
        found, metrics.DEALS_WON.name, metrics.TICKET_SIZE.count, metrics.TICKET_SIZE.in_bucket
    ) == {
        key(metrics.DEALS_WON.name, MARCH, **seller("ann")): 1,
        key(metrics.TICKET_SIZE.count, MARCH, **seller("ann")): 1,
        key(metrics.TICKET_SIZE.in_bucket, MARCH, le="100", **seller("ann")): 1,
    }
    anomalies = {dict(k.labels)["anomaly"] for k in of(found, metrics.DEAL_ANOMALIES.name)}
    assert anomalies == {"no_created", "won_without_amount"}


def test_an_unknown_pipeline_is_counted_under_its_name_and_reported() -> None:
    deal = Deal()
    deal.created(T[0], pipeline="partners", stage="intro")
    deal.won(T[1])
    found = contributed(deal)
    assert found[key(metrics.DEALS_WON.name, MARCH, **seller("ann", pipeline="partners"))] == 1
    anomalies = {dict(k.labels)["anomaly"] for k in of(found, metrics.DEAL_ANOMALIES.name)}
    assert anomalies == {"unknown_pipeline"}


def test_a_deal_without_events_contributes_nothing() -> None:
    assert contributions(fold(DealHistory.empty("d1")), MONTHLY) == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rates": {"EUR": Decimal(2)}}, "to itself must be 1"),
        ({"rates": {"USD": Decimal(0)}}, "positive"),
        ({"ticket_size_buckets": (Decimal(10), Decimal(5))}, "strictly increasing"),
        ({"now": datetime(2026, 1, 1)}, "timezone-aware"),  # noqa: DTZ001 - the point
    ],
)
def test_an_unworkable_context_is_refused(change: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "pipelines": MONTHLY.pipelines,
        "reporting_currency": "EUR",
        "rates": {},
        "now": MONTHLY.now,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        MetricContext(**fields)  # type: ignore[arg-type]


def test_keys_of_different_deals_share_their_metric_names_and_windows() -> None:
    """The aggregates hold a key per (metric, labels, window): equal parts must be one
    object each, or every key carries its own copy (docs/performance.md, session 8)."""
    first, second = Deal("d1"), Deal("d2")
    for deal, owner in ((first, "ann"), (second, "bob")):
        deal.created(T[0], owner=owner, amount="1000 USD")
        deal.won(T[40])
        deal.churned(T[60])
    ctx = context(retention={Granularity.DAY: 400, Granularity.MONTH: 14})
    one, other = (
        contributions(fold(DealHistory.of(deal.deal_id, deal.written)), ctx)
        for deal in (first, second)
    )
    by_part = {(k.metric, k.window): k for k in one}
    pairs = [(by_part[(k.metric, k.window)], k) for k in other if (k.metric, k.window) in by_part]

    assert any(k.metric == metrics.TICKET_SIZE.sum for _, k in pairs)
    assert any(k.metric == metrics.DEALS_ACTIVE_CHANGE for _, k in pairs)
    for mine, theirs in pairs:
        assert mine.metric is theirs.metric
        assert mine.window is theirs.window


def test_the_funnel_counts_each_stage_once_across_a_re_entry_and_a_reopen() -> None:
    """The example of docs/metrics.md ("a re-entry and a reopen"), month by month."""

    def on(month: int, day: int) -> datetime:
        return datetime(2026, month, day, 9, tzinfo=UTC)

    deal = Deal("d1")
    deal.created(on(3, 2))  # in lead
    deal.stage(on(3, 5), "qualified")
    deal.stage(on(3, 9), "lead")  # back: no advance
    deal.stage(on(3, 12), "qualified")  # re-entry: not counted again
    deal.stage(on(4, 2), "demo")
    deal.won(on(4, 10), amount="500 EUR")
    deal.reopened(on(4, 20), stage="demo")  # retracts the win; demo not entered again
    deal.lost(on(5, 3))
    ctx = context(now=datetime(2026, 5, 31, tzinfo=UTC), retention={Granularity.MONTH: 6})
    found = compute(deal.written, ctx)

    def monthly(metric: str) -> dict[tuple[str, date], Decimal]:
        return {
            (dict(key.labels).get("stage", ""), key.window.start): value
            for key, value in found.items()
            if key.metric == metric and key.window is not None
        }

    march, april, may = date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)
    assert monthly(metrics.STAGE_ENTERED.name) == {
        ("lead", march): 1,
        ("qualified", march): 1,
        ("demo", april): 1,
    }
    assert monthly(metrics.STAGE_ADVANCED.name) == {
        ("lead", march): 1,
        ("qualified", april): 1,
        ("demo", april): 1,
    }
    assert monthly(metrics.DEALS_WON.name) == {}
    assert monthly(metrics.DEALS_LOST.name) == {("", may): 1}
    moves = {
        (dict(key.labels)["from_stage"], dict(key.labels)["to_stage"], key.window.start): value
        for key, value in found.items()
        if key.metric == metrics.STAGE_TRANSITIONS.name and key.window is not None
    }
    assert moves[("lead", "qualified", march)] == 2
    assert moves[("won", "demo", april)] == 1
    assert found == reference(deal.written, ctx)


def closing(metric: str, closes_on: str, seller: str = "ann") -> ContributionKey:
    return key(metric, None, tenant="acme", pipeline=NB, seller=seller, expected_close=closes_on)


def test_an_open_deal_is_counted_under_its_owner_and_expected_close_date() -> None:
    deal = Deal()
    deal.created(T[0], amount="1000 EUR", closes_on="2026-04-30")
    deal.stage(T[1], "demo")
    deal.owner(T[2], "bob")
    deal.close_date(T[3], date(2026, 5, 29))
    found = {k: v for k, v in contributed(deal).items() if "closing" in k.metric}
    spec = MONTHLY.pipelines.get(NB)
    assert spec is not None
    demo = spec.win_probability("demo")
    assert demo is not None
    assert found == {
        closing(metrics.OPEN_DEALS_CLOSING.name, "2026-05-29", "bob"): Decimal(1),
        closing(metrics.OPEN_VALUE_CLOSING.name, "2026-05-29", "bob"): Decimal(1000),
        closing(metrics.OPEN_WEIGHTED_VALUE_CLOSING.name, "2026-05-29", "bob"): 1000 * demo,
    }


def test_a_closed_deal_leaves_the_closing_aggregates_and_a_reopened_one_returns() -> None:
    deal = Deal()
    deal.created(T[0], amount="1000 EUR", closes_on="2026-04-30")
    deal.won(T[1])
    assert not [k for k in contributed(deal) if "closing" in k.metric]
    deal.reopened(T[2])
    assert closing(metrics.OPEN_DEALS_CLOSING.name, "2026-04-30") in contributed(deal)
    undated = Deal("d2")
    undated.created(T[0])
    assert not [k for k in contributed(undated) if "closing" in k.metric]
