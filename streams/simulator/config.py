"""The one frozen object that fully determines a simulation run.

Two runs with equal configs (and the same `now`) emit the same bytes, so the
config is the thing to log, share and put in a bug report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streams.errors import ConfigurationError

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_SPAN = timedelta(days=90)
MAX_PERCENT = 100.0


class SimulationConfigError(ConfigurationError, ValueError):
    """A `SimulationConfig` that cannot describe a run.

    A `ValueError` too, so callers validating plain arguments can catch it the
    usual way, and a `ConfigurationError` so the CLI reports it like any other.
    """


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to simulate: how many deals, who sells them, and which faults to inject.

    Deals are created uniformly over `[start, start + span)`; their later events
    (wins, churn) may fall well after that window. Fault percentages are of the
    valid events, see `streams.simulator.faults.fault_count`.
    """

    seed: int
    deals: int
    sellers: int = 20
    pipelines: int = 3
    tenants: int = 1
    start: datetime = DEFAULT_START
    span: timedelta = DEFAULT_SPAN
    duplicate_pct: float = 0.0
    out_of_order_pct: float = 0.0
    late_pct: float = 0.0
    invalid_pct: float = 0.0

    def __post_init__(self) -> None:
        _require(self.deals >= 0, f"deals must be >= 0, got {self.deals}")
        for name in ("sellers", "pipelines", "tenants"):
            count: int = getattr(self, name)
            _require(count >= 1, f"{name} must be >= 1, got {count}")
        _require(
            self.start.tzinfo is not None and self.start.utcoffset() == timedelta(0),
            f"start must be an aware UTC datetime, got {self.start!r}",
        )
        _require(self.span > timedelta(0), f"span must be positive, got {self.span}")
        for name in ("duplicate_pct", "out_of_order_pct", "late_pct", "invalid_pct"):
            percent: float = getattr(self, name)
            _require(
                math.isfinite(percent) and 0.0 <= percent <= MAX_PERCENT,
                f"{name} must be between 0 and {MAX_PERCENT:g}, got {percent}",
            )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SimulationConfigError(message)
