"""`dealpulse simulate`: the simulator to Kafka or to a JSONL file, with a progress bar;
with `--format`, as a CRM sends it, to that CRM's bridge."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.errors import ConfigurationError
from streams.kafka.availability import wait_for_kafka
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings
from streams.simulator import OutboundMessage, SimulationConfig, generate
from streams.simulator.crm_formats import SourceFormat, as_source
from streams.simulator.sinks import produce, write_jsonl


@dataclass(frozen=True)
class SimulateRequest:
    config: SimulationConfig
    rate: float | None
    out: Path | None  # None: produce to Kafka; Path("-"): JSONL on stdout
    cut_at_now: bool
    source_format: SourceFormat | None = None
    """As a CRM sends them (None: canonical events): to its bridge, or to `out`."""


def default_start(span: timedelta) -> datetime:
    """Deals created over the span that ends at the current hour, so the data looks live."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - span


def run_simulation(settings: Settings, request: SimulateRequest, *, quiet: bool = False) -> int:
    now = datetime.now(UTC) if request.cut_at_now else None
    messages = generate(request.config, now=now)
    if request.source_format is not None:
        messages = as_source(messages, request.source_format)
    if request.out is not None:
        if str(request.out) == "-":
            return write_jsonl(messages, sys.stdout.buffer)
        return write_jsonl(messages, request.out)
    if request.source_format == "pipedrive":
        return asyncio.run(post_webhooks(settings, messages))
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
    topic = simulation_topic(settings, request.source_format)
    if topic != settings.topic_events:  # what a Connect source would write
        partitions, replicas = settings.topic_partitions, settings.topic_replication_factor
        await ensure_topics(settings, [TopicSpec(topic, partitions, replicas)])
    progress = Progress(
        TextColumn(f"producing to {topic}"),
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
            topic,
            bootstrap_servers=settings.bootstrap_servers,
            client_options=settings.kafka_client_options(),
            rate=request.rate,
            on_sent=lambda count: progress.advance(task, count),
        )
    return sent


def simulation_topic(settings: Settings, source_format: SourceFormat | None) -> str:
    """Where the simulated messages are produced: the events topic, or the topic a
    Kafka Connect source of that CRM writes (Salesforce's, Debezium's)."""
    if source_format == "salesforce":
        return settings.salesforce_topic
    if source_format == "debezium":
        return settings.debezium_topic
    return settings.topic_events


WEBHOOKS_AT_ONCE = 8


async def post_webhooks(settings: Settings, messages: Iterable[OutboundMessage]) -> int:
    """POST each Pipedrive webhook to `dealpulse bridge pipedrive`, as Pipedrive would (with
    its basic auth); the number answered 2xx. One that is not ends the run."""
    url = f"http://{settings.bridge_host}:{settings.bridge_pipedrive_port}/webhooks/pipedrive"
    user, password = settings.pipedrive_username, settings.pipedrive_password
    if user is None or password is None:
        raise ConfigurationError(
            "set DEALPULSE_PIPEDRIVE_USERNAME and DEALPULSE_PIPEDRIVE_PASSWORD, as for the bridge"
        )
    auth = aiohttp.BasicAuth(user, password.get_secret_value())
    pending = iter(messages)
    sent = 0

    async def post_next(session: aiohttp.ClientSession) -> None:
        nonlocal sent
        for message in pending:
            async with session.post(url, data=message.value, auth=auth) as response:
                if response.status >= 300:
                    text = (await response.text())[:200]
                    raise ConfigurationError(f"{url} answered {response.status}: {text}")
            sent += 1

    try:
        async with aiohttp.ClientSession(headers={"Content-Type": "application/json"}) as session:
            await asyncio.gather(*(post_next(session) for _ in range(WEBHOOKS_AT_ONCE)))
    except aiohttp.ClientConnectionError as error:
        raise ConfigurationError(
            f"cannot reach the Pipedrive bridge at {url} ({error}); is `dealpulse bridge "
            "pipedrive` running?"
        ) from error
    return sent
