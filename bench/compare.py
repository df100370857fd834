"""How far an engine's numbers are from the batch result.

dealpulse is compared on every key of its aggregates, exactly (`exactness`).
Peers compute less: per (seller, UTC day) won revenue and deals won, from which
the average ticket is their ratio. They are compared on that (`compare_won`),
from the first day dealpulse's retention keeps, with a cent of tolerance for
their float sums.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from bench.workload import WonTotals
from streams.domain.contributions import ContributionKey

REVENUE_TOLERANCE = 0.01
EXAMPLES = 5

PeerWon = Mapping[tuple[str, str], tuple[float, int]]
"""(seller, ISO day) -> (won revenue in reporting currency, deals won)."""


def exactness(
    actual: Mapping[ContributionKey, Decimal], expected: Mapping[ContributionKey, Decimal]
) -> dict[str, Any]:
    keys = set(actual) | set(expected)
    wrong = sorted((key for key in keys if actual.get(key) != expected.get(key)), key=repr)
    return {
        "exact": not wrong,
        "keys": len(expected),
        "differing_keys": len(wrong),
        "examples": [
            f"{key}: stream {actual.get(key)} != batch {expected.get(key)}"
            for key in wrong[:EXAMPLES]
        ],
    }


def compare_won(found: PeerWon, expected: WonTotals, first_day: date) -> dict[str, Any]:
    """Wrong (seller, day) keys and the total absolute revenue error, against the batch."""
    want: dict[tuple[str, str], tuple[float, int]] = {}
    for seller, day in set(expected.revenue) | set(expected.deals):
        if day >= first_day:
            want[(seller, day.isoformat())] = (
                float(expected.revenue.get((seller, day), Decimal(0))),
                expected.deals.get((seller, day), 0),
            )
    got = {key: value for key, value in found.items() if key[1] >= first_day.isoformat()}
    wrong = []
    revenue_error = 0.0
    deals_error = 0
    for key in sorted(set(want) | set(got)):
        want_revenue, want_deals = want.get(key, (0.0, 0))
        got_revenue, got_deals = got.get(key, (0.0, 0))
        revenue_error += abs(got_revenue - want_revenue)
        deals_error += abs(got_deals - want_deals)
        if abs(got_revenue - want_revenue) > REVENUE_TOLERANCE or got_deals != want_deals:
            wrong.append(key)
    expected_revenue = sum(revenue for revenue, _ in want.values())
    return {
        "keys": len(want),
        "wrong_keys": len(wrong),
        "revenue_abs_error": round(revenue_error, 2),
        "revenue_expected": round(expected_revenue, 2),
        "revenue_relative_error": round(revenue_error / expected_revenue, 6)
        if expected_revenue
        else 0.0,
        "deals_won_abs_error": deals_error,
        "from_day": first_day.isoformat(),
        "examples": [
            f"{seller} {day}: got {got.get((seller, day))} want {want.get((seller, day))}"
            for seller, day in wrong[:EXAMPLES]
        ],
    }
