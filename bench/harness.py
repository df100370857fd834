"""One bench run: every phase in order, each recorded even when another fails.

    workload -> produce -> batch result -> ceilings -> dealpulse (1 worker,
    recovery local and from the changelog, 2 workers) -> peers -> latency -> scrape

A phase that fails records `{"error": ...}` in its section and the run goes
on: a broken peer must not hide dealpulse's figures, nor the reverse.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import ceiling, dealpulse_runs, latency
from bench.config import BenchConfig
from bench.kafka_probe import OffsetProbe, create_topic
from bench.machine import describe
from bench.peers import run as peer_runs
from bench.scrape import scrape_costs
from bench.workload import Expected, batch_settings, expected, messages, produce_all

PHASES = 10
LATENCY_SEED_OFFSET = 1


class Run:
    """The results being built, and the console they are reported on."""

    def __init__(self, config: BenchConfig, console: Console) -> None:
        self.config = config
        self.console = console
        self.results: dict[str, Any] = {
            "run_id": config.run_id,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "config": {
                key: (str(value) if isinstance(value, Path) else value)
                for key, value in asdict(config).items()
            },
        }

    async def phase(
        self, path: tuple[str, ...], step: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any] | None:
        started = time.monotonic()
        try:
            found = await step()
        except Exception as error:  # noqa: BLE001 - recorded, and the run goes on
            found = {"error": f"{type(error).__name__}: {error}"}
            self.console.print(f"[red]{'/'.join(path)} failed:[/red] {found['error']}")
            self.console.print(traceback.format_exc(), markup=False, highlight=False)
        found["phase_seconds"] = round(time.monotonic() - started, 1)
        target = self.results
        for name in path[:-1]:
            target = target.setdefault(name, {})
        target[path[-1]] = found
        return None if "error" in found else found


async def run(config: BenchConfig, console: Console, *, local_broker: bool) -> dict[str, Any]:
    bench = Run(config, console)
    bench.results["machine"] = describe(config.peers_python, local_broker=local_broker)
    settings = batch_settings(config.bootstrap)
    rates = {currency: str(rate) for currency, rate in settings.currency_rates.items()}
    topic = config.name("events")
    progress = Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        phases = progress.add_task("generating the workload", total=PHASES)

        def step(description: str) -> None:
            progress.advance(phases)
            progress.update(phases, description=description)

        found = await asyncio.to_thread(messages, config, seed=config.seed, events=config.events)
        latency_events = int(sum(config.latency_rates) * config.latency_seconds)
        for_latency = await asyncio.to_thread(
            messages, config, seed=config.seed + LATENCY_SEED_OFFSET, events=latency_events
        )
        bench.results["workload"] = {
            "events": len(found),
            "deals": config.simulated_deals,
            "sellers": config.sellers,
            "pipelines": config.pipelines,
            "partitions": config.partitions,
            "duplicate_pct": config.duplicate_pct,
            "out_of_order_pct": config.out_of_order_pct,
            "seed": config.seed,
            "topic": topic,
        }
        step("producing the workload")
        await create_topic(config.bootstrap, topic, config.partitions)
        await create_topic(config.bootstrap, config.name("dlq"), config.partitions)
        produced = progress.add_task("produced", total=len(found))
        await produce_all(
            found, topic, config.bootstrap, on_sent=lambda n: progress.advance(produced, n)
        )
        step("batch result (dealpulse replay)")
        oracle = await asyncio.to_thread(expected, found, settings)
        bench.results["workload"]["distinct_deals"] = oracle.deals
        bench.results["workload"]["batch_keys"] = len(oracle.snapshot)
        del found
        async with OffsetProbe(config.bootstrap) as probe:
            parts = config.parts
            step("ceiling: aiokafka, confluent-kafka")
            if "ceiling" in parts:
                await bench.phase(
                    ("ceiling", "aiokafka"),
                    lambda: ceiling.aiokafka_ceiling(config.bootstrap, topic, config.partitions),
                )
                await bench.phase(
                    ("ceiling", "confluent_kafka"),
                    lambda: asyncio.to_thread(
                        ceiling.confluent_ceiling,
                        config.bootstrap,
                        topic,
                        config.partitions,
                        config.name("ceiling-confluent"),
                    ),
                )
            step("dealpulse: 1 worker")
            if "dealpulse" in parts:
                await _one_worker_and_recovery(bench, probe, oracle, topic, step)
            step("dealpulse: 2 workers")
            if "two_workers" in parts:
                await bench.phase(
                    ("dealpulse", "two_workers"),
                    lambda: _first(
                        dealpulse_runs.workers_run(config, probe, oracle, topic=topic, count=2)
                    ),
                )
            step("peer: plain Faust")
            if "peers" in parts:
                await bench.phase(
                    ("peers", "faust_plain"),
                    lambda: peer_runs.faust_plain(config, probe, oracle, topic, rates),
                )
            step("peer: Quix Streams")
            if "peers" in parts:
                await bench.phase(
                    ("peers", "quix"), lambda: peer_runs.quix(config, probe, oracle, topic, rates)
                )
            step("latency at steady rates")
            if "latency" in parts:
                await bench.phase(("latency",), lambda: latency.latency(config, probe, for_latency))
        step("scrape cost")
        if "scrape" in config.parts:
            await bench.phase(
                ("scrape",), lambda: asyncio.to_thread(scrape_costs, config.scrape_sellers)
            )
        step("done")
    await _delete_topics(config)
    return bench.results


async def _first(pair: Awaitable[tuple[dict[str, Any], object]]) -> dict[str, Any]:
    return (await pair)[0]


async def _one_worker_and_recovery(
    bench: Run,
    probe: OffsetProbe,
    oracle: Expected,
    topic: str,
    step: Callable[[str], None],
) -> None:
    config = bench.config
    held: list[Any] = []

    async def one_worker() -> dict[str, Any]:
        result, services = await dealpulse_runs.workers_run(
            config, probe, oracle, topic=topic, count=1, keep=True
        )
        held.extend(services)
        return result

    try:
        first = await bench.phase(("dealpulse", "one_worker"), one_worker)
        peaks = {"one_worker_full_state": (first or {}).get("memory", {}).get("peak_rss_bytes")}
        for kind, wipe in (("local", False), ("changelog", True)):
            if not held:
                bench.results.setdefault("recovery", {})[kind] = {
                    "skipped": "no worker holding the full state (see dealpulse.one_worker)"
                }
                continue
            step(f"recovery: {kind}")

            async def restart(wipe_state: bool = wipe) -> dict[str, Any]:
                result, restarted = await dealpulse_runs.recovery(
                    config,
                    probe,
                    oracle,
                    held.pop(),
                    topic=topic,
                    group=config.name("dealpulse-1w"),
                    wipe_state=wipe_state,
                )
                held.append(restarted)
                return result

            found = await bench.phase(("recovery", kind), restart)
            peaks[f"after_recovery_{kind}"] = (found or {}).get("memory", {}).get("peak_rss_bytes")
    finally:
        for service in held:
            service.stop()
    known = [peak for peak in peaks.values() if isinstance(peak, int)]
    bench.results["memory"] = {
        "peak_rss_bytes": max(known) if known else None,
        "by_scenario": peaks,
        "method": "max of psutil/VmRSS samples every 0.2 s and the kernel's VmHWM",
    }


async def _delete_topics(config: BenchConfig) -> None:
    """Drop this run's topics (workload, changelogs, repartitions) so runs do not pile up."""
    admin = AIOKafkaAdminClient(bootstrap_servers=config.bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if config.run_id in t]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def clean_work_dir(config: BenchConfig) -> None:
    shutil.rmtree(config.work_dir, ignore_errors=True)
