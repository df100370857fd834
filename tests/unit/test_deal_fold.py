"""The fold adapter gives the batch result whatever its cache size, rebuilds and delivery order.

`DealFold` keeps recently folded deals decoded, with their last contributions,
and retracts those instead of recomputing them; these properties drive the real
adapter over a table that stores JSON text (as Faust's table does), so a cached
deal and a deal read back from the table must give the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from streams.domain.aggregates import Aggregates
from streams.domain.context import MetricContext
from streams.domain.events import DealEvent
from streams.domain.replay import compute
from streams.worker.deal_fold import DealFold
from streams.worker.fold_metrics import FoldMetrics
from tests.unit.test_domain_properties import contexts, deliveries, event_sets, partition_of


class JsonTable(MutableMapping[str, Any]):
    """A deal table that keeps encoded text, like Faust's RocksDB-backed table."""

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}

    def __getitem__(self, key: str) -> Any:
        return json.loads(self.rows[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self.rows[key] = json.dumps(value)

    def __delitem__(self, key: str) -> None:
        del self.rows[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


class FixedContext:
    def __init__(self, ctx: MetricContext) -> None:
        self.ctx = ctx

    def current(self) -> MetricContext:
        return self.ctx


PARTITIONS = 3


@settings(max_examples=200)
@given(
    events=event_sets(),
    ctx=contexts(),
    cache_deals=st.sampled_from([0, 1, 2, 1_000]),
    rebuild_at=st.lists(st.integers(0, 60), max_size=3),
    data=st.data(),
)
def test_the_fold_sums_to_the_batch_result_whatever_its_cache(
    events: list[DealEvent],
    ctx: MetricContext,
    cache_deals: int,
    rebuild_at: list[int],
    data: st.DataObject,
) -> None:
    table = JsonTable()
    fold = DealFold(table, FixedContext(ctx), FoldMetrics(CollectorRegistry()), cache_deals)
    fold.rebuild(range(PARTITIONS), [])
    for step, event in enumerate(data.draw(deliveries(events))):
        if step in rebuild_at:  # a rebalance: aggregates rebuilt from the table
            fold.rebuild(range(PARTITIONS), table.values())
        fold.accept(event, partition_of(event.deal_id, PARTITIONS))
    total = Aggregates.sum(fold.partition_snapshots(ctx).values())
    assert total.snapshot() == compute(events, ctx)
    assert sum(fold.deal_counts().values()) == len({event.deal_id for event in events})
    from_table = fold.recompute(range(PARTITIONS), table.values())
    assert Aggregates.sum(from_table.values()).snapshot() == compute(events, ctx)
