"""Ingest rate of one worker: pre-produce N simulated events, time the worker to lag 0.

    .venv/bin/python bench/ingest_rate.py --events 50000
    .venv/bin/python bench/ingest_rate.py --events 50000 --invalid   # every message refused

Needs a broker: the local one (`dealpulse kafka up`) or DEALPULSE_KAFKA_BOOTSTRAP.
Prints events/s from the worker's first committed offset to its last, the
worker's CPU time per event over the same span (user + system, all threads): the
figure to compare on a busy machine, where wall-clock rates swing, and its peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka.topics import ensure_topics
from streams.settings import Settings
from streams.simulator import SimulationConfig
from streams.simulator.generate import valid_messages
from streams.simulator.invalid import INVALID_KINDS, InvalidKind, make_invalid
from streams.simulator.sinks import produce

POLL_SECONDS = 0.1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of the resident set of process `pid` (`VmHWM`), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux `/proc/<pid>/stat`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def committed_total(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except Exception:  # noqa: BLE001 - the group may not exist yet
        return 0
    finally:
        await admin.close()
    return sum(
        max(meta.offset, 0) for tp, meta in offsets.items() if not tp.topic.endswith("leader")
    )


async def end_total(bootstrap: str, topic: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return sum(ends.values())
    finally:
        await asyncio.sleep(0)
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--invalid",
        action="store_true",
        help="Make every message a bad one (the simulator's kinds in rotation, oversize ones "
        "left out): the rate of dead-lettering, to compare with the rate of good events.",
    )
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:8]
    settings = Settings(
        topic_events=f"bench.events.{run_id}",
        topic_dlq=f"bench.dlq.{run_id}",
        app_id=f"bench-{run_id}",
    )
    messages = valid_messages(SimulationConfig(seed=1, deals=args.events // 4 + 100))[: args.events]
    if args.invalid:
        rng = random.Random(1)  # noqa: S311 - seeded bad messages, as the simulator makes them
        # Oversize ones are left out: at 70 KB each they would measure bytes, not messages.
        kinds = [kind for kind in INVALID_KINDS if kind is not InvalidKind.OVERSIZE]
        messages = [
            make_invalid(kinds[index % len(kinds)], message, rng)
            for index, message in enumerate(messages)
        ]
    asyncio.run(ensure_topics(settings))
    asyncio.run(
        produce(messages, settings.topic_events, bootstrap_servers=settings.bootstrap_servers)
    )
    total = asyncio.run(
        end_total(settings.bootstrap_servers, settings.topic_events, settings.topic_partitions)
    )
    with tempfile.TemporaryDirectory() as state:
        env = {
            **os.environ,
            "DEALPULSE_TOPIC_EVENTS": settings.topic_events,
            "DEALPULSE_TOPIC_DLQ": settings.topic_dlq,
            "DEALPULSE_APP_ID": settings.app_id,
            "DEALPULSE_DATA_DIR": str(Path(state) / "worker"),
            "DEALPULSE_WEB_PORT": "16199",
        }
        worker = subprocess.Popen([sys.executable, "-m", "streams", "worker"], env=env)
        try:
            first_at = None
            while True:
                done = asyncio.run(committed_total(settings.bootstrap_servers, settings.app_id))
                if done and first_at is None:
                    first_at, first_done = time.monotonic(), done
                    first_cpu = cpu_seconds(worker.pid)
                if done >= total:
                    break
                time.sleep(POLL_SECONDS)
            elapsed = time.monotonic() - first_at  # type: ignore[operator]
            cpu = cpu_seconds(worker.pid) - first_cpu
            peak = peak_rss_mb(worker.pid)
        finally:
            worker.terminate()
            worker.wait()
    rate = (total - first_done) / elapsed if elapsed > 0 else float("inf")
    print(
        f"{total} events; {total - first_done} after the first commit "
        f"in {elapsed:.1f} s: {rate:,.0f} events/s; "
        f"worker CPU {1e6 * cpu / max(total - first_done, 1):,.0f} µs per event; "
        f"peak RSS {peak:,.0f} MB"
    )


if __name__ == "__main__":
    main()
