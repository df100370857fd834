"""The simulated sales organisation: its pipelines, sellers and tenants.

The numbers are picked to look like a B2B SaaS CRM, not measured from one:
new business is won about one time in five after a cycle of a month or two,
expansions about twice as often and faster, renewals mostly close. What matters
for dealpulse is that every metric (win rate, cycle time, churn, stage
conversion) gets data with a believable shape and spread.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cache

from streams.domain.events import DEFAULT_TENANT

LOSS_REASONS = ("price", "competitor", "no budget", "timing", "no decision", "went dark")
CHURN_REASONS = ("price", "switched to competitor", "poor adoption", "budget cut", "acquired")


@dataclass(frozen=True, slots=True)
class Stage:
    """One open stage; a deal leaves it by advancing or by being lost there."""

    name: str
    advance_probability: float
    median_dwell: timedelta


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A sales process: open stages in order, then won (after the last) or lost.

    `weight` is the pipeline's relative share of new deals; amounts are
    lognormal around `median_amount` (major currency units) with `amount_sigma`
    as the log-space spread, so a few deals are much larger than the rest.
    """

    name: str
    stages: tuple[Stage, ...]
    loss_reasons: tuple[str, ...]
    churn_reasons: tuple[str, ...]
    churn_probability: float
    median_amount: float
    amount_sigma: float
    weight: float


def _days(days: float) -> timedelta:
    return timedelta(days=days)


NEW_BUSINESS = Pipeline(
    name="new-business",
    stages=(
        Stage("lead", 0.65, _days(2)),
        Stage("qualified", 0.75, _days(5)),
        Stage("demo", 0.75, _days(7)),
        Stage("proposal", 0.70, _days(10)),
        Stage("negotiation", 0.75, _days(14)),
    ),
    loss_reasons=LOSS_REASONS,
    churn_reasons=CHURN_REASONS,
    churn_probability=0.12,
    median_amount=24_000.0,
    amount_sigma=1.0,
    weight=0.55,
)

EXPANSION = Pipeline(
    name="expansion",
    stages=(
        Stage("discovery", 0.80, _days(3)),
        Stage("scoping", 0.80, _days(6)),
        Stage("proposal", 0.80, _days(8)),
        Stage("approval", 0.85, _days(10)),
    ),
    loss_reasons=("no budget", "timing", "no decision", "price"),
    churn_reasons=CHURN_REASONS,
    churn_probability=0.08,
    median_amount=9_000.0,
    amount_sigma=0.9,
    weight=0.25,
)

RENEWAL = Pipeline(
    name="renewal",
    stages=(
        Stage("upcoming", 0.97, _days(20)),
        Stage("in-review", 0.95, _days(7)),
        Stage("quote-sent", 0.92, _days(5)),
        Stage("commit", 0.95, _days(3)),
    ),
    loss_reasons=("price", "competitor", "poor adoption", "no budget"),
    churn_reasons=CHURN_REASONS,
    churn_probability=0.10,
    median_amount=30_000.0,
    amount_sigma=0.8,
    weight=0.20,
)

CATALOGUE = (NEW_BUSINESS, EXPANSION, RENEWAL)


@cache
def pipelines_for(count: int) -> tuple[Pipeline, ...]:
    """The first `count` pipelines, cycling the catalogue with numbered copies.

    More pipelines than the catalogue holds come out as "new-business-2",
    "expansion-2", ...: same shape, distinct name, so per-pipeline metrics get
    more series without inventing sales processes.
    """
    pipelines: list[Pipeline] = []
    for index in range(count):
        base = CATALOGUE[index % len(CATALOGUE)]
        lap = index // len(CATALOGUE)
        name = base.name if lap == 0 else f"{base.name}-{lap + 1}"
        pipelines.append(replace(base, name=name))
    return tuple(pipelines)


@cache
def seller_ids(count: int) -> tuple[str, ...]:
    """Seller ids "seller-001" onwards; zero-padded so they sort like numbers."""
    return tuple(f"seller-{number:03d}" for number in range(1, count + 1))


@cache
def tenant_ids(count: int) -> tuple[str, ...]:
    """A single tenant is the domain's default one; several are "tenant-01"..."""
    if count == 1:
        return (DEFAULT_TENANT,)
    return tuple(f"tenant-{number:02d}" for number in range(1, count + 1))
