"""The board's numbers, from a /metrics page the real exposition renders for known deals.

The worker's clock is `tests.support.served.NOW`, Wednesday 2026-11-18 12:00
UTC: today is the 18th, this month started on the 1st. Every expected number
below is counted by hand from the deals of `events()`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from streams.board.model import (
    ALL_PIPELINES,
    ALL_SELLERS,
    BoardSnapshot,
    Funnel,
    PipelineRow,
    SellerRow,
    StageConversion,
    board_snapshot,
    reads_line,
)
from streams.board.scrape import parse_samples
from streams.domain.events import DealEvent
from streams.domain.pipeline_config import load_pipeline_config
from streams.exposition.seller_cap import OTHER_SELLER
from streams.settings import DEFAULT_PIPELINES_FILE
from tests.support.builders import Deal
from tests.support.served import worker_page

PIPELINES = load_pipeline_config(DEFAULT_PIPELINES_FILE)
SCRAPED_AT = datetime(2026, 11, 18, 12, 0, 5, tzinfo=UTC)


def nov(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def deal(deal_id: str, tenant: str = "acme") -> Deal:
    return Deal(deal_id, tenant=tenant)


def events() -> list[list[DealEvent]]:
    a1, a2, a3, a4, a5 = (deal(f"a{n}", "beta" if n == 2 else "acme") for n in range(1, 6))
    b1, b2, b3 = (deal(f"b{n}", "beta") for n in range(1, 4))
    c1, o1, o2, o3 = deal("c1"), deal("o1"), deal("o2", "beta"), deal("o3")
    # ann: won today (cycle 9 d 22 h), won on the 5th in another tenant (3 d), lost one,
    # and has two customers from before the month, one of whom churned this month.
    a1.created(nov(8, 12), owner="ann", amount="1000 USD")
    a1.stage(nov(10, 12), "qualified")
    a1.won(nov(18, 10))
    a2.created(nov(2), pipeline="expansion", stage="discovery", owner="ann", amount="3000 USD")
    a2.won(nov(5))
    a3.created(nov(3), owner="ann", amount="800 USD")
    a3.lost(nov(12))
    a4.created(datetime(2026, 9, 1, tzinfo=UTC), owner="ann", amount="500 USD")
    a4.won(datetime(2026, 10, 10, tzinfo=UTC))
    a4.churned(nov(15))
    a5.created(datetime(2026, 9, 1, tzinfo=UTC), owner="ann", amount="700 USD")
    a5.won(datetime(2026, 9, 20, tzinfo=UTC))
    # bob: one win (cycle 15 d), two losses, no customer before the month.
    b1.created(nov(1), owner="bob", amount="2500 USD")
    b1.won(nov(16))
    b2.created(nov(4), owner="bob", amount="900 USD")
    b2.lost(nov(6))
    b3.created(nov(5), pipeline="expansion", stage="discovery", owner="bob", amount="400 USD")
    b3.lost(nov(7))
    # carol: one loss, and the open deals (owners do not matter to the open pipeline).
    c1.created(nov(10), owner="carol", amount="600 USD")
    c1.lost(nov(11))
    o1.created(nov(17), owner="carol", amount="10000 USD")
    o1.stage(nov(17, 12), "demo")
    o2.created(nov(16), pipeline="expansion", stage="discovery", owner="carol", amount="2000 USD")
    o3.created(nov(15), pipeline="new-business-2", owner="carol", amount="700 USD")
    return [d.written for d in (a1, a2, a3, a4, a5, b1, b2, b3, c1, o1, o2, o3)]


def snapshot_of(page: str) -> BoardSnapshot:
    return board_snapshot(parse_samples(page, "worker", reads_line), PIPELINES, SCRAPED_AT)


@pytest.fixture(scope="module")
def board() -> BoardSnapshot:
    return snapshot_of(worker_page(*events()))


DAY = 86_400


def test_the_lines_left_unparsed_change_nothing() -> None:
    page = worker_page(*events())
    every_line = board_snapshot(parse_samples(page, "worker"), PIPELINES, SCRAPED_AT)
    assert snapshot_of(page) == every_line
    kept = [line for line in page.splitlines() if reads_line(line)]
    assert len(kept) < len(page.splitlines()) / 2


def test_the_windows_and_the_newest_event(board: BoardSnapshot) -> None:
    assert board.today == date(2026, 11, 18)
    assert board.month_start == date(2026, 11, 1)
    assert board.newest_event_at == nov(18, 10)
    assert board.scraped_at == SCRAPED_AT
    assert board.tenants == ("acme", "beta")
    assert board.sellers_folded == 0


def test_sellers_by_won_revenue_this_month(board: BoardSnapshot) -> None:
    assert board.sellers == (
        SellerRow(
            seller="ann",
            won_revenue_today=1000.0,
            won_revenue_month=4000.0,  # 1000 today + 3000 in tenant beta
            deals_won=2,
            deals_closed=3,
            win_rate=2 / 3,
            average_ticket=2000.0,
            # cycles 3 d (bucket ≤ 3 d) and 9 d 22 h (≤ 14 d): rank 1 ends the ≤ 3 d bucket
            median_cycle_seconds=3 * DAY,
            deals_churned=1,
            deals_active_at_month_start=2,  # won in September and October
            churn_rate=0.5,
        ),
        SellerRow(
            seller="bob",
            won_revenue_today=0.0,
            won_revenue_month=2500.0,
            deals_won=1,
            deals_closed=3,
            win_rate=1 / 3,
            average_ticket=2500.0,
            median_cycle_seconds=14 * DAY + (30 - 14) * DAY * 0.5,  # 15 d, in the ≤ 30 d bucket
            deals_churned=0,
            deals_active_at_month_start=0,
            churn_rate=None,
        ),
        SellerRow(
            seller="carol",
            won_revenue_today=0.0,
            won_revenue_month=0.0,
            deals_won=0,
            deals_closed=1,
            win_rate=0.0,
            average_ticket=None,
            median_cycle_seconds=None,
            deals_churned=0,
            deals_active_at_month_start=0,
            churn_rate=None,
        ),
    )


def test_the_totals_row_divides_the_sums(board: BoardSnapshot) -> None:
    assert board.seller_totals == SellerRow(
        seller=ALL_SELLERS,
        won_revenue_today=1000.0,
        won_revenue_month=6500.0,
        deals_won=3,
        deals_closed=7,
        win_rate=3 / 7,
        average_ticket=6500 / 3,
        # 1 cycle ≤ 3 d, 2 ≤ 14 d, 3 ≤ 30 d: rank 1.5 is halfway through the (7 d, 14 d] bucket
        median_cycle_seconds=10.5 * DAY,
        deals_churned=1,
        deals_active_at_month_start=2,
        churn_rate=0.5,
    )


def test_the_open_pipeline_in_the_configured_order(board: BoardSnapshot) -> None:
    assert board.pipelines == (
        PipelineRow("new-business", 1, 10_000.0, 3_900.0),  # demo: 0.39
        PipelineRow("expansion", 1, 2_000.0, 880.0),  # discovery: 0.44
        PipelineRow("new-business-2", 1, 700.0, 0.0),  # not configured: weighted 0
    )
    assert board.pipeline_totals == PipelineRow(ALL_PIPELINES, 3, 12_700.0, 4_780.0)


def test_funnels_follow_the_configured_stage_order(board: BoardSnapshot) -> None:
    assert board.funnels == (
        Funnel(
            "new-business",
            (
                # entered: a1 a3 b1 b2 c1 o1; advanced: a1 (to qualified), b1 (won), o1 (to demo)
                StageConversion("lead", 6, 3, 0.5),
                StageConversion("qualified", 1, 1, 1.0),
                StageConversion("demo", 1, 0, 0.0),
                StageConversion("proposal", 0, 0, None),
                StageConversion("negotiation", 0, 0, None),
            ),
        ),
        Funnel(
            "expansion",
            (
                StageConversion("discovery", 3, 1, 1 / 3),
                StageConversion("scoping", 0, 0, None),
                StageConversion("proposal", 0, 0, None),
                StageConversion("approval", 0, 0, None),
            ),
        ),
        Funnel("new-business-2", (StageConversion("lead", 1, 0, 0.0),)),
    )


def test_stages_the_config_lacks_come_by_entered_count() -> None:
    deals = []
    for number, stage in enumerate(["zeta", "alpha", "alpha", "mid", "mid", "mid"]):
        opened = deal(f"u{number}")
        opened.created(nov(10), pipeline="new-business", stage=stage, amount="1 USD")
        deals.append(opened.written)
    board = snapshot_of(worker_page(*deals))
    (funnel,) = board.funnels
    stages = [(stage.stage, stage.entered) for stage in funnel.stages]
    configured = [(name, 0) for name in ("lead", "qualified", "demo", "proposal", "negotiation")]
    assert stages == [*configured, ("mid", 3), ("alpha", 2), ("zeta", 1)]


def test_sellers_beyond_the_cap_are_one_row() -> None:
    ann, bob, cid = deal("d1"), deal("d2"), deal("d3")
    ann.created(nov(10), owner="ann", amount="1000 USD")
    ann.won(nov(12))
    bob.created(nov(10), owner="bob", amount="300 USD")
    bob.won(nov(12))
    cid.created(nov(10), owner="cid", amount="200 USD")
    cid.won(nov(12))
    board = snapshot_of(
        worker_page(ann.written, bob.written, cid.written, max_sellers_per_tenant=1)
    )
    assert [(row.seller, row.won_revenue_month, row.deals_won) for row in board.sellers] == [
        ("ann", 1000.0, 1),
        (OTHER_SELLER, 500.0, 2),
    ]
    assert board.sellers_folded == 2


def test_an_idle_worker_gives_an_empty_board() -> None:
    page = worker_page(newest_events={})
    board = snapshot_of(page)
    assert board.sellers == ()
    assert board.today is None
    assert board.newest_event_at is None
    assert board.seller_totals.win_rate is None
    assert board.pipeline_totals == PipelineRow(ALL_PIPELINES, 0, 0.0, 0.0)


def test_the_newest_event_is_the_newest_partition() -> None:
    page = worker_page(newest_events={0: nov(3), 5: nov(17, 9), 2: nov(9)})
    assert snapshot_of(page).newest_event_at == nov(17, 9)
