"""`dealpulse demo`: the Quickstart's one command — broker, worker and simulator together.

It owns what it starts: the local broker (unless one was already running or an
external cluster is configured) and a worker subprocess. Ctrl-C stops the
simulator, then the worker, then the broker, and leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TypeVar

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from streams.board.live import Board
from streams.board.scrape import MetricsPage, metrics_url
from streams.demo_plan import DemoPlan, load_plan, save_plan
from streams.demo_status import scrape_progress, status_line
from streams.kafka.availability import wait_for_kafka
from streams.kafka.local_broker import LocalBroker
from streams.kafka.topics import ensure_topics, required_topics, topic_message_count
from streams.preflight import ensure_worker_can_start
from streams.settings import Settings
from streams.simulate_command import SimulateRequest
from streams.simulator import SimulationConfig, generate
from streams.simulator.live import (
    LiveFaults,
    LiveProgress,
    live_stories,
    stamp_live,
    with_live_faults,
)
from streams.simulator.sinks import produce

WORKER_STOP_TIMEOUT_SECONDS = 30.0
STATUS_INTERVAL_SECONDS = 5.0
BOARD_INTERVAL_SECONDS = 2.0
PRODUCER_STOP_TIMEOUT_SECONDS = 30.0
SEED_BITS = 63
T = TypeVar("T")

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


def run_demo(
    settings: Settings, request: SimulateRequest, console: Console, *, board: bool | None = None
) -> None:
    """Run the demo; `board`: show the sales board above the status line (None: when the
    console is a terminal, else status lines only)."""
    show_board = console.is_terminal if board is None else board
    ensure_worker_can_start(settings)
    _stop_by_exception()
    broker = LocalBroker(settings) if settings.uses_local_broker else None
    started_broker = False
    if broker is not None:
        started_broker = not broker.status().running
        console.print("starting local Kafka…" if started_broker else "local Kafka already running")
        console.print(broker.up().describe())
    worker: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(wait_for_kafka(settings))
        asyncio.run(ensure_topics(settings))
        plan = _plan(settings, request.config, console)
        worker = _start_worker()
        url = metrics_url(settings)
        console.print(f"[bold]worker pid {worker.pid}; metrics at {url}[/bold]")
        try:
            shown = Board.of(url, settings, fit_to=console) if show_board else None
            page = MetricsPage.of(url, settings)
            asyncio.run(_simulate_and_report(settings, request, plan, page, shown, worker, console))
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


def _plan(settings: Settings, config: SimulationConfig, console: Console) -> DemoPlan:
    """The plan to follow: this topic's demo continued, or a new one with its backfill due."""
    events_topic = required_topics(settings)[0]
    held = asyncio.run(topic_message_count(settings, events_topic))
    saved = load_plan(settings.demo_plan_file)
    servers, topic = settings.bootstrap_servers, settings.topic_events
    if held and saved is not None and saved.continues(servers, topic, config):
        if not saved.backfilled:
            console.print("the previous demo stopped during its backfill: sending it again")
            return saved
        console.print(
            f"continuing the demo begun {saved.cut:%Y-%m-%d %H:%M} UTC after its "
            f"{saved.live_events_sent:,} live events: no backfill, {settings.topic_events} "
            f"holds {held:,} messages (`make clean` starts over)"
        )
        return saved
    if not held:
        plan = DemoPlan.first_run(config, datetime.now(UTC), servers, topic)
    else:
        console.print(
            f"{settings.topic_events} already holds {held:,} messages of another run: no "
            "backfill, live events only, from a new seed so that no event id is sent again"
        )
        seed = secrets.randbits(SEED_BITS)
        plan = DemoPlan.first_run(config, datetime.now(UTC), servers, topic, seed=seed)
        plan = plan.backfill_sent()
    save_plan(plan, settings.demo_plan_file)
    return plan


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
    plan: DemoPlan,
    page: MetricsPage,
    board: Board | None,
    worker: subprocess.Popen[bytes],
    console: Console,
) -> None:
    """Backfill if due, then live events, with a status line, until Ctrl-C or the worker exits.

    Inside the event loop a stop signal only sets an event: raised as an exception it
    would land in whatever aiokafka task runs at that moment, and the producer could
    not be closed (a traceback and "Task was destroyed but it is pending!" at exit).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    config = plan.simulation(request.config)
    if not plan.backfilled:
        if await _until_stopped(_backfill(settings, config, plan, console), stop) is None:
            return
        plan = plan.backfill_sent()
        save_plan(plan, settings.demo_plan_file)
    live = LiveProgress(plan.live_events_sent)
    producing = asyncio.create_task(_produce_live(settings, request, config, plan, live, stop))
    console.print(
        f"live: events dated now at {request.rate:g}/s, continuing the stories; Ctrl-C stops"
    )
    interval = STATUS_INTERVAL_SECONDS if board is None else BOARD_INTERVAL_SECONDS
    view = Live(console=console, auto_refresh=False) if board is not None else None
    try:
        with view or contextlib.nullcontext():
            while worker.poll() is None and not producing.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
                save_plan(plan.sent(live.events_done), settings.demo_plan_file)
                if stop.is_set():
                    break
                # Scrapes block: in a thread, so that the producer keeps its pace meanwhile.
                progress = await asyncio.to_thread(scrape_progress, page)
                line = status_line("live", live.messages_done, progress, datetime.now(UTC))
                if board is None or view is None:
                    console.print(line)
                else:
                    frame = await asyncio.to_thread(board.refresh)
                    view.update(Group(frame, Text(line)), refresh=True)
        if view is not None and not console.is_terminal:
            console.line()  # rich ends the last frame with a newline in a terminal only
        if stop.is_set():
            console.print("stopping…")
            return
        if producing.done() and (error := producing.exception()) is not None:
            raise error
        console.print(f"[red]the worker exited with code {worker.returncode}[/red]")
    finally:
        # The live events end at a group's end and the producer waits for those in
        # flight (a cancelled task would leave it to deliver them uncounted): the plan
        # counts every event the broker got, and a second run sends none of them again.
        stop.set()
        if not producing.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(producing), PRODUCER_STOP_TIMEOUT_SECONDS)
            producing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producing
        save_plan(plan.sent(live.events_done), settings.demo_plan_file)


async def _until_stopped(work: Coroutine[None, None, T], stop: asyncio.Event) -> T | None:
    """`work`'s result, or None (and `work` cancelled) if the demo is stopped first."""
    task = asyncio.create_task(work)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


