"""The `dealpulse` command: parse, build the settings, run; the only place that exits.

Typer gives typed options, `--help` for free and a test runner for the CLI tests.
"""

from __future__ import annotations

import asyncio
import functools
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from streams.domain.errors import FileRefusedError
from streams.errors import ConfigurationError, DealpulseError, ReplayError
from streams.kafka.local_broker import LocalBroker
from streams.logs import configure_command_logging
from streams.settings import Settings
from streams.simulate_command import (
    SimulateRequest,
    default_start,
    run_simulation,
    simulation_topic,
)
from streams.simulator import SimulationConfig
from streams.simulator.crm_formats import SourceFormat

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    help="dealpulse: real-time sales metrics from CRM deal events on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
kafka_app = typer.Typer(help="The local single-node Kafka broker (KRaft, from Maven jars).")
app.add_typer(kafka_app, name="kafka")
quotas_app = typer.Typer(
    help="Sales quotas, published on the control topic and held by every worker.",
    no_args_is_help=True,
)
app.add_typer(quotas_app, name="quotas")
pipelines_app = typer.Typer(
    help="The pipelines' stages and win probabilities, published on the control topic.",
    no_args_is_help=True,
)
app.add_typer(pipelines_app, name="pipelines")
rates_app = typer.Typer(
    help="Currency rates to the reporting currency, published on the control topic.",
    no_args_is_help=True,
)
app.add_typer(rates_app, name="rates")

PROBLEMS_SHOWN = 20
"""Problems of a refused file listed one per line; the rest are counted."""
bridge_app = typer.Typer(
    help="CRM bridges: a CRM's changes in, canonical events out (docs/crm-bridges.md).",
    no_args_is_help=True,
)
app.add_typer(bridge_app, name="bridge")
connect_app = typer.Typer(help="The local Kafka Connect with Debezium's PostgreSQL connector.")
app.add_typer(connect_app, name="connect")
postgres_app = typer.Typer(help="The local PostgreSQL holding an Odoo-style CRM, for CDC.")
app.add_typer(postgres_app, name="postgres")


P = ParamSpec("P")


class EventFormat(StrEnum):
    """What `dealpulse simulate` writes: canonical events, or a CRM's own format."""

    CANONICAL = "canonical"
    PIPEDRIVE = "pipedrive"
    SALESFORCE = "salesforce"
    DEBEZIUM = "debezium"


SOURCE_FORMATS: dict[EventFormat, SourceFormat] = {
    EventFormat.PIPEDRIVE: "pipedrive",
    EventFormat.SALESFORCE: "salesforce",
    EventFormat.DEBEZIUM: "debezium",
}


@dataclass
class Options:
    """What the options before the command ask of every command."""

    debug: bool = False


options = Options()


@app.callback()
def main_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, show its traceback too.")
    ] = False,
) -> None:
    options.debug = debug


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = ConfigurationError(settings_problems(error))
        raise fail(problems, exit_code=2, cause=error) from error
    except SettingsError as error:  # a JSON-valued setting that is not JSON
        problems = ConfigurationError(f"invalid settings: {error} (it takes JSON)")
        raise fail(problems, exit_code=2, cause=error) from error


def settings_problems(error: ValidationError) -> str:
    """One line for any number of bad settings: each named as it is set, with its value."""
    problems = []
    for problem in error.errors(include_url=False):
        name = "DEALPULSE_" + "_".join(str(part) for part in problem["loc"][:1]).upper()
        given = problem.get("input")
        shown = f"={given!r}" if isinstance(given, str | int | float) else ""
        problems.append(f"{name}{shown}: {problem['msg']}")
    return "invalid settings: " + "; ".join(problems)


def fail(
    error: DealpulseError, exit_code: int = 1, cause: BaseException | None = None
) -> typer.Exit:
    """Report `error` in one line, after the traceback of `cause` (or of `error`) under
    --debug; return the exit to raise."""
    if options.debug:
        traceback.print_exception(cause or error)
    typer.secho(f"error: {error}", fg="red", err=True)
    return typer.Exit(exit_code)


