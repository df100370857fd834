"""Events/s of Faust's own per-message path: what a worker on Faust costs before any fold.

    .venv/bin/python bench/faust_floor.py --events 100000

Needs a broker: the local one (`dealpulse kafka up`) or DEALPULSE_KAFKA_BOOTSTRAP.
Pre-produces N simulated events to a fresh 8-partition topic, then runs, one
process each, a Faust app (the worker's Faust options: RocksDB store, producer
linger) whose agent reads that topic as the worker's does (`noack().events()`,
acknowledged by hand) and

- `ack`: only acknowledges each message;
- `decode`: also decodes its JSON (orjson);
- `table`: also writes a table row per event (the decoded event, about the size of
  a deal's history), so one RocksDB write and one changelog message per event, as
  the deal table does.

Each prints events/s and CPU µs per event of its process (user + system, all
threads) from the first message to the last. The differences between the modes
are the costs of Faust's stream, of decoding, and of a table write; the worker
(`bench/ingest_rate.py`) adds the ingest checks and the fold.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, from anywhere

import faust
import orjson

from streams.engine.partition_store import memory_budget
from streams.kafka.topics import ensure_topics
from streams.settings import Settings
from streams.simulator import SimulationConfig
from streams.simulator.generate import valid_messages
from streams.simulator.sinks import produce

MODES = ("ack", "decode", "table")
PARTITIONS = 8


def run_mode(mode: str, topic: str, events: int, settings: Settings, data_dir: str) -> None:
    """The child: a Faust worker that reads `events` messages of `topic`, then reports."""
    app = faust.App(
        f"floor-{mode}-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{settings.bootstrap_servers}",
        store="rocksdb://",
        datadir=data_dir,
        topic_partitions=PARTITIONS,
        consumer_auto_offset_reset="earliest",
        producer_linger=settings.producer_linger_seconds,
        web_enabled=False,
        autodiscover=False,
    )
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    table = (
        app.Table(
            "rows",
            partitions=PARTITIONS,
            schema=faust.Schema(key_serializer="json", value_serializer="json"),
            options=memory_budget(settings.rocksdb_memory_mb),
        )
        if mode == "table"
        else None
    )
    seen = 0
    started: tuple[float, float] = (0.0, 0.0)

    @app.agent(source)
    async def consume(stream: Any) -> None:
        nonlocal seen, started
        async for event in stream.noack().events():
            if seen == 0:
                started = (time.perf_counter(), time.process_time())
            if mode != "ack":
                value = orjson.loads(event.message.value)
                if table is not None:
                    table[event.message.key.decode()] = value
            event.ack()
            seen += 1
            if seen == events:
                wall = time.perf_counter() - started[0]
                cpu = time.process_time() - started[1]
                print(
                    f"{mode:>6}: {events / wall:>9,.0f} events/s, "
                    f"{1e6 * cpu / events:>6,.0f} µs CPU per event",
                    flush=True,
                )
                os._exit(0)  # the measurement is done; a clean Faust shutdown takes seconds

    faust.Worker(
        app, loglevel="WARNING", quiet=True, redirect_stdouts=False
    ).execute_from_commandline()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = Settings()
    if args.child:
        with tempfile.TemporaryDirectory() as data_dir:
            run_mode(args.child, args.topic, args.events, settings, data_dir)
        return
    topic = f"bench.floor.{uuid.uuid4().hex[:8]}"
    messages = valid_messages(SimulationConfig(seed=1, deals=args.events // 4 + 100))
    messages = messages[: args.events]
    spec = Settings(topic_events=topic, topic_dlq=f"{topic}.dlq", topic_partitions=PARTITIONS)
    asyncio.run(ensure_topics(spec))
    asyncio.run(produce(messages, topic, bootstrap_servers=settings.bootstrap_servers))
    for mode in args.modes.split(","):
        subprocess.run(  # noqa: S603 - this script, with our own interpreter
            [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--topic",
                topic,
                "--events",
                str(len(messages)),
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
