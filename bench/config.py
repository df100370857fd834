"""What one bench run measures and where: a frozen value built once by the CLI.

At `scale=1.0` the workload is issue 5's: 1,000,000 events from 200 sellers in
3 pipelines on 8 partitions, 1 % duplicates and 5 % out-of-order. `scale`
shrinks the event count (and with it the deals) for quick runs.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

FULL_EVENTS = 1_000_000
EVENTS_PER_DEAL = 4.1
"""What the simulator's lifecycles average with these settings (measured, seeds 7 and 42)."""
FULL_LATENCY_SECONDS = 30.0
MIN_LATENCY_SECONDS = 3.0
MIN_EVENTS = 500
SELLERS = 200
PIPELINES = 3
PARTITIONS = 8
DUPLICATE_PCT = 1.0
OUT_OF_ORDER_PCT = 5.0
LATENCY_RATES = (1_000, 5_000, 20_000)
SCRAPE_SELLERS = (100, 1_000, 10_000)
CLOCK = datetime(2026, 11, 1, tzinfo=UTC)
"""The fixed "now" of the workload, the workers (DEALPULSE_CLOCK) and the batch oracle."""
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PEERS_PYTHON = REPO_ROOT / ".venv-bench" / "bin" / "python"


def events_at(scale: float) -> int:
    return max(MIN_EVENTS, round(FULL_EVENTS * scale))


def deals_for(events: int) -> int:
    """Enough deals for `events` events; the stream is cut at exactly `events`."""
    return math.ceil(events / EVENTS_PER_DEAL * 1.05)


PARTS = ("ceiling", "dealpulse", "two_workers", "peers", "latency", "scrape")
"""What `--only` may pick; `dealpulse` is one worker, its recovery and its memory."""


@dataclass(frozen=True, slots=True)
class BenchConfig:
    scale: float
    out_dir: Path
    bootstrap: str
    work_dir: Path
    """State directories and logs of every process this run starts."""
    seed: int = 42
    deals: int | None = None
    """None: as many as `events` needs (about EVENTS_PER_DEAL events each)."""
    sellers: int = SELLERS
    pipelines: int = PIPELINES
    partitions: int = PARTITIONS
    duplicate_pct: float = DUPLICATE_PCT
    out_of_order_pct: float = OUT_OF_ORDER_PCT
    latency_rates: tuple[int, ...] = LATENCY_RATES
    latency_duration: float | None = None
    """Seconds of steady production per rate; None: 30 s x scale, at least 3 s."""
    scrape_sellers: tuple[int, ...] = SCRAPE_SELLERS
    peers_python: Path = DEFAULT_PEERS_PYTHON
    """The interpreter of the separate venv holding Quix Streams (`make bench`)."""
    update_docs: bool = False
    drain_timeout: float | None = None
    """Seconds one engine may take to drain the workload; None: see `timeout_seconds`."""
    parts: frozenset[str] = frozenset(PARTS)
    """The measurements to run: all of them for a run whose table is the latest."""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def partial(self) -> bool:
        return self.parts != frozenset(PARTS)

    @property
    def events(self) -> int:
        return events_at(self.scale)

    @property
    def simulated_deals(self) -> int:
        return self.deals if self.deals is not None else deals_for(self.events)

    @property
    def latency_seconds(self) -> float:
        if self.latency_duration is not None:
            return self.latency_duration
        return max(MIN_LATENCY_SECONDS, FULL_LATENCY_SECONDS * self.scale)

    @property
    def timeout_seconds(self) -> float:
        """Upper bound for one engine to drain the workload: 200 events/s, at least 3 min."""
        if self.drain_timeout is not None:
            return self.drain_timeout
        return max(180.0, self.events / 200)

    def name(self, what: str) -> str:
        """A topic or consumer-group name of this run: runs and scenarios never share one."""
        return f"bench-{self.run_id}-{what}"