def reported(command: Callable[P, None]) -> Callable[P, None]:
    """Run a command so that an ordinary mistake ends in one line and a non-zero exit.

    `DealpulseError`s say what to change. An `OSError` that reaches here is the
    environment too (a path, a permission, a port); a bug still shows its
    traceback.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except DealpulseError as error:
            raise fail(error) from error
        except OSError as error:
            raise fail(ConfigurationError(os_problem(error)), cause=error) from error

    return run


def os_problem(error: OSError) -> str:
    reason = error.strerror or str(error)
    return reason if error.filename is None else f"{error.filename}: {reason}"


@app.command()
@reported
def worker() -> None:
    """Run one worker; more than one (each with its own DEALPULSE_WEB_PORT) form a group."""
    from streams.worker.run import run_worker

    run_worker(load_settings())


@kafka_app.command("up")
@reported
def kafka_up() -> None:
    """Start the local broker, or confirm the one already running; wait until it answers."""
    settings = load_settings()
    if not settings.uses_local_broker:
        typer.echo(f"DEALPULSE_KAFKA_BOOTSTRAP is set: using {settings.kafka_bootstrap}")
        return
    typer.echo(LocalBroker(settings).up().describe())


@kafka_app.command("down")
@reported
def kafka_down() -> None:
    """Stop the local broker (its data stays in DEALPULSE_LOCAL_KAFKA_DIR)."""
    stopped = LocalBroker(load_settings()).down()
    typer.echo("local Kafka stopped" if stopped else "local Kafka was not running")


@kafka_app.command("status")
@reported
def kafka_status() -> None:
    """Say whether the local broker runs and answers; exit 1 when it does not."""
    status = LocalBroker(load_settings()).status()
    typer.echo(status.describe())
    if not (status.running and status.answering):
        raise typer.Exit(1)


@bridge_app.command("debezium")
@reported
def bridge_debezium() -> None:
    """Turn Debezium's crm_lead change events into canonical events, until Ctrl-C."""
    from streams.cdc.bridge import run_debezium_bridge

    settings = load_settings()
    configure_command_logging(settings.log_level)
    run_debezium_bridge(settings)


@connect_app.command("up")
@reported
def connect_up() -> None:
    """Start Kafka Connect with the Debezium connector, or confirm it runs; wait until RUNNING."""
    from streams.cdc.local_connect import LocalConnect

    typer.echo(LocalConnect(load_settings()).up().describe())


@connect_app.command("down")
@reported
def connect_down() -> None:
    """Stop the local Kafka Connect (its offsets stay in DEALPULSE_LOCAL_CONNECT_DIR)."""
    from streams.cdc.local_connect import LocalConnect

    stopped = LocalConnect(load_settings()).down()
    typer.echo("local Kafka Connect stopped" if stopped else "local Kafka Connect was not running")


@connect_app.command("status")
@reported
def connect_status() -> None:
    """Say whether Connect runs and what the connector reports; exit 1 when it does not run."""
    from streams.cdc.local_connect import LocalConnect

    status = LocalConnect(load_settings()).status()
    typer.echo(status.describe())
    if not status.running:
        raise typer.Exit(1)


@postgres_app.command("up")
@reported
def postgres_up() -> None:
    """Start the local PostgreSQL (created on first use) and apply the CRM schema."""
    from streams.cdc.local_postgres import LocalPostgres

    typer.echo(LocalPostgres(load_settings()).up().describe())


@postgres_app.command("down")
@reported
def postgres_down() -> None:
    """Stop the local PostgreSQL (its data stays in DEALPULSE_LOCAL_POSTGRES_DIR)."""
    from streams.cdc.local_postgres import LocalPostgres

    stopped = LocalPostgres(load_settings()).down()
    typer.echo("local PostgreSQL stopped" if stopped else "local PostgreSQL was not running")


@postgres_app.command("status")
@reported
def postgres_status() -> None:
    """Say whether the local PostgreSQL answers; exit 1 when it does not."""
    from streams.cdc.local_postgres import LocalPostgres

    status = LocalPostgres(load_settings()).status()
    typer.echo(status.describe())
    if not status.running:
        raise typer.Exit(1)


