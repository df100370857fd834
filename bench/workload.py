"""The workload: simulated once from a seed, produced to Kafka, and its batch result.

The batch result is `dealpulse replay`'s computation (`streams.replay_command.replay`,
which runs `streams.domain.replay.compute`) over the very messages produced: the
oracle every engine of the run is checked against.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from bench.config import CLOCK, BenchConfig, deals_for
from streams.domain.contributions import ContributionKey
from streams.domain.metric_rows import from_rows, rows_digest
from streams.domain.metrics import DEALS_WON, WON_REVENUE
from streams.domain.windows import Granularity
from streams.ingest.message import RawMessage
from streams.metric_context import build_context
from streams.replay_command import replay
from streams.settings import Settings
from streams.simulator import OutboundMessage, SimulationConfig, generate
from streams.simulator.sinks import produce

Snapshot = dict[ContributionKey, Decimal]
SellerDay = tuple[str, date]
SIMULATED_DAYS = timedelta(days=140)
HISTORY_DAYS = timedelta(days=150)
WON_METRICS = frozenset({WON_REVENUE.name, DEALS_WON.name})


@dataclass(frozen=True, slots=True)
class WonTotals:
    """Won revenue (reporting currency) and deals won per (seller, UTC day)."""

    revenue: dict[SellerDay, Decimal]
    deals: dict[SellerDay, int]


@dataclass(frozen=True, slots=True)
class Expected:
    snapshot: Snapshot
    deals: int
    """Distinct deals with an accepted event: the deal count of a worker holding all state."""
    won: WonTotals
    first_retained_day: date
    """Older days are out of dealpulse's retention; peers are compared from this day on."""
    digest: str
    """`rows_digest` of `snapshot`: what a worker with all state answers to `?digest=1`."""


def simulation(config: BenchConfig, *, seed: int, events: int) -> SimulationConfig:
    deals = config.simulated_deals if events == config.events else deals_for(events)
    return SimulationConfig(
        seed=seed,
        deals=deals,
        sellers=config.sellers,
        pipelines=config.pipelines,
        start=CLOCK - HISTORY_DAYS,
        span=SIMULATED_DAYS,
        duplicate_pct=config.duplicate_pct,
        out_of_order_pct=config.out_of_order_pct,
    )


def messages(config: BenchConfig, *, seed: int, events: int) -> list[OutboundMessage]:
    """The first `events` messages of the simulated stream (fewer if the deals run out)."""
    stream = generate(simulation(config, seed=seed, events=events), now=CLOCK)
    return list(itertools.islice(stream, events))


def batch_settings(bootstrap: str) -> Settings:
    return Settings(kafka_bootstrap=bootstrap, clock=CLOCK)


def expected(found: Sequence[OutboundMessage], settings: Settings) -> Expected:
    raw = [
        RawMessage(key=message.key, value=message.value, headers=message.headers)
        for message in found
    ]
    result = replay(settings, lambda: raw, check_key=True)
    snapshot = from_rows(result.rows)
    ctx = build_context(settings, CLOCK)
    return Expected(
        snapshot=snapshot,
        deals=result.deals,
        won=won_totals(snapshot),
        first_retained_day=ctx.cutoffs[Granularity.DAY],
        digest=rows_digest(snapshot.items()),
    )


def won_totals(snapshot: Snapshot) -> WonTotals:
    """Daily won revenue and deals won per seller, summed over tenants and pipelines."""
    revenue: dict[SellerDay, Decimal] = {}
    deals: dict[SellerDay, int] = {}
    for key, value in snapshot.items():
        if key.metric not in WON_METRICS or key.window is None:
            continue
        if key.window.granularity != Granularity.DAY:
            continue
        seller_day = (dict(key.labels)["seller"], key.window.start)
        if key.metric == WON_REVENUE.name:
            revenue[seller_day] = revenue.get(seller_day, Decimal(0)) + value
        else:
            deals[seller_day] = deals.get(seller_day, 0) + int(value)
    return WonTotals(revenue=revenue, deals=deals)


async def produce_all(
    found: Iterable[OutboundMessage],
    topic: str,
    bootstrap: str,
    *,
    rate: float | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> int:
    return await produce(found, topic, bootstrap_servers=bootstrap, rate=rate, on_sent=on_sent)
