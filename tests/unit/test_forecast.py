"""The forecast and the slipped deals on /metrics.

docs/metrics.md, "Forecast and slipped deals", by example.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from streams.domain.contributions import ContributionKey, labels
from streams.domain.replay import compute
from streams.exposition.forecast import periods
from streams.exposition.samples import exposition_samples
from tests.support.builders import Deal, context

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)  # a Friday in March, the first quarter's last month
FEB, MAR, APR = datetime(2026, 2, 10, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC), NOW


def forecast(
    granularity: str, window: str, seller: str = "ann"
) -> tuple[ContributionKey, ContributionKey]:
    """The keys of the weighted and the unweighted forecast of one period."""
    shown = labels(
        tenant="acme",
        pipeline="new-business",
        seller=seller,
        granularity=granularity,
        window=window,
    )
    return (
        ContributionKey("dealpulse_forecast_revenue", shown, None),
        ContributionKey("dealpulse_forecast_revenue_unweighted", shown, None),
    )


def exported(*deals: Deal, now: datetime = NOW) -> dict[ContributionKey, Decimal]:
    ctx = context(now=now)
    return exposition_samples(compute([e for d in deals for e in d.written], ctx), ctx)


def story() -> list[Deal]:
    won_in_february = Deal("a")
    won_in_february.created(FEB, amount="1000 EUR", closes_on="2026-02-28")
    won_in_february.won(FEB.replace(day=20))
    won_in_march = Deal("b")
    won_in_march.created(FEB, amount="500 EUR", closes_on="2026-03-31")
    won_in_march.won(MAR)
    closing_this_month = Deal("c")
    closing_this_month.created(FEB, stage="demo", amount="2000 EUR", closes_on="2026-03-31")
    closing_next_month = Deal("d")
    closing_next_month.created(FEB, amount="400 EUR", closes_on="2026-04-15")
    slipped = Deal("e")
    slipped.created(FEB, amount="300 EUR", closes_on="2026-03-01")
    undated = Deal("f")
    undated.created(FEB, amount="9999 EUR")
    return [won_in_february, won_in_march, closing_this_month, closing_next_month, slipped, undated]


def test_won_so_far_plus_the_open_deals_expected_in_the_period() -> None:
    samples = exported(*story())
    weighted, whole = forecast("month", "current")
    # won in March 500; open in March: c 2000 x 0.3 (demo), e 300 x 0.05 (lead, slipped)
    assert samples[weighted] == Decimal("500") + Decimal("600") + Decimal("15")
    assert samples[whole] == Decimal("500") + Decimal("2000") + Decimal("300")
    weighted, whole = forecast("month", "next")
    assert (samples[weighted], samples[whole]) == (Decimal("20"), Decimal("400"))  # d, lead
    weighted, whole = forecast("quarter", "current")  # January to March: a's win counts too
    assert samples[weighted] == Decimal("1500") + Decimal("615")
    won_so_far = ContributionKey("dealpulse_period_won_revenue", weighted.labels, None)
    assert samples[won_so_far] == Decimal("1500")
    weighted, whole = forecast("quarter", "next")
    assert samples[whole] == Decimal("400")
    seller = labels(tenant="acme", pipeline="new-business", seller="ann")
    assert samples[ContributionKey("dealpulse_slipped_deals", seller, None)] == 1
    assert samples[ContributionKey("dealpulse_slipped_value", seller, None)] == Decimal("300")


def test_a_deal_moves_when_its_date_owner_or_stage_moves_and_leaves_when_it_closes() -> None:
    deal = Deal("c")
    deal.created(FEB, stage="demo", amount="2000 EUR", closes_on="2026-03-31")
    deal.close_date(MAR, date(2026, 4, 30))
    deal.owner(MAR.replace(day=6), "bob")
    samples = exported(deal)
    assert samples[forecast("month", "next", "bob")[0]] == Decimal("600")
    assert samples[forecast("month", "current", "bob")[0]] == 0
    assert forecast("month", "next", "ann")[0] not in samples  # nothing of ann's is left
    deal.lost(MAR.replace(day=7))
    assert not [k for k in exported(deal) if "forecast" in k.metric or "slipped" in k.metric]


def test_the_clock_alone_moves_the_periods_and_slips_deals() -> None:
    deal = Deal("d")
    deal.created(FEB, amount="400 EUR", closes_on="2026-04-15")
    seller = labels(tenant="acme", pipeline="new-business", seller="ann")
    slipped = ContributionKey("dealpulse_slipped_deals", seller, None)
    assert exported(deal)[slipped] == 0
    in_may = exported(deal, now=datetime(2026, 5, 2, tzinfo=UTC))
    assert in_may[slipped] == 1
    assert in_may[forecast("month", "current")[1]] == 0
    on_the_day = exported(deal, now=datetime(2026, 4, 15, 23, tzinfo=UTC))
    assert on_the_day[slipped] == 0  # expected today: not slipped yet
    assert on_the_day[forecast("month", "current")[1]] == Decimal("400")


def test_periods_follow_the_window_timezone() -> None:
    late_in_march_utc = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)  # April 1st in Paris
    months = {(p.granularity, p.window): p.start for p in periods(late_in_march_utc, UTC)}
    assert months[("month", "current")] == date(2026, 3, 1)
    assert months[("quarter", "next")] == date(2026, 4, 1)
    paris = {
        (p.granularity, p.window): (p.start, p.end)
        for p in periods(late_in_march_utc, ZoneInfo("Europe/Paris"))
    }
    assert paris[("month", "current")] == (date(2026, 4, 1), date(2026, 5, 1))
    assert paris[("quarter", "current")] == (date(2026, 4, 1), date(2026, 7, 1))
    assert paris[("quarter", "next")] == (date(2026, 7, 1), date(2026, 10, 1))