@quotas_app.command("load")
@reported
def quotas_load(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header: period (2026-12 or 2026-Q4), amount, seller, and "
            "optionally team and tenant."
        ),
    ],
) -> None:
    """Publish quotas: they replace those of every (tenant, period) the file names.

    The file is checked whole first; a bad row (line numbers and reasons listed)
    loads nothing. Workers show the quotas on /metrics within seconds.
    """
    from streams.quotas_command import load_quotas

    require_file(file, "a quota file (CSV)")
    settings = load_settings()
    typer.echo(listing_problems(lambda: load_quotas(settings, file)).describe())


@pipelines_app.command("load")
@reported
def pipelines_load(
    file: Annotated[
        Path,
        typer.Argument(
            help="TOML or JSON, as DEALPULSE_PIPELINES_FILE: each pipeline's stages, in order, "
            "with win probabilities."
        ),
    ],
) -> None:
    """Publish the pipeline configuration: it replaces the whole configuration on every worker.

    The file is checked whole first; any problem (line numbers and reasons listed)
    loads nothing.
    """
    from streams.pipelines_command import load_pipelines

    require_file(file, "a pipeline file (.toml or .json)")
    settings = load_settings()
    typer.echo(listing_problems(lambda: load_pipelines(settings, file)).describe())


@rates_app.command("load")
@reported
def rates_load(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header: currency, rate (units of the reporting currency per unit)."
        ),
    ],
) -> None:
    """Publish currency rates: they change or add the rates the file lists, and keep the others.

    The file is checked whole first; a bad row (line numbers and reasons listed)
    loads nothing. A file that changes no rate publishes nothing.
    """
    from streams.rates_command import load_rates

    require_file(file, "a rate file (CSV)")
    settings = load_settings()
    typer.echo(listing_problems(lambda: load_rates(settings, file)).describe())


def require_file(path: Path, what: str) -> None:
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise ConfigurationError(f"{path} {problem}: give {what}")


T = TypeVar("T")


def listing_problems(load: Callable[[], T]) -> T:
    """`load()`; when it refuses a file, its problems one a line on stderr first."""
    try:
        return load()
    except FileRefusedError as error:
        for line in problem_lines(error):
            typer.echo(line, err=True)
        raise


def problem_lines(error: FileRefusedError, shown: int = PROBLEMS_SHOWN) -> list[str]:
    """The first `shown` problems of a refused file, one a line, and how many more there are."""
    lines = [f"{error.source}: {problem}" for problem in error.problems[:shown]]
    if len(error.problems) > shown:
        lines.append(f"... and {len(error.problems) - shown} more")
    return lines


Deals = Annotated[int, typer.Option(help="How many deals to simulate.")]
Seed = Annotated[
    int, typer.Option(help="Random seed: the same seed and start give the same events.")
]
Rate = Annotated[
    float | None, typer.Option(help="Messages per second to Kafka (default: as fast as possible).")
]
Sellers = Annotated[int, typer.Option(help="Number of sellers.")]
Pipelines = Annotated[int, typer.Option(help="Number of pipelines.")]
SpanDays = Annotated[float, typer.Option(help="Deals are created over this many days.")]
Start = Annotated[
    datetime | None,
    typer.Option(
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        help="UTC start of the simulated period (default: span days before the current hour).",
    ),
]


def simulation_request(
    *,
    deals: int,
    seed: int,
    rate: float | None,
    sellers: int,
    pipelines: int,
    span_days: float,
    start: datetime | None,
    faults: tuple[float, float, float, float],
    out: Path | None,
    source_format: SourceFormat | None = None,
) -> SimulateRequest:
    span = timedelta(days=span_days)
    duplicate_pct, out_of_order_pct, late_pct, invalid_pct = faults
    config = SimulationConfig(
        seed=seed,
        deals=deals,
        sellers=sellers,
        pipelines=pipelines,
        start=start.replace(tzinfo=UTC) if start else default_start(span),
        span=span,
        duplicate_pct=duplicate_pct,
        out_of_order_pct=out_of_order_pct,
        late_pct=late_pct,
        invalid_pct=invalid_pct,
    )
    return SimulateRequest(
        config=config,
        rate=rate,
        out=out,
        cut_at_now=start is None,
        source_format=source_format,
    )


