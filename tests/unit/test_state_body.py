"""`/state/aggregates` encodes one partition at a time into the JSON the checks read."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from streams.domain.aggregates import Aggregates
from streams.domain.contributions import ContributionKey, labels
from streams.domain.snapshot_codec import decode_snapshot, encode_snapshot, snapshot_digest
from streams.domain.windows import Granularity, Window
from streams.topology import state_body, state_digest_body

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_each_partition_decodes_to_its_own_aggregates() -> None:
    day = Window(Granularity.DAY, date(2026, 11, 1))
    won = ContributionKey("dealpulse_won_revenue", labels(tenant="t", seller='a"b'), day)
    open_deals = ContributionKey("dealpulse_open_deals", labels(tenant="t", stage="s"), None)
    per_partition = {
        10: Aggregates({won: Decimal("12.50")}),
        2: Aggregates({won: Decimal("1"), open_deals: Decimal("3")}),
        5: Aggregates(),
    }

    snapshots = {partition: found.snapshot() for partition, found in per_partition.items()}

    body = json.loads(state_body(NOW, snapshots))

    assert body["now"] == NOW.isoformat()
    assert list(body["partitions"]) == ["2", "5", "10"]
    for partition, aggregates in per_partition.items():
        rows = body["partitions"][str(partition)]
        assert rows == encode_snapshot(aggregates.snapshot())
        assert decode_snapshot(rows) == aggregates.snapshot()


DAY = Window(Granularity.DAY, date(2026, 11, 1))
WON = ContributionKey("dealpulse_won_revenue", labels(tenant="t", seller="ann"), DAY)
OPEN = ContributionKey("dealpulse_open_deals", labels(tenant="t", stage="s"), None)


def test_equal_values_share_a_digest_whatever_their_exponent_and_order() -> None:
    one = {WON: Decimal("101.00"), OPEN: Decimal(3)}
    same = {OPEN: Decimal("3.0"), WON: Decimal("101")}

    assert snapshot_digest(one.items()) == snapshot_digest(same.items())
    assert len(snapshot_digest(one.items())) == 64


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
    assert snapshot_digest(changed.items()) != snapshot_digest(
        {WON: Decimal("101.00"), OPEN: Decimal(3)}.items()
    )


def test_the_digest_body_sums_the_partitions_as_a_check_does() -> None:
    per_partition = {
        3: {WON: Decimal("100.10"), OPEN: Decimal(1)},
        1: {WON: Decimal("0.90"), OPEN: Decimal(-1)},  # OPEN sums to zero: no key
    }

    body = json.loads(state_digest_body(NOW, per_partition))

    assert body == {
        "now": NOW.isoformat(),
        "partitions": [1, 3],
        "keys": 1,
        "digest": snapshot_digest({WON: Decimal(101)}.items()),
    }
