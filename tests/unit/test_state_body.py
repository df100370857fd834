"""`/state/aggregates` encodes one partition at a time into the JSON the checks read."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from streams.domain.aggregates import Aggregates
from streams.domain.contributions import ContributionKey, labels
from streams.domain.snapshot_codec import decode_snapshot, encode_snapshot
from streams.domain.windows import Granularity, Window
from streams.topology import state_body

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