@app.command()
@reported
def simulate(
    deals: Deals = 1000,
    seed: Seed = 42,
    rate: Rate = None,
    sellers: Sellers = 20,
    pipelines: Pipelines = 3,
    span_days: SpanDays = 90.0,
    start: Start = None,
    duplicate_pct: Annotated[
        float, typer.Option(min=0.0, max=100.0, help="% of valid events sent twice.")
    ] = 0.0,
    out_of_order_pct: Annotated[
        float, typer.Option(min=0.0, max=100.0, help="% swapped with a later event of their deal.")
    ] = 0.0,
    late_pct: Annotated[
        float, typer.Option(min=0.0, max=100.0, help="% held back hours to days.")
    ] = 0.0,
    invalid_pct: Annotated[
        float, typer.Option(min=0.0, max=100.0, help="Bad messages added, as % of valid events.")
    ] = 0.0,
    out: Annotated[
        Path | None,
        typer.Option(help="Write JSONL (one message value per line) here; '-' for stdout."),
    ] = None,
    event_format: Annotated[
        EventFormat,
        typer.Option(
            "--format",
            help="canonical: to the events topic. pipedrive: webhooks POSTed to `bridge "
            "pipedrive`. salesforce: change events to DEALPULSE_SALESFORCE_TOPIC. "
            "debezium: crm_lead change envelopes to PREFIX.public.crm_lead.",
        ),
    ] = EventFormat.CANONICAL,
) -> None:
    """Produce realistic CRM deal lifecycles to Kafka, or write them as JSONL."""
    request = simulation_request(
        deals=deals,
        seed=seed,
        rate=rate,
        sellers=sellers,
        pipelines=pipelines,
        span_days=span_days,
        start=start,
        faults=(duplicate_pct, out_of_order_pct, late_pct, invalid_pct),
        out=out,
        source_format=SOURCE_FORMATS.get(event_format),
    )
    settings = load_settings()
    try:
        sent = run_simulation(settings, request, quiet=out is not None)
    except OSError as error:  # --out where nothing can be written
        raise ConfigurationError(f"cannot write {out}: {error.strerror}") from error
    target = str(out) if out is not None else simulation_target(settings, request)
    typer.echo(f"{sent} messages written to {target}", err=True)


def simulation_target(settings: Settings, request: SimulateRequest) -> str:
    if request.source_format == "pipedrive":
        return f"the Pipedrive bridge on port {settings.bridge_pipedrive_port}"
    return f"Kafka topic {simulation_topic(settings, request.source_format)}"


@app.command()
@reported
def demo(
    deals: Deals = 20_000,
    seed: Seed = 42,
    rate: Annotated[
        float, typer.Option(help="Live messages per second (the backfill goes at full speed).")
    ] = 100.0,
    invalid_pct: Annotated[
        float, typer.Option(min=0.0, max=100.0, help="Bad messages, % of valid.")
    ] = 1.0,
    board: Annotated[
        bool | None,
        typer.Option(
            "--board/--no-board",
            help="The sales board above the status line (default: in a terminal).",
        ),
    ] = None,
) -> None:
    """Local Kafka + a worker + the simulator until Ctrl-C: a fast backfill, then live events.

    Prints where /metrics is and a status line every 5 s. A second run continues
    where the first stopped (DEALPULSE_DEMO_PLAN_FILE).
    """
    from rich.console import Console

    from streams.demo import run_demo

    request = simulation_request(
        deals=deals,
        seed=seed,
        rate=rate,
        sellers=20,
        pipelines=3,
        span_days=90.0,
        start=None,
        faults=(1.0, 1.0, 0.5, invalid_pct),
        out=None,
    )
    run_demo(load_settings(), request, Console(stderr=True), board=board)


