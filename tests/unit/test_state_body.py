"""`/state/aggregates` encodes a worker's aggregates, a chunk of rows at a time, for the checks."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from streams import topology
from streams.domain.aggregates import Aggregates
from streams.domain.contributions import ContributionKey, labels
from streams.domain.metric_rows import from_rows, rows_digest, to_rows
from streams.domain.windows import Granularity, Window
from streams.topology import state_body, state_digest_body

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_the_body_decodes_to_the_aggregates_and_names_the_partitions() -> None:
    day = Window(Granularity.DAY, date(2026, 11, 1))
    won = ContributionKey("dealpulse_won_revenue", labels(tenant="t", seller='a"b'), day)
    open_deals = ContributionKey("dealpulse_open_deals", labels(tenant="t", stage="s"), None)
    aggregates = Aggregates({won: Decimal("12.50"), open_deals: Decimal("3")})

    keys, values = aggregates.columns()

    body = json.loads(state_body(NOW, [10, 2, 5], keys, values))

    assert body["now"] == NOW.isoformat()
    assert body["partitions"] == [2, 5, 10]
    assert body["rows"] == to_rows(aggregates.as_dict())
    assert from_rows(body["rows"]) == aggregates.as_dict()


def test_rows_are_encoded_a_chunk_at_a_time_into_one_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topology, "STATE_ROWS_PER_CHUNK", 2)
    snapshot = {
        ContributionKey("dealpulse_open_deals", labels(tenant="t", stage=str(n)), None): Decimal(n)
        for n in range(1, 6)
    }

    body = json.loads(state_body(NOW, [0], list(snapshot), list(snapshot.values())))

    assert from_rows(body["rows"]) == snapshot


DAY = Window(Granularity.DAY, date(2026, 11, 1))
WON = ContributionKey("dealpulse_won_revenue", labels(tenant="t", seller="ann"), DAY)
OPEN = ContributionKey("dealpulse_open_deals", labels(tenant="t", stage="s"), None)


def test_equal_values_share_a_digest_whatever_their_exponent_and_order() -> None:
    one = {WON: Decimal("101.00"), OPEN: Decimal(3)}
    same = {OPEN: Decimal("3.0"), WON: Decimal("101")}

    assert rows_digest(one.items()) == rows_digest(same.items())
    assert len(rows_digest(one.items())) == 64


@pytest.mark.parametrize(
    "changed",
    [
        {WON: Decimal("101.01"), OPEN: Decimal(3)},  # a value
        {WON: Decimal("101.00")},  # a key missing
        {
            WON: Decimal("101.00"),
            OPEN: Decimal(3),
            OPEN._replace(labels=labels(tenant="u")): Decimal(1),
        },
        {
            WON._replace(window=Window(Granularity.DAY, date(2026, 11, 2))): Decimal(101),
            OPEN: Decimal(3),
        },
    ],
)
def test_any_difference_changes_the_digest(changed: dict[ContributionKey, Decimal]) -> None:
    assert rows_digest(changed.items()) != rows_digest(
        {WON: Decimal("101.00"), OPEN: Decimal(3)}.items()
    )


def test_the_digest_body_names_the_partitions_and_counts_the_keys() -> None:
    snapshot = {WON: Decimal("101.00"), OPEN: Decimal(1)}

    body = json.loads(state_digest_body(NOW, [3, 1], list(snapshot), list(snapshot.values())))

    assert body == {
        "now": NOW.isoformat(),
        "partitions": [1, 3],
        "keys": 2,
        "digest": rows_digest({WON: Decimal(101), OPEN: Decimal("1.0")}.items()),
    }
