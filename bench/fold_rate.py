"""Events/s of the fold alone: no broker, no Faust — what a worker could reach without them.

    .venv/bin/python bench/fold_rate.py --events 20000 --rounds 5

The simulated workload of the exactness tests is ingested once; then each
round folds it through a fresh `InProcessWorker` (the worker's cache size) into an
in-memory table that stores each row as the JSON bytes Faust writes, with
Python's garbage collector tuned as the worker tunes it. Reports the CPU time
per message of the ingest checks (decode, validate, normalise), then the
events/s (CPU time of this process) of each fold round, their median and its
µs per event; every round must end with the same aggregates. Compare with
`bench/ingest_rate.py` (the worker, broker and Faust included) to see what the
rest costs: no engine can fold faster than the two together allow.
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
from streams.gc_threshold import tune_collector
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage
from streams.ingest.rejection import Rejection
from streams.metric_context import build_context
from streams.settings import Settings
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.in_process import InProcessWorker
from tests.support.workload import CLOCK, simulated

DEFAULT_EVENTS = 20_000
DEFAULT_ROUNDS = 5
DEFAULT_SEED = 31


def ingested(events: int, seed: int, settings: Settings) -> tuple[list[DealEvent], float]:
    """The accepted events of the simulated workload, and the ingest's CPU s per message."""
    ingestor = Ingestor(settings, lambda: CLOCK)
    raw = [
        RawMessage(message.key, message.value, message.headers)
        for message in simulated(events, seed)
    ]
    started = time.process_time()
    outcomes = [ingestor.ingest(message) for message in raw]
    per_message = (time.process_time() - started) / len(raw)
    return [outcome for outcome in outcomes if not isinstance(outcome, Rejection)], per_message


def fold_round(
    events: Sequence[DealEvent], settings: Settings
) -> tuple[float, dict[ContributionKey, object]]:
    """Events/s of one fold of `events`, and the aggregates it ends with."""
    source = Moving(build_context(settings, CLOCK))
    fold = InProcessWorker(
        BytesTable(), source, FoldMetrics(CollectorRegistry()), settings.fold_cache_deals
    )
    started = time.process_time()
    for event in events:
        fold.accept(event, partition_of(event.deal_id))
    elapsed = time.process_time() - started
    return len(events) / elapsed, fold.values(source.current())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    settings = Settings(clock=CLOCK)
    events, ingest_seconds = ingested(args.events, args.seed, settings)
    print(f"ingest checks: {ingest_seconds * 1e6:,.0f} µs of CPU time per message")
    gc.collect()
    gc.freeze()  # the workload stands in for the broker: a worker does not hold it
    tune_collector(settings)
    rates: list[float] = []
    first: dict[ContributionKey, object] | None = None
    for _ in range(args.rounds):
        rate, snapshot = fold_round(events, settings)
        rates.append(rate)
        if first is None:
            first = snapshot
        elif snapshot != first:
            sys.exit("two rounds ended with different aggregates")
    runs = ", ".join(f"{rate:,.0f}" for rate in rates)
    median = statistics.median(rates)
    print(
        f"{len(events):,} events folded per round: median {median:,.0f} "
        f"events/s of CPU time ({runs}), {1e6 / median:,.0f} µs per event"
    )


if __name__ == "__main__":
    main()
