"""The deal and key builders of `tests/support/builders.py`, checked."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from streams.domain.contributions import ContributionKey
from streams.domain.money import Money
from streams.domain.windows import Granularity, Window
from tests.support.builders import MONDAY, Deal, days, key


def test_deal_numbers_event_ids_in_order() -> None:
    deal = Deal("d9")
    first = deal.created(MONDAY)
    second = deal.won(MONDAY + days(1))
    assert (first.event_id, second.event_id) == ("d9-1", "d9-2")
    assert first.amount == Money(Decimal("1000"), "EUR")


def test_key_sorts_labels_and_names_windows() -> None:
    found = key("m", ("week", date(2026, 3, 2)), tenant="t", pipeline="p")
    assert found == ContributionKey(
        "m", (("pipeline", "p"), ("tenant", "t")), Window(Granularity.WEEK, date(2026, 3, 2))
    )
