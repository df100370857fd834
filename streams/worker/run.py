"""Running one worker process: create the topics, then hand over to Faust's worker."""

from __future__ import annotations

import asyncio

import faust
from prometheus_client import disable_created_metrics

from streams.gc_threshold import tune_collector
from streams.kafka.availability import wait_for_kafka
from streams.kafka.topics import ensure_topics
from streams.logs import logging_config
from streams.preflight import ensure_worker_can_start
from streams.settings import Settings
from streams.topology import build_topology


def run_worker(settings: Settings) -> None:
    """Blocks until the worker is stopped (SIGINT/SIGTERM)."""
    ensure_worker_can_start(settings)
    asyncio.run(_topics_once_kafka_answers(settings))
    asyncio.set_event_loop(asyncio.new_event_loop())  # Faust's worker wants a current loop
    # `_created` series only double the scrape size; the function is untyped upstream.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    tune_collector(settings)
    topology = build_topology(settings)
    worker = faust.Worker(
        topology.app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level),
        quiet=True,
    )
    worker.spinner = None  # its log handler would lower the root level to DEBUG
    worker.execute_from_commandline()


async def _topics_once_kafka_answers(settings: Settings) -> None:
    await wait_for_kafka(settings)
    await ensure_topics(settings)
