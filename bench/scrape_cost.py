"""Cost of one /metrics scrape by number of sellers, with the seller cap and without.

    .venv/bin/python bench/scrape_cost.py --sellers 100 1000 10000 --json scrape.json

No broker: the simulator's deals (one tenant, `--deals-per-seller` deals per seller
on average, created over the 60 days before a fixed clock) are ingested and folded
in memory, as a worker does after a rebalance. Then the business part of the
worker's `/metrics` is timed as the worker builds it (`ExportCache.take`, then
`render`, `streams/topology.py`; median of `--runs`):

- `scrape_ms`, a scrape in steady state: the one after `--changed-deals` new deals
  were won by random sellers since the previous scrape (a CRM's 15 s between two
  scrapes), which derives again only the sellers they touched;
- `cold_ms`, the first scrape (and the first after a rebalance or when a new day
  moves the exported windows), which derives every seller: what every scrape
  cost before the cache. (Results before the cache's reference exporter was
  removed also have `rebuilt_ms`, that exporter's time.)

Python's garbage collector is tuned as the worker tunes it
(`DEALPULSE_GC_YOUNG_OBJECTS`): the scrape runs in the worker's process.

The body's bytes, series (sample lines) and distinct `seller` values are counted,
once with the cap at `DEALPULSE_MAX_SELLERS_PER_TENANT`'s default and once with
it at the seller count (effectively off). `measure(sellers)` is the same for
another bench module.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import random
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypedDict

from prometheus_client import CollectorRegistry

from streams.domain.events import DealEvent, EventType
from streams.domain.history import DealHistory
from streams.domain.money import Money
from streams.exposition.catalogue import SELLERS_COLLAPSED
from streams.exposition.export_cache import ExportCache
from streams.exposition.seller_cap import DEFAULT_MAX_SELLERS_PER_TENANT
from streams.gc_threshold import tune_collector
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage
from streams.ingest.rejection import Rejection
from streams.metric_context import ContextSource
from streams.settings import Settings
from streams.simulator import SimulationConfig
from streams.simulator.generate import valid_messages
from streams.worker.fold_metrics import FoldMetrics
from streams.worker.in_process import HISTORY_FIELD, PARTITION_FIELD, InProcessWorker

NOW = datetime(2026, 11, 18, 12, tzinfo=UTC)  # a Wednesday: every exported window has data
SPAN = timedelta(days=60)
EXPORT_WINDOWS = 2
DEFAULT_DEALS_PER_SELLER = 5
DEFAULT_RUNS = 5
DEFAULT_CHANGED_DEALS = 100
_BATCHES = itertools.count()  # new deals get new ids in every batch
SELLER_VALUE = re.compile(r'[{,]seller="([^"]*)"')


class ScrapeCost(TypedDict):
    scrape_ms: float
    cold_ms: float
    changed_deals: int
    cap: int
    sellers_exported: int
    series: int
    bytes: int
    folded: int


class Measurement(TypedDict):
    sellers: int
    deals: int
    events: int
    build_s: float
    capped: ScrapeCost
    uncapped: ScrapeCost


@dataclass(frozen=True)
class Workload:
    fold: InProcessWorker
    contexts: ContextSource
    deals: int
    events: int
    owners: tuple[str, ...]
    first: DealEvent
    """A creation of the workload: new deals are won in its tenant, pipeline and stage."""


def build_workload(sellers: int, deals_per_seller: int, seed: int) -> Workload:
    """The simulator's deals for `sellers` sellers, ingested and folded into one partition."""
    settings = Settings(clock=NOW)
    contexts = ContextSource(settings, lambda: NOW)
    ingestor = Ingestor(settings, lambda: NOW)
    config = SimulationConfig(
        seed=seed, deals=sellers * deals_per_seller, sellers=sellers, start=NOW - SPAN, span=SPAN
    )
    by_deal: defaultdict[str, list[DealEvent]] = defaultdict(list)
    events = 0
    for message in valid_messages(config, now=NOW):
        event = ingestor.ingest(RawMessage(message.key, message.value, message.headers))
        if isinstance(event, Rejection):
            raise RuntimeError(f"the simulator's valid message was refused: {event}")
        by_deal[event.deal_id].append(event)
        events += 1
    table = {
        deal_id: {PARTITION_FIELD: 0, HISTORY_FIELD: DealHistory.of(deal_id, deal).to_dict()}
        for deal_id, deal in by_deal.items()
    }
    fold = InProcessWorker(table, contexts, FoldMetrics(CollectorRegistry()))
    fold.rebuild([0], table.values())
    owners = tuple(sorted({e.owner for deal in by_deal.values() for e in deal if e.owner}))
    first = next(e for deal in by_deal.values() for e in deal if e.type is EventType.CREATED)
    return Workload(fold, contexts, len(table), events, owners, first)


