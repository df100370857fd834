"""The simulated workload of the exactness tests, and the fixed clock they share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.simulator import OutboundMessage, SimulationConfig, generate

CLOCK = datetime(2026, 11, 1, tzinfo=UTC)
EVENTS_PER_DEAL = 4.4  # the simulator's average


def simulated(events: int, seed: int) -> list[OutboundMessage]:
    """About `events` messages with duplicates, disorder, late and invalid ones."""
    config = SimulationConfig(
        seed=seed,
        deals=int(events / EVENTS_PER_DEAL),
        sellers=40,
        start=CLOCK - timedelta(days=150),
        span=timedelta(days=140),
        duplicate_pct=1.0,
        out_of_order_pct=5.0,
        late_pct=1.0,
        invalid_pct=0.5,
    )
    return list(generate(config, now=CLOCK))


def clocked(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DEALPULSE_CLOCK": CLOCK.isoformat()}
