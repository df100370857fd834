"""Aggregates: new - old, exact zeros removed, sums over partitions, retention pruning."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, Inexact

import pytest

from streams.domain import metrics
from streams.domain.aggregates import SHARED_INTEGERS, Aggregates
from streams.domain.contributions import ContributionKey
from streams.domain.windows import Granularity, Window
from tests.support.builders import context, day, key, month

REVENUE = metrics.WON_REVENUE.name
A = key(REVENUE, month(2026, 3), tenant="t", pipeline="p", seller="ann")
B = key(REVENUE, month(2026, 4), tenant="t", pipeline="p", seller="ann")
OPEN = key(metrics.OPEN_DEALS.name, tenant="t", pipeline="p", stage="demo")


def test_apply_adds_new_minus_old_and_removes_exact_zeros() -> None:
    aggregates = Aggregates()
    aggregates.apply({}, {A: Decimal("100.10"), OPEN: Decimal(1)})
    aggregates.apply({}, {A: Decimal("0.90")})
    assert aggregates.as_dict() == {A: Decimal("101.00"), OPEN: 1}
    aggregates.apply({A: Decimal("100.10"), OPEN: Decimal(1)}, {B: Decimal("100.10")})
    assert aggregates.as_dict() == {A: Decimal("0.90"), B: Decimal("100.10")}
    aggregates.apply({A: Decimal("0.90"), B: Decimal("100.10")}, {})
    assert aggregates.as_dict() == {}
    assert len(aggregates) == 0


def test_sums_equal_to_a_small_integer_share_one_value() -> None:
    aggregates = Aggregates()
    aggregates.apply({}, {A: Decimal("1.500000"), OPEN: Decimal(1), B: Decimal("0.5")})
    aggregates.apply({}, {A: Decimal("0.500000"), OPEN: Decimal(1)})
    snapshot = aggregates.as_dict()
    assert snapshot == {A: 2, OPEN: 2, B: Decimal("0.5")}
    assert snapshot[A] is snapshot[OPEN]  # one object for every 2
    beyond = Decimal(SHARED_INTEGERS.stop)
    large = Aggregates({A: beyond}).as_dict()[A], Aggregates({B: beyond}).as_dict()[B]
    assert large[0] == large[1]
    assert large[0] is not large[1]  # beyond the range, each sum its own


def test_sum_over_partitions_is_the_whole() -> None:
    first = Aggregates({A: Decimal(1), OPEN: Decimal(2)})
    second = Aggregates({A: Decimal(-1), B: Decimal(3)})
    assert Aggregates.sum([first, second]).as_dict() == {OPEN: 2, B: 3}
    assert first.as_dict() == {A: 1, OPEN: 2}  # parts are left alone


def test_sums_stay_exact_or_fail_loudly() -> None:
    aggregates = Aggregates({A: Decimal("1E+30")})
    aggregates.apply({}, {A: Decimal("0.000001")})
    assert aggregates.as_dict()[A] == Decimal("1000000000000000000000000000000.000001")
    with pytest.raises(Inexact):
        aggregates.apply({}, {A: Decimal("1E-40")})


def test_prune_drops_old_windows_and_carries_active_changes() -> None:
    ctx = context(
        now=datetime(2026, 5, 10, tzinfo=UTC),
        retention={Granularity.MONTH: 2, Granularity.DAY: 3},
    )
    seller = {"tenant": "t", "pipeline": "p", "seller": "ann"}
    active = metrics.DEALS_ACTIVE_CHANGE
    aggregates = Aggregates(
        {
            A: Decimal(5),  # March: out
            B: Decimal(6),  # April: kept
            OPEN: Decimal(1),  # no window: kept
            key(REVENUE, day(2026, 5, 7), **seller): Decimal(1),  # out
            key(REVENUE, day(2026, 5, 8), **seller): Decimal(2),  # kept
            ContributionKey(REVENUE, (), Window(Granularity.WEEK, date(2026, 5, 4))): Decimal(1),
            key(active, month(2026, 2), **seller): Decimal(1),
            key(active, month(2026, 3), **seller): Decimal(2),
            key(active, month(2026, 4), **seller): Decimal(-1),
            key(active, month(2026, 5), **seller): Decimal(1),
        }
    )
    aggregates.prune(ctx)
    assert aggregates.as_dict() == {
        B: 6,
        OPEN: 1,
        key(REVENUE, day(2026, 5, 8), **seller): 2,
        key(active, month(2026, 4), **seller): 2,  # 1 + 2 - 1, carried into the oldest
        key(active, month(2026, 5), **seller): 1,
    }
