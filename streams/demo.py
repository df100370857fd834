"""`dealpulse demo`: the Quickstart's one command — broker, worker and simulator together.

It owns what it starts: the local broker (unless one was already running or an
external cluster is configured) and a worker subprocess. Ctrl-C stops the
simulator, then the worker, then the broker, and leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from streams.kafka.local_broker import LocalBroker
from streams.kafka.topics import ensure_topics
from streams.settings import Settings
from streams.simulate_command import SimulateRequest
from streams.simulator import generate
from streams.simulator.sinks import produce

WORKER_STOP_TIMEOUT_SECONDS = 30.0
STATUS_INTERVAL_SECONDS = 5.0


@dataclass
class DemoCounts:
    produced: int = 0


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop_by_exception() -> None:
    """Ctrl-C and SIGTERM raise `KeyboardInterrupt` outside the simulator's event loop.

    A shell without job control starts background commands with SIGINT ignored, and
    Python then never raises KeyboardInterrupt: the handlers are installed explicitly,
    and SIGTERM (a service manager, `kill`) is treated as Ctrl-C too. Called again
    after the event loop closes, which resets the handlers it replaced to the defaults
    (SIGTERM's would end the demo and leave its worker and broker running).
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop_on_signal)


def run_demo(settings: Settings, request: SimulateRequest, console: Console) -> None:
    _stop_by_exception()
    broker = LocalBroker(settings) if settings.uses_local_broker else None
    started_broker = False
    if broker is not None:
        started_broker = not broker.status().running
        console.print("starting local Kafka…" if started_broker else "local Kafka already running")
        console.print(broker.up().describe())
    worker: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(ensure_topics(settings))
        worker = _start_worker()
        metrics_url = f"http://{settings.web_host}:{settings.web_port}/metrics"
        console.print(f"[bold]worker pid {worker.pid}; metrics at {metrics_url}[/bold]")
        console.print("simulated CRM events are flowing; Ctrl-C stops everything")
        try:
            asyncio.run(_simulate_and_report(settings, request, metrics_url, worker, console))
        finally:
            _stop_by_exception()
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        if worker is not None:
            _stop_worker(worker)
            console.print("worker stopped")
        if broker is not None and started_broker:
            broker.down()
            console.print("local Kafka stopped")


def _start_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "streams", "worker"],
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
        env=os.environ.copy(),
    )


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(WORKER_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def _simulate_and_report(
    settings: Settings,
    request: SimulateRequest,
    metrics_url: str,
    worker: subprocess.Popen[bytes],
    console: Console,
) -> None:
    """Produce and print status lines until Ctrl-C (or SIGTERM) or the worker exits.

    Inside the event loop a stop signal only sets an event: raised as an exception it
    would land in whatever aiokafka task runs at that moment, and the producer could
    not be closed (a traceback and "Task was destroyed but it is pending!" at exit).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    counts = DemoCounts()

    def on_sent(count: int) -> None:
        counts.produced += count

    producing = asyncio.create_task(
        produce(
            generate(request.config, now=datetime.now(UTC)),
            settings.topic_events,
            bootstrap_servers=settings.bootstrap_servers,
            client_options=settings.kafka_client_options(),
            rate=request.rate,
            on_sent=on_sent,
        )
    )
    try:
        while worker.poll() is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATUS_INTERVAL_SECONDS)
            if stop.is_set():
                console.print("stopping…")
                return
            console.print(_status_line(counts, metrics_url, producing.done()))
        console.print(f"[red]the worker exited with code {worker.returncode}[/red]")
    finally:
        producing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producing


def _status_line(counts: DemoCounts, metrics_url: str, finished: bool) -> str:
    samples = dict(_scrape(metrics_url))
    accepted = samples.get('dealpulse_ingest_messages_total{outcome="accepted"}', 0.0)
    rejected = samples.get('dealpulse_ingest_messages_total{outcome="rejected"}', 0.0)
    state = "simulator done" if finished else "producing"
    return (
        f"{time.strftime('%H:%M:%S')}  {state}: {counts.produced} sent · worker: "
        f"{accepted:.0f} accepted, {rejected:.0f} to the DLQ"
    )


def _scrape(metrics_url: str) -> Iterator[tuple[str, float]]:
    try:
        with urllib.request.urlopen(metrics_url, timeout=2) as response:  # noqa: S310 - our URL
            text = response.read().decode()
    except OSError:
        return
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{name}="{value}"' for name, value in sorted(sample.labels.items()))
            yield (f"{sample.name}{{{labels}}}" if labels else sample.name), sample.value
