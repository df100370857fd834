"""dealpulse itself: one worker and two, exactness, memory, and recovery after SIGKILL.

Each scenario is a fresh consumer group (so it reads the workload from the
start) running the real `python -m streams worker`, with the workload's fixed
clock so its numbers can be compared with the batch result exactly.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.compare import compare_won, exactness
from bench.config import CLOCK, BenchConfig
from bench.drain import drain
from bench.kafka_probe import OffsetProbe
from bench.processes import Service, broker_pids, cpu_seconds, free_port, get_json
from bench.workload import Expected, Snapshot, won_totals
from streams.domain.metric_rows import from_rows

STATE_PATH = "/state/aggregates"
RECOVERY_POLL_SECONDS = 0.25
MB = 1_000_000


def _cpu(services: Sequence[Service], brokers: Sequence[int]) -> dict[str, float | None]:
    found = {f"worker-{index}": cpu_seconds(s.pid) for index, s in enumerate(services)}
    for pid in brokers:
        found[f"broker-{pid}"] = cpu_seconds(pid)
    return found


def _cpu_split(
    before: dict[str, float | None], after: dict[str, float | None]
) -> dict[str, float | None]:
    """CPU seconds each worker and the broker used while the workers drained the topic: on
    one machine they share the cores, and this says how."""
    split: dict[str, float | None] = {}
    for name, start in before.items():
        end = after.get(name)
        split[name] = None if start is None or end is None else round(end - start, 2)
    return split


def worker(
    config: BenchConfig,
    *,
    topic: str,
    group: str,
    data_dir: Path,
    label: str,
    port: int | None = None,
) -> Service:
    port = port or free_port()
    env = {
        "DEALPULSE_KAFKA_BOOTSTRAP": config.bootstrap,
        "DEALPULSE_TOPIC_EVENTS": topic,
        "DEALPULSE_TOPIC_DLQ": config.name("dlq"),
        "DEALPULSE_TOPIC_PARTITIONS": str(config.partitions),
        "DEALPULSE_APP_ID": group,
        "DEALPULSE_DATA_DIR": str(data_dir),
        "DEALPULSE_WEB_PORT": str(port),
        "DEALPULSE_WEB_STATE_ENABLED": "true",  # the bench compares every worker's state
        "DEALPULSE_CLOCK": CLOCK.isoformat(),
        "DEALPULSE_LOG_LEVEL": "warn",
    }
    log_path = config.work_dir / "logs" / f"{label}-{port}.log"
    return Service([sys.executable, "-m", "streams", "worker"], env, log_path, port)


def worker_state(service: Service) -> tuple[list[int], Snapshot]:
    """The partitions a worker owns and their aggregates, summed by the worker."""
    body = get_json(f"{service.base_url}{STATE_PATH}")
    return [int(p) for p in body["partitions"]], from_rows(body["rows"])


def summed(snapshots: Sequence[Snapshot]) -> Snapshot:
    total: Snapshot = {}
    for snapshot in snapshots:
        for key, value in snapshot.items():
            total[key] = total.get(key, Decimal(0)) + value
    return {key: value for key, value in total.items() if value != 0}


def served_state(services: Sequence[Service]) -> tuple[list[int], Snapshot]:
    """Partitions served (with repeats, if two workers claim one) and their summed aggregates."""
    owned: list[int] = []
    parts: list[Snapshot] = []
    for service in services:
        partitions, snapshot = worker_state(service)
        owned.extend(partitions)
        parts.append(snapshot)
    return sorted(owned), summed(parts)


def digest_check(service: Service, expected: Expected, config: BenchConfig) -> dict[str, Any]:
    """`check` for one worker by the digest of its state: no copy of the state moves.

    Only exactness is known from a digest: when it differs, `check` reads the rows.
    """
    found = get_json(f"{service.base_url}{STATE_PATH}?digest=1")
    owned = [int(partition) for partition in found["partitions"]]
    all_once = owned == list(range(config.partitions))
    exact = all_once and found["digest"] == expected.digest
    result: dict[str, Any] = {
        "exact": exact,
        "keys": len(expected.snapshot),
        "compared_by": "digest",
        "partitions_served": owned,
        "all_partitions_once": all_once,
    }
    if exact:
        result["differing_keys"] = 0
        result["won_per_seller_day"] = compare_won(
            _won_as_floats(expected.snapshot), expected.won, expected.first_retained_day
        )
    return result


def check(services: Sequence[Service], expected: Expected, config: BenchConfig) -> dict[str, Any]:
    """Every key of the workers' summed state against the batch (by digest for one worker,
    reading the rows only when it differs: the whole state as JSON took a worker's memory
    from 800 MB to 1,360 MB at a million events)."""
    if len(services) == 1:
        by_digest = digest_check(services[0], expected, config)
        if by_digest["exact"]:
            return by_digest
    owned, actual = served_state(services)
    result = exactness(actual, expected.snapshot)
    result["partitions_served"] = owned
    result["all_partitions_once"] = owned == list(range(config.partitions))
    result["exact"] = bool(result["exact"] and result["all_partitions_once"])
    result["won_per_seller_day"] = compare_won(
        _won_as_floats(actual), expected.won, expected.first_retained_day
    )
    return result


def _won_as_floats(snapshot: Snapshot) -> dict[tuple[str, str], tuple[float, int]]:
    won = won_totals(snapshot)
    keys = set(won.revenue) | set(won.deals)
    return {
        (seller, day.isoformat()): (
            float(won.revenue.get((seller, day), Decimal(0))),
            won.deals.get((seller, day), 0),
        )
        for seller, day in keys
    }


def memory(peak_rss_bytes: int) -> dict[str, Any]:
    return {"peak_rss_bytes": peak_rss_bytes, "peak_rss_mb": round(peak_rss_bytes / MB, 1)}


async def workers_run(
    config: BenchConfig,
    probe: OffsetProbe,
    expected: Expected,
    *,
    topic: str,
    count: int,
    keep: bool = False,
) -> tuple[dict[str, Any], list[Service]]:
    """`count` workers of a new group drain the topic; their state is checked against the batch."""
    group = config.name(f"dealpulse-{count}w")
    services = [
        worker(
            config,
            topic=topic,
            group=group,
            data_dir=config.work_dir / f"{group}-{index}",
            label=f"dealpulse-{count}w-{index}",
        )
        for index in range(count)
    ]
    try:
        for service in services:
            service.start()
        brokers = broker_pids()
        before = _cpu(services, brokers)
        result = await drain(probe, group, topic, services, config.timeout_seconds)
        result["workers"] = count
        result["cpu_seconds"] = _cpu_split(before, _cpu(services, brokers))
        folding_peak = max(service.peak_rss_bytes for service in services)
        result["check"] = await asyncio.to_thread(check, services, expected, config)
        result["memory"] = {
            **memory(max(service.peak_rss_bytes for service in services)),
            "peak_rss_mb_before_state_request": round(folding_peak / MB, 1),
        }
    except BaseException:
        for service in services:
            service.stop()
        raise
    if not keep:
        for service in services:
            service.stop()
    return result, services


async def recovery(
    config: BenchConfig,
    probe: OffsetProbe,
    expected: Expected,
    running: Service,
    *,
    topic: str,
    group: str,
    wipe_state: bool,
) -> tuple[dict[str, Any], Service]:
    """SIGKILL `running`, restart it (its RocksDB kept or wiped): seconds until it is correct.

    Restarted as itself, as a supervisor restarts it: the same data directory and
    web port, so the same static group member.
    """
    running.kill()
    data_dir = Path(running.env["DEALPULSE_DATA_DIR"])
    if wipe_state:
        shutil.rmtree(data_dir, ignore_errors=True)
    label = "recovery-changelog" if wipe_state else "recovery-local"
    restarted = worker(
        config, topic=topic, group=group, data_dir=data_dir, label=label, port=running.web_port
    )
    restarted.start()
    try:
        timeline = await _seconds_until_correct(
            restarted, probe, expected, config, group=group, topic=topic
        )
    except BaseException:
        restarted.stop()
        raise
    return {
        "state": "wiped: restored from the changelog" if wipe_state else "local RocksDB kept",
        **timeline,
        "memory": memory(restarted.peak_rss_bytes),
    }, restarted


async def _seconds_until_correct(
    service: Service,
    probe: OffsetProbe,
    expected: Expected,
    config: BenchConfig,
    *,
    group: str,
    topic: str,
) -> dict[str, Any]:
    """From the process start to the start of the first state request that was correct.

    Also when it first answered at all and first served every partition, which
    tells start-up, the group's rebalance and the state's recovery apart.
    """
    timeline: dict[str, Any] = {"state_checks": 0}
    while True:
        service.check_running()
        asked_at = time.monotonic()
        since_start = round(asked_at - service.started_at, 3)
        if since_start > config.timeout_seconds:
            raise TimeoutError(f"worker not correct {since_start:.0f} s after restart: {timeline}")
        try:  # by digest only: a state still recovering is not read row by row
            result = await asyncio.to_thread(digest_check, service, expected, config)
        except OSError:  # not serving yet
            await asyncio.sleep(RECOVERY_POLL_SECONDS)
            continue
        timeline["state_checks"] += 1
        timeline.setdefault("first_answer_after_seconds", since_start)
        if result["all_partitions_once"]:
            timeline.setdefault("all_partitions_after_seconds", since_start)
        if result["exact"] and (await probe.progress(group, topic)).settled:
            timeline["seconds_to_correct"] = since_start
            return timeline
        await asyncio.sleep(RECOVERY_POLL_SECONDS)
