"""Latency at a steady produce rate: Kafka timestamp -> folded, p50 / p99 / max.

One worker of its own group owns every partition of an empty topic; the
simulator's producer then sends at a fixed rate (token bucket) for a while, and
the worker's own histogram `dealpulse_kafka_delay_seconds` (observed at each
fold, `streams/worker/engine_metrics.py`) is read before and after: the
difference holds exactly the events of that rate. Quantiles are interpolated
within buckets as Prometheus' `histogram_quantile` does, so they are as sharp
as the buckets (…, 0.25, 0.5, 1, …s); `share_within_500ms` is exact, and
p99 <= 500 ms holds exactly when it is at least 0.99. The maximum is given as
the bucket bound it is under.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.config import BenchConfig
from bench.dealpulse_runs import worker
from bench.drain import drain
from bench.kafka_probe import OffsetProbe, create_topic
from bench.processes import Service, get_bytes
from bench.workload import produce_all
from streams.simulator import OutboundMessage

DELAY_HISTOGRAM = "dealpulse_kafka_delay_seconds"
OWNED_GAUGE = "dealpulse_partitions_owned"
TARGET_SECONDS = 0.5
READY_POLL_SECONDS = 0.5
READY_TIMEOUT_SECONDS = 120.0

Buckets = list[tuple[float, float]]
"""(upper bound, cumulative count), ascending, ending with +Inf."""


def scrape(service: Service) -> dict[str, Any]:
    text = get_bytes(f"{service.base_url}/metrics").decode()
    buckets: Buckets = []
    owned = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == DELAY_HISTOGRAM:
            buckets = sorted(
                (float(sample.labels["le"]), sample.value)
                for sample in family.samples
                if sample.name.endswith("_bucket")
            )
        elif family.name == OWNED_GAUGE:
            owned = sum(sample.value for sample in family.samples)
    return {"buckets": buckets, "owned": owned}


def difference(after: Buckets, before: Buckets) -> Buckets:
    earlier = dict(before)
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in after]


def quantile(q: float, buckets: Buckets) -> float | None:
    """`histogram_quantile(q, ...)`; None when it falls in the +Inf bucket or there is no data."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return None
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return None


def summary(buckets: Buckets) -> dict[str, Any]:
    total = buckets[-1][1] if buckets else 0.0
    max_under = next((bound for bound, count in buckets if count >= total), math.inf)
    within = next((count for bound, count in buckets if bound == TARGET_SECONDS), None)
    return {
        "events_observed": int(total),
        "p50_seconds": _rounded(quantile(0.5, buckets)),
        "p99_seconds": _rounded(quantile(0.99, buckets)),
        "max_seconds_at_most": None if math.isinf(max_under) else max_under,
        "share_within_500ms": round(within / total, 5) if within is not None and total else None,
        "buckets": [[("+Inf" if math.isinf(b) else b), int(c)] for b, c in buckets],
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


async def latency(
    config: BenchConfig, probe: OffsetProbe, found: Sequence[OutboundMessage]
) -> dict[str, Any]:
    topic = config.name("latency")
    group = config.name("dealpulse-latency")
    await create_topic(config.bootstrap, topic, config.partitions)
    service = worker(
        config, topic=topic, group=group, data_dir=config.work_dir / group, label="latency"
    )
    results: dict[str, Any] = {"seconds_per_rate": config.latency_seconds}
    with service:
        await _until_owning_all(service, config.partitions)
        offset = 0
        for rate in config.latency_rates:
            count = int(rate * config.latency_seconds)
            batch = found[offset : offset + count]
            offset += count
            before = await asyncio.to_thread(scrape, service)
            started = time.monotonic()
            sent = await produce_all(batch, topic, config.bootstrap, rate=rate)
            produce_seconds = time.monotonic() - started
            await drain(probe, group, topic, [service], config.timeout_seconds, started)
            after = await asyncio.to_thread(scrape, service)
            measured = summary(difference(after["buckets"], before["buckets"]))
            measured["target_rate"] = rate
            measured["produced"] = sent
            measured["achieved_rate"] = round(sent / produce_seconds, 1)
            results[str(rate)] = measured
        results["memory_peak_rss_bytes"] = service.peak_rss_bytes
    return results


async def _until_owning_all(service: Service, partitions: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        service.check_running()
        try:
            if (await asyncio.to_thread(scrape, service))["owned"] >= partitions:
                return
        except OSError:
            pass
        await asyncio.sleep(READY_POLL_SECONDS)
    raise TimeoutError(
        f"latency worker did not own {partitions} partitions; see {service.log_path}"
    )
