"""Bytes of deal state per deal, as the deal table stores it, before and after compaction.

    .venv/bin/python bench/state_size.py --events 50000 --seed 31 --advance-days 1000

No broker: the simulated workload of the exactness tests
(`tests.support.workload.simulated`: duplicates, disorder, late and invalid
messages) is ingested at its clock and folded by the real `InProcessWorker` into an
in-memory table that keeps each row as the bytes Faust's table writes (JSON by
orjson, as `faust.utils.json` encodes). The clock then moves `--advance-days`
ahead and `compact_some` sweeps every partition until nothing is left to
compact. Each row's value is measured before and after (the key, the deal id,
is stored beside it and not counted); the aggregates must not change.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, from anywhere

from streams.domain.context import MetricContext
from streams.domain.history import DealHistory
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage
from streams.ingest.rejection import Rejection
from streams.metric_context import build_context
from streams.settings import Settings
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.in_process import COMPACT_LIMIT, COMPACT_SCAN, HISTORY_FIELD, InProcessWorker
from tests.support.workload import CLOCK, simulated

DEFAULT_EVENTS = 50_000
DEFAULT_SEED = 31
DEFAULT_ADVANCE_DAYS = (
    1000  # past the default 25 months of monthly windows, and the workload's span
)
PARTITIONS = 8


class BytesTable(MutableMapping[str, Any]):
    """A deal table keeping each value as the JSON bytes Faust's table would store."""

    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}

    def __getitem__(self, key: str) -> Any:
        return orjson.loads(self.rows[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self.rows[key] = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)

    def __delitem__(self, key: str) -> None:
        del self.rows[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.rows))

    def __len__(self) -> int:
        return len(self.rows)


class Moving:
    """The fold's context source, moved by hand."""

    def __init__(self, ctx: MetricContext) -> None:
        self.ctx = ctx

    def current(self) -> MetricContext:
        return self.ctx


@dataclass(frozen=True)
class Sizes:
    deals: int
    mean: float
    p50: int
    p95: int
    largest: int
    total: int

    @classmethod
    def of(cls, rows: Sequence[bytes]) -> Sizes:
        sizes = sorted(len(row) for row in rows)
        if not sizes:
            return cls(0, 0.0, 0, 0, 0, 0)
        return cls(
            deals=len(sizes),
            mean=statistics.fmean(sizes),
            p50=sizes[len(sizes) // 2],
            p95=sizes[min(len(sizes) - 1, int(len(sizes) * 0.95))],
            largest=sizes[-1],
            total=sum(sizes),
        )


def partition_of(deal_id: str) -> int:
    return zlib.crc32(deal_id.encode()) % PARTITIONS


def fold_workload(
    events: int, seed: int
) -> tuple[InProcessWorker, BytesTable, Moving, Counter[str]]:
    settings = Settings(clock=CLOCK)
    ingestor = Ingestor(settings, lambda: CLOCK)
    source = Moving(build_context(settings, CLOCK))
    table = BytesTable()
    fold = InProcessWorker(table, source, FoldMetrics(CollectorRegistry()))
    fold.rebuild(range(PARTITIONS), [])
    outcomes: Counter[str] = Counter()
    for message in simulated(events, seed):
        outcome = ingestor.ingest(RawMessage(message.key, message.value, message.headers))
        if isinstance(outcome, Rejection):
            outcomes["rejected"] += 1
            continue
        outcomes["accepted"] += 1
        fold.accept(outcome, partition_of(outcome.deal_id))
    return fold, table, source, outcomes


@dataclass(frozen=True)
class Sweep:
    compacted: int
    calls: int
    seconds: float


def compact_everything(fold: InProcessWorker, rows: int) -> Sweep:
    """Call `compact_some` with its default limits, as the ingest agent does, until done:
    until the sweep has read every row twice over without finding a deal to compact."""
    compacted = calls = quiet_rounds = 0
    started = time.perf_counter()
    while quiet_rounds * PARTITIONS * COMPACT_SCAN <= 2 * rows:
        found = 0
        for partition in range(PARTITIONS):
            found += fold.compact_some(partition)
            calls += 1
        compacted += found
        quiet_rounds = 0 if found else quiet_rounds + 1
    return Sweep(compacted, calls, time.perf_counter() - started)


def by_status(table: BytesTable) -> Counter[str]:
    found: Counter[str] = Counter()
    for key in table:
        history = DealHistory.from_dict(table[key][HISTORY_FIELD])
        found["events kept" if history.base is None else f"compacted {history.base.status}"] += 1
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--advance-days", type=int, default=DEFAULT_ADVANCE_DAYS)
    args = parser.parse_args(argv)

    fold, table, source, outcomes = fold_workload(args.events, args.seed)
    before = Sizes.of(list(table.rows.values()))
    tombstones = by_status(table)
    later = source.ctx.with_now(CLOCK + timedelta(days=args.advance_days))
    source.ctx = later
    expected = fold.values(later)
    sweep = compact_everything(fold, len(table))
    after = Sizes.of(list(table.rows.values()))
    if fold.values(later) != expected:
        raise SystemExit("compaction changed the aggregates")
    recomputed = fold.recompute(range(PARTITIONS), table.values())
    if recomputed.as_dict() != expected:
        raise SystemExit("the compacted table does not give the same aggregates")

    print(
        f"{outcomes['accepted']} events accepted ({outcomes['rejected']} rejected), "
        f"{len(table)} deals; clock {CLOCK:%Y-%m-%d}, then {later.now:%Y-%m-%d} "
        f"(+{args.advance_days} days): {sweep.compacted} deals compacted"
    )
    print(
        f"compact_some: {sweep.calls} calls of at most {COMPACT_LIMIT} deals and "
        f"{COMPACT_SCAN} rows, {sweep.seconds / sweep.calls * 1000:.1f} ms per call"
    )
    print(f"before: {dict(sorted(tombstones.items()))}")
    print(f"after:  {dict(sorted(by_status(table).items()))}")
    print()
    print(f"{'bytes per deal':<16}{'mean':>8}{'p50':>8}{'p95':>8}{'max':>8}{'total MB':>10}")
    for name, sizes in (("before", before), ("after", after)):
        print(
            f"{name:<16}{sizes.mean:>8.0f}{sizes.p50:>8}{sizes.p95:>8}{sizes.largest:>8}"
            f"{sizes.total / 1e6:>10.2f}"
        )
    ids = [
        len(orjson.dumps(table[key][HISTORY_FIELD].get("b", {}).get("ids", []))) for key in table
    ]
    print(
        f"of which the compacted event ids (kept to deduplicate): mean {statistics.fmean(ids):.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