def scrape_cost(
    workload: Workload,
    cap: int,
    runs: int = DEFAULT_RUNS,
    changed_deals: int = DEFAULT_CHANGED_DEALS,
) -> ScrapeCost:
    """Median times of the worker's business exposition over `runs`, and its size and series."""
    cold: list[float] = []
    warm: list[float] = []
    body = b""
    for _ in range(runs):
        scrape = _scraper(
            ExportCache(
                workload.fold, workload.contexts, EXPORT_WINDOWS, max_sellers_per_tenant=cap
            )
        )
        cold.append(_timed(scrape)[0])
        win_new_deals(workload, changed_deals, f"{next(_BATCHES)}")
        seconds, body = _timed(scrape)
        warm.append(seconds)
    text = body.decode()
    lines = text.splitlines()
    folded_prefix = f"{SELLERS_COLLAPSED.name}{{"
    return ScrapeCost(
        scrape_ms=_ms(warm),
        cold_ms=_ms(cold),
        changed_deals=changed_deals,
        cap=cap,
        sellers_exported=len(set(SELLER_VALUE.findall(text))),
        series=sum(1 for line in lines if line and not line.startswith("#")),
        bytes=len(body),
        folded=sum(
            int(float(line.rsplit(" ", 1)[1])) for line in lines if line.startswith(folded_prefix)
        ),
    )


def _scraper(cache: ExportCache) -> Callable[[], bytes]:
    """One scrape of the worker's business exposition, as `streams/topology.py` does it."""
    return lambda: cache.render(cache.take())


def win_new_deals(workload: Workload, deals: int, salt: str) -> None:
    """`deals` new deals created and won an hour before the clock, by random sellers."""
    chooser = random.Random(salt)  # noqa: S311 - a workload, not a secret
    for number in range(deals):
        deal_id = f"bench-scrape-{salt}-{number}"
        created = dataclasses.replace(
            workload.first,
            event_id=f"{deal_id}-created",
            occurred_at=NOW - timedelta(hours=2),
            deal_id=deal_id,
            owner=chooser.choice(workload.owners),
            amount=Money(Decimal(chooser.randrange(100, 100_000)), "USD"),
        )
        won = DealEvent(
            event_id=f"{deal_id}-won",
            type=EventType.WON,
            occurred_at=NOW - timedelta(hours=1),
            deal_id=deal_id,
            tenant=workload.first.tenant,
        )
        workload.fold.accept(created, 0)
        workload.fold.accept(won, 0)


def _timed(work: Callable[[], bytes]) -> tuple[float, bytes]:
    gc.collect()
    started = time.perf_counter()
    body = work()
    return time.perf_counter() - started, body


def _ms(timings: list[float]) -> float:
    return round(statistics.median(timings) * 1000, 1)


def measure(
    sellers: int,
    *,
    deals_per_seller: int = DEFAULT_DEALS_PER_SELLER,
    runs: int = DEFAULT_RUNS,
    seed: int = 1,
    cap: int = DEFAULT_MAX_SELLERS_PER_TENANT,
    changed_deals: int = DEFAULT_CHANGED_DEALS,
) -> Measurement:
    """Scrape cost at `sellers` sellers, with the cap at `cap` and with it off."""
    with _workers_collector():
        started = time.perf_counter()
        workload = build_workload(sellers, deals_per_seller, seed)
        build_s = round(time.perf_counter() - started, 1)
        return Measurement(
            sellers=sellers,
            deals=workload.deals,
            events=workload.events,
            build_s=build_s,
            capped=scrape_cost(workload, cap, runs, changed_deals),
            uncapped=scrape_cost(workload, max(sellers, cap), runs, changed_deals),
        )


@contextmanager
def _workers_collector() -> Iterator[None]:
    """Python's garbage collector tuned as the worker tunes it, then as it was."""
    thresholds = gc.get_threshold()
    tune_collector(Settings())
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def table(measurements: Sequence[Measurement]) -> str:
    header = (
        f"{'sellers':>8} {'deals':>7} {'events':>8} {'cap':>7} {'exported':>8} {'folded':>7} "
        f"{'series':>8} {'scrape ms':>10} {'cold ms':>8} {'bytes':>11}"
    )
    rows = [header, "-" * len(header)]
    for found in measurements:
        for cost in (found["capped"], found["uncapped"]):
            rows.append(
                f"{found['sellers']:>8} {found['deals']:>7} {found['events']:>8} "
                f"{cost['cap']:>7} {cost['sellers_exported']:>8} {cost['folded']:>7} "
                f"{cost['series']:>8} "
                f"{cost['scrape_ms']:>10.1f} {cost['cold_ms']:>8.1f} "
                f"{cost['bytes']:>11}"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sellers", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument("--deals-per-seller", type=int, default=DEFAULT_DEALS_PER_SELLER)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="scrapes timed, median")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cap", type=int, default=DEFAULT_MAX_SELLERS_PER_TENANT)
    parser.add_argument(
        "--changed-deals",
        type=int,
        default=DEFAULT_CHANGED_DEALS,
        help="deals won between two timed scrapes",
    )
    parser.add_argument("--json", type=Path, help="also write the measurements there")
    args = parser.parse_args()
    measurements: list[Measurement] = []
    for sellers in args.sellers:
        measurements.append(
            measure(
                sellers,
                deals_per_seller=args.deals_per_seller,
                runs=args.runs,
                seed=args.seed,
                cap=args.cap,
                changed_deals=args.changed_deals,
            )
        )
        print(f"built {sellers} sellers in {measurements[-1]['build_s']} s", flush=True)
    print(table(measurements))
    if args.json is not None:
        args.json.write_text(json.dumps(measurements, indent=2) + "\n")


if __name__ == "__main__":
    main()
