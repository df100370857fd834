"""Events/s of the fold alone (no broker, no Faust), under the garbage-collector settings compared.

    .venv/bin/python bench/fold_rate.py --events 20000 --rounds 5

The simulated workload of the exactness tests is ingested once; then each
round folds it through a fresh `DealFold` (the worker's cache size) into an
in-memory table that stores each row as the JSON bytes Faust writes, once with
Python's default thresholds for the youngest GC generation and once with the
worker's (`DEALPULSE_GC_YOUNG_THRESHOLD`), alternating so both see the same
machine. Reports the median events/s (CPU time of this process) of each and
their ratio. Both must end with the same aggregates.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, from anywhere

from bench.state_size import BytesTable, Moving, partition_of
from streams.domain.contributions import ContributionKey
from streams.domain.events import DealEvent
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage
from streams.ingest.rejection import Rejection
from streams.metric_context import build_context
from streams.settings import Settings
from streams.worker.deal_fold import DealFold
from streams.worker.fold_metrics import FoldMetrics
from tests.support.workload import CLOCK, simulated

DEFAULT_EVENTS = 20_000
DEFAULT_ROUNDS = 5
DEFAULT_SEED = 31


def ingested(events: int, seed: int, settings: Settings) -> list[DealEvent]:
    ingestor = Ingestor(settings, lambda: CLOCK)
    accepted: list[DealEvent] = []
    for message in simulated(events, seed):
        outcome = ingestor.ingest(RawMessage(message.key, message.value, message.headers))
        if not isinstance(outcome, Rejection):
            accepted.append(outcome)
    return accepted


def fold_round(
    events: Sequence[DealEvent], settings: Settings, young_threshold: int | None
) -> tuple[float, dict[ContributionKey, object]]:
    """Events/s of one fold of `events`, and the aggregates it ends with."""
    source = Moving(build_context(settings, CLOCK))
    fold = DealFold(
        BytesTable(), source, FoldMetrics(CollectorRegistry()), settings.fold_cache_deals
    )
    default = gc.get_threshold()
    if young_threshold is not None:
        gc.set_threshold(young_threshold, default[1], default[2])
    try:
        started = time.process_time()
        for event in events:
            fold.accept(event, partition_of(event.deal_id))
        elapsed = time.process_time() - started
    finally:
        gc.set_threshold(*default)
    return len(events) / elapsed, fold.snapshot(source.current())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    settings = Settings(clock=CLOCK)
    events = ingested(args.events, args.seed, settings)
    gc.collect()
    gc.freeze()  # the workload stands in for the broker: a worker does not hold it
    variants = {
        "python default": None,
        f"young threshold {settings.gc_young_threshold:,}": settings.gc_young_threshold,
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    results = []
    for _ in range(args.rounds):
        for name, threshold in variants.items():
            rate, snapshot = fold_round(events, settings, threshold)
            rates[name].append(rate)
            results.append(snapshot)
    if any(snapshot != results[0] for snapshot in results):
        sys.exit("the variants ended with different aggregates")
    medians = {name: statistics.median(found) for name, found in rates.items()}
    print(f"{len(events):,} events folded, {args.rounds} rounds, median of CPU-time rates:")
    for name, median in medians.items():
        runs = ", ".join(f"{rate:,.0f}" for rate in rates[name])
        print(f"  {name:>26}: {median:>7,.0f} events/s  ({runs})")
    base, tuned = medians.values()
    print(f"  ratio: {tuned / base:.2f}x")


if __name__ == "__main__":
    main()