async def _backfill(
    settings: Settings, config: SimulationConfig, plan: DemoPlan, console: Console
) -> int:
    """The history up to the plan's cut, as fast as the broker takes it, with a progress bar."""
    messages = list(generate(config, now=plan.cut))
    console.print(
        f"backfill: {config.deals:,} deals over the {config.span.days} days up to now, "
        f"{len(messages):,} messages, as fast as Kafka takes them; the worker folds them "
        "as they come"
    )
    progress = Progress(
        TextColumn("backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with progress:
        task = progress.add_task("backfill", total=len(messages))
        sent = await produce(
            messages,
            settings.topic_events,
            bootstrap_servers=settings.bootstrap_servers,
            client_options=settings.kafka_client_options(),
            on_sent=lambda count: progress.advance(task, count),
        )
    return sent


async def _produce_live(
    settings: Settings,
    request: SimulateRequest,
    config: SimulationConfig,
    plan: DemoPlan,
    live: LiveProgress,
    stop: asyncio.Event,
) -> None:
    stories = itertools.islice(live_stories(config, plan.cut), plan.live_events_sent, None)
    faults = LiveFaults(duplicate_pct=config.duplicate_pct, invalid_pct=config.invalid_pct)
    groups = with_live_faults(
        stamp_live(stories, lambda: datetime.now(UTC)), config.seed, plan.live_events_sent, faults
    )
    await produce(
        live.messages(groups, until=stop),
        settings.topic_events,
        bootstrap_servers=settings.bootstrap_servers,
        client_options=settings.kafka_client_options(),
        rate=request.rate,
        on_sent=live.acknowledged,
    )
