"""`python -m bench run`: the whole benchmark as one command.

    .venv/bin/python -m bench run --scale 1.0 --out bench/results --update-docs

Uses DEALPULSE_KAFKA_BOOTSTRAP when set; otherwise the project's local broker
(DEALPULSE_LOCAL_KAFKA_PORT, ...), started for the run and stopped after it if
it was not already running.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.config import (
    DEFAULT_PEERS_PYTHON,
    LATENCY_RATES,
    PARTS,
    REPO_ROOT,
    SCRAPE_SELLERS,
    BenchConfig,
)
from bench.harness import clean_work_dir, run
from bench.report import write
from streams.kafka.local_broker import LocalBroker
from streams.settings import Settings

app = typer.Typer(add_completion=False, help=__doc__)
console = Console()


@app.callback()
def main_callback() -> None:
    """The dealpulse benchmark harness (issue 5): see docs/performance.md."""


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


@app.command("run")
def run_command(
    scale: Annotated[float, typer.Option(min=0.0001, help="1.0 = 1,000,000 events.")] = 1.0,
    out: Annotated[Path, typer.Option(help="Where the results go.")] = REPO_ROOT
    / "bench"
    / "results",
    seed: Annotated[int, typer.Option(help="The simulator's seed.")] = 42,
    deals: Annotated[
        int | None, typer.Option(help="Deals to simulate (default: as the events need).")
    ] = None,
    latency_rates: Annotated[str, typer.Option(help="Steady produce rates, events/s.")] = ",".join(
        map(str, LATENCY_RATES)
    ),
    latency_seconds: Annotated[
        float | None, typer.Option(help="Seconds per latency rate (default 30 x scale, >= 3).")
    ] = None,
    scrape_sellers: Annotated[
        str, typer.Option(help="Seller counts for the scrape cost.")
    ] = ",".join(map(str, SCRAPE_SELLERS)),
    peers_python: Annotated[
        Path, typer.Option(help="Python of the venv with Quix Streams.")
    ] = DEFAULT_PEERS_PYTHON,
    work_dir: Annotated[
        Path | None, typer.Option(help="State and logs (default .dealpulse/bench/<run>).")
    ] = None,
    timeout_seconds: Annotated[
        float | None,
        typer.Option(help="Give up on an engine after this long (default events/200, >= 180)."),
    ] = None,
    keep_state: Annotated[bool, typer.Option(help="Keep state directories and logs.")] = False,
    update_docs: Annotated[
        bool, typer.Option(help="Put the table in docs/performance.md.")
    ] = False,
    only: Annotated[
        str,
        typer.Option(
            help=f"Run only these measurements (comma-separated: {', '.join(PARTS)}); "
            "a partial run is written under its time stamp, never as latest.*."
        ),
    ] = ",".join(PARTS),
) -> None:
    """Run every measurement of issue 5 on one workload and write the results."""
    parts = frozenset(part.strip() for part in only.split(",") if part.strip())
    if not parts or parts - set(PARTS):
        raise typer.BadParameter(
            f"{', '.join(sorted(parts - set(PARTS))) or 'nothing'}: choose from {', '.join(PARTS)}",
            param_hint="--only",
        )
    if update_docs and parts != set(PARTS):
        raise typer.BadParameter("the docs show whole runs only", param_hint="--update-docs")
    settings = Settings()
    broker = LocalBroker(settings) if settings.uses_local_broker else None
    started_broker = False
    if broker is not None and not broker.status().running:
        console.print(f"starting the local broker on {broker.bootstrap}")
        broker.up()
        started_broker = True
    config = BenchConfig(
        scale=scale,
        out_dir=out,
        bootstrap=settings.bootstrap_servers,
        work_dir=Path(),
        seed=seed,
        deals=deals,
        latency_rates=_numbers(latency_rates),
        latency_duration=latency_seconds,
        scrape_sellers=_numbers(scrape_sellers),
        peers_python=peers_python,
        update_docs=update_docs,
        drain_timeout=timeout_seconds,
        parts=parts,
    )
    config = _with_work_dir(config, work_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    console.print(
        f"bench run {config.run_id}: {config.events:,} events, broker {config.bootstrap}, "
        f"state in {config.work_dir}"
    )
    try:
        results = asyncio.run(run(config, console, local_broker=broker is not None))
        path = write(results, out, stamp, update_docs=update_docs, latest=not config.partial)
    finally:
        if not keep_state:
            clean_work_dir(config)
        if broker is not None and started_broker:
            broker.down()
    console.print((out / f"{stamp}.md").read_text(), markup=False, highlight=False)
    console.print(f"results: {path}")
    if _errors(results):
        console.print(f"[red]phases failed:[/red] {', '.join(_errors(results))}")
        raise typer.Exit(1)


def _with_work_dir(config: BenchConfig, work_dir: Path | None) -> BenchConfig:
    from dataclasses import replace

    chosen = work_dir or REPO_ROOT / ".dealpulse" / "bench" / config.run_id
    return replace(config, work_dir=chosen.resolve())


def _errors(results: dict[str, object], prefix: str = "") -> list[str]:
    failed = []
    for name, value in results.items():
        if isinstance(value, dict):
            if "error" in value:
                failed.append(f"{prefix}{name}")
            else:
                failed.extend(_errors(value, f"{prefix}{name}."))
    return failed


def main() -> None:
    app()