@app.command()
@reported
def replay(
    source: Annotated[
        Path | None,
        typer.Argument(help="JSONL file: one message value per line."),
    ] = None,
    topic: Annotated[
        str | None, typer.Option(help="Replay this topic from its first offset to its current end.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the summary and every metric value as JSON here.")
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=0, help="Processes to compute in (default: DEALPULSE_REPLAY_PROCESSES; 0 = CPUs)."
        ),
    ] = None,
) -> None:
    """Compute the metrics in one batch from a JSONL file or a topic: the oracle and backfill."""
    from rich.console import Console

    from streams.gc_threshold import tune_collector
    from streams.replay_command import run_replay, write_result
    from streams.replay_summary import print_summary

    if (source is None) == (topic is None):
        both = "not both" if source is not None else "e.g. dealpulse replay events.jsonl"
        typer.secho(f"give a JSONL file or --topic ({both})", fg="red", err=True)
        raise typer.Exit(2)
    if source is not None and not source.is_file():
        what = "is a directory" if source.is_dir() else "does not exist"
        raise ConfigurationError(f"{source} {what}: give a JSONL file, one message per line")
    settings = load_settings()
    tune_collector(settings)
    console = Console(stderr=True)
    result = run_replay(
        settings, source, topic, show_progress=console.is_terminal, processes=processes
    )
    print_summary(result, Console())
    if out is not None:
        try:
            write_result(result, out)
        except OSError as error:
            raise ConfigurationError(f"cannot write {out}: {error.strerror}") from error
        console.print(f"metrics written to {out}")
    if result.accepted == 0:
        what = "no message" if result.messages == 0 else "no message was accepted"
        raise fail(ReplayError(f"{what}: nothing to compute (see the reasons above)"))


SVG_WIDTH = 120
"""Columns of a `--svg` frame, whatever the terminal: the README's screenshot stays the same."""


@app.command()
@reported
def top(
    url: Annotated[
        str | None,
        typer.Option(
            help="A worker's /metrics (default: the one DEALPULSE_WEB_HOST and _PORT describe)."
        ),
    ] = None,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between scrapes.")] = 2.0,
    once: Annotated[bool, typer.Option(help="Print one frame and exit.")] = False,
    svg: Annotated[
        Path | None, typer.Option(help="With --once: also save the frame as SVG here.")
    ] = None,
) -> None:
    """A live sales board in the terminal, read from a worker's /metrics as Prometheus reads it."""
    from rich.console import Console

    from streams.board.live import Board, watch
    from streams.board.scrape import metrics_url

    if svg is not None and not once:
        typer.secho("--svg needs --once (it saves one frame)", fg="red", err=True)
        raise typer.Exit(2)
    settings = load_settings()
    console = Console(record=svg is not None, width=SVG_WIDTH if svg else None)
    try:
        board = Board.of(url or metrics_url(settings), settings, fit_to=None if once else console)
        first = board.frame()
        if once:
            console.print(first)
            if svg is not None:
                save_svg(console, svg)
            return
        watch(board, first, interval, console)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a live board ends


def save_svg(console: Console, path: Path) -> None:
    try:
        console.save_svg(str(path), title="dealpulse top")
    except OSError as error:
        raise ConfigurationError(f"cannot write {path}: {error.strerror}") from error


MappingFile = Annotated[Path, typer.Argument(help="The CRM's mapping file (TOML).")]


@bridge_app.command("hubspot")
@reported
def bridge_hubspot(mapping: MappingFile) -> None:
    """Serve HubSpot's deal webhooks on DEALPULSE_BRIDGE_HUBSPOT_PORT."""
    from streams.bridges.mapping_file import load_mapping
    from streams.bridges.process.hubspot import run_hubspot_bridge

    asyncio.run(run_hubspot_bridge(load_settings(), load_mapping(mapping)))


@bridge_app.command("pipedrive")
@reported
def bridge_pipedrive(mapping: MappingFile) -> None:
    """Serve Pipedrive's webhooks v2 on DEALPULSE_BRIDGE_PIPEDRIVE_PORT."""
    from streams.bridges.mapping_file import load_mapping
    from streams.bridges.process.pipedrive import run_pipedrive_bridge

    asyncio.run(run_pipedrive_bridge(load_settings(), load_mapping(mapping)))


@bridge_app.command("salesforce")
@reported
def bridge_salesforce(mapping: MappingFile) -> None:
    """Bridge DEALPULSE_SALESFORCE_TOPIC (Salesforce CDC via Kafka Connect) to the events."""
    from streams.bridges.mapping_file import load_mapping
    from streams.bridges.process.salesforce import run_salesforce_bridge

    asyncio.run(run_salesforce_bridge(load_settings(), load_mapping(mapping)))


def main() -> None:
    # Quiet, structured logs for every command (the worker's Faust installs the same
    # configuration at its level): library noise held back, one line per record.
    configure_command_logging(os.environ.get("DEALPULSE_LOG_LEVEL"))
    app()
