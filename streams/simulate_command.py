"""`dealpulse simulate`: the simulator to Kafka or to a JSONL file, with a progress bar."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.kafka.availability import wait_for_kafka
from streams.kafka.topics import ensure_topics
from streams.settings import Settings
from streams.simulator import OutboundMessage, SimulationConfig, generate
from streams.simulator.sinks import produce, write_jsonl


@dataclass(frozen=True)
class SimulateRequest:
    config: SimulationConfig
    rate: float | None
    out: Path | None  # None: produce to Kafka; Path("-"): JSONL on stdout
    cut_at_now: bool


def default_start(span: timedelta) -> datetime:
    """Deals created over the span that ends at the current hour, so the data looks live."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - span


def run_simulation(settings: Settings, request: SimulateRequest, *, quiet: bool = False) -> int:
    now = datetime.now(UTC) if request.cut_at_now else None
    messages = generate(request.config, now=now)
    if request.out is not None:
        if str(request.out) == "-":
            return write_jsonl(messages, sys.stdout.buffer)
        return write_jsonl(messages, request.out)
    return asyncio.run(_produce(settings, request, messages, quiet=quiet))


async def _produce(
    settings: Settings,
    request: SimulateRequest,
    messages: Iterable[OutboundMessage],
    *,
    quiet: bool,
) -> int:
    await wait_for_kafka(settings)
    await ensure_topics(settings)
    progress = Progress(
        TextColumn(f"producing to {settings.topic_events}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=quiet or not sys.stderr.isatty(),
        transient=False,
    )
    with progress:
        task = progress.add_task("produce", total=None)
        sent = await produce(
            messages,
            settings.topic_events,
            bootstrap_servers=settings.bootstrap_servers,
            client_options=settings.kafka_client_options(),
            rate=request.rate,
            on_sent=lambda count: progress.advance(task, count),
        )
    return sent
