"""What `dealpulse demo` simulates, fixed at its first run and kept so a second run continues.

The simulation is deterministic, so a demo that knows its seed, its history's
span and cut, and how many live events it has sent can pick up where it
stopped: no event id is sent twice, and the worker's numbers go on from where
they were instead of counting thousands of duplicates.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from streams.simulator import SimulationConfig


class DemoPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str
    topic: str
    requested_seed: int
    """The seed asked for; `seed` differs when the topic held another run's events."""
    seed: int
    deals: int
    start: AwareDatetime
    span_seconds: float
    cut: AwareDatetime
    """The end of the back-dated history; live events continue the stories after it."""
    backfilled: bool = False
    """Whether the whole history up to `cut` was sent (an interrupted backfill is sent again)."""
    live_events_sent: int = 0

    @classmethod
    def first_run(
        cls,
        config: SimulationConfig,
        cut: datetime,
        bootstrap_servers: str,
        topic: str,
        *,
        seed: int | None = None,
    ) -> DemoPlan:
        """A new demo of `config`, simulated with `seed` when given (the config's otherwise)."""
        return cls(
            bootstrap_servers=bootstrap_servers,
            topic=topic,
            requested_seed=config.seed,
            seed=config.seed if seed is None else seed,
            deals=config.deals,
            start=config.start,
            span_seconds=config.span.total_seconds(),
            cut=cut,
        )

    def simulation(self, config: SimulationConfig) -> SimulationConfig:
        """`config` (for its fault rates and sizes) with this plan's history."""
        return dataclasses.replace(
            config,
            seed=self.seed,
            deals=self.deals,
            start=self.start,
            span=timedelta(seconds=self.span_seconds),
        )

    def continues(self, bootstrap_servers: str, topic: str, config: SimulationConfig) -> bool:
        """Whether this plan describes the demo asked for, on the same cluster and topic."""
        return (self.bootstrap_servers, self.topic, self.requested_seed, self.deals) == (
            bootstrap_servers,
            topic,
            config.seed,
            config.deals,
        )

    def backfill_sent(self) -> DemoPlan:
        return self.model_copy(update={"backfilled": True})

    def sent(self, live_events: int) -> DemoPlan:
        return self.model_copy(update={"live_events_sent": live_events})


def load_plan(path: Path) -> DemoPlan | None:
    """The plan saved at `path`; None when there is none or it cannot be read."""
    try:
        return DemoPlan.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def save_plan(plan: DemoPlan, path: Path) -> None:
    """Write the plan whole or not at all: a demo killed mid-write keeps the previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(plan.model_dump_json(indent=2) + "\n")
    os.replace(partial, path)
