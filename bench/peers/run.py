"""Running each peer on the workload topic and checking its numbers against the batch."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.compare import PeerWon, compare_won
from bench.config import REPO_ROOT, BenchConfig
from bench.dealpulse_runs import memory
from bench.drain import drain
from bench.kafka_probe import OffsetProbe, create_topic
from bench.processes import Service, free_port, get_json
from bench.workload import Expected

FETCH_TIMEOUT_MS = 1000
MS = 1000


def _env(config: BenchConfig, topic: str, rates: dict[str, str], data_dir: str) -> dict[str, str]:
    return {
        "BENCH_BOOTSTRAP": config.bootstrap,
        "BENCH_TOPIC": topic,
        "BENCH_PARTITIONS": str(config.partitions),
        "BENCH_RATES": json.dumps(rates),
        "BENCH_DATA_DIR": data_dir,
    }


def _day(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).date().isoformat()


async def faust_plain(
    config: BenchConfig, probe: OffsetProbe, expected: Expected, topic: str, rates: dict[str, str]
) -> dict[str, Any]:
    group = config.name("faust-plain")
    port = free_port()
    env = {
        **_env(config, topic, rates, str(config.work_dir / group)),
        "BENCH_APP_ID": group,
        "BENCH_WEB_PORT": str(port),
    }
    argv = [sys.executable, "-m", "bench.peers.faust_plain"]
    log_path = config.work_dir / "logs" / f"faust-plain-{port}.log"
    with Service(argv, env, log_path, port, cwd=REPO_ROOT) as service:
        result = await drain(probe, group, topic, [service], config.timeout_seconds)
        rows = await asyncio.to_thread(get_json, f"{service.base_url}/state")
        result["memory"] = memory(service.peak_rss_bytes)
    found: PeerWon = {
        (seller, _day(start)): (float(revenue), int(deals))
        for seller, start, revenue, deals in rows
    }
    result["check"] = compare_won(found, expected.won, expected.first_retained_day)
    return result


async def quix(
    config: BenchConfig, probe: OffsetProbe, expected: Expected, topic: str, rates: dict[str, str]
) -> dict[str, Any]:
    if not config.peers_python.exists():
        return {
            "skipped": f"{config.peers_python} not found: `make bench` creates the separate "
            "venv with Quix Streams (its pins conflict with dealpulse's)"
        }
    group = config.name("quix")
    output = config.name("quix-out")
    await create_topic(config.bootstrap, output, config.partitions)
    env = {
        **_env(config, topic, rates, str(config.work_dir / group)),
        "BENCH_GROUP": group,
        "BENCH_OUTPUT": output,
    }
    argv = [str(config.peers_python), "-m", "bench.peers.quix_app"]
    log_path = config.work_dir / "logs" / "quix.log"
    with Service(argv, env, log_path, cwd=REPO_ROOT) as service:
        result = await drain(probe, group, topic, [service], config.timeout_seconds)
        result["memory"] = memory(service.peak_rss_bytes)
    found: dict[tuple[str, str], tuple[float, int]] = {}
    for key, value in await read_topic(config.bootstrap, output, config.partitions):
        window = json.loads(value)
        found[(key.decode(), _day(window["start"] / MS))] = (
            float(window["revenue"]),
            int(window["deals"]),
        )
    result["check"] = compare_won(found, expected.won, expected.first_retained_day)
    return result


async def read_topic(bootstrap: str, topic: str, partitions: int) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of `topic` up to its current end, in offset order per partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        consumer.assign(list(pending))
        await consumer.seek_to_beginning(*pending)
        out: list[tuple[bytes, bytes]] = []
        while pending:
            fetched = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS)
            for tp, records in fetched.items():
                out.extend((r.key, r.value) for r in records if r.offset < ends[tp])
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        return out
    finally:
        await asyncio.sleep(0)
        await consumer.stop()
