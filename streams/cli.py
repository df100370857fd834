"""The `dealpulse` command: parse, build the settings, run; the only place that exits.

Typer gives typed options, `--help` for free and a test runner for the CLI tests.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from streams.errors import DealpulseError
from streams.kafka.local_broker import LocalBroker
from streams.settings import Settings

app = typer.Typer(
    help="dealpulse: real-time sales metrics from CRM deal events on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
kafka_app = typer.Typer(help="The local single-node Kafka broker (KRaft, from Maven jars).")
app.add_typer(kafka_app, name="kafka")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        typer.secho(f"invalid DEALPULSE_* settings:\n{error}", fg="red", err=True)
        raise typer.Exit(2) from error


def fail(error: DealpulseError) -> typer.Exit:
    typer.secho(f"error: {error}", fg="red", err=True)
    return typer.Exit(1)


@app.command()
def worker() -> None:
    """Run one worker; more than one (each with its own DEALPULSE_WEB_PORT) form a group."""
    from streams.worker.run import run_worker

    try:
        run_worker(load_settings())
    except DealpulseError as error:
        raise fail(error) from error


@kafka_app.command("up")
def kafka_up() -> None:
    """Start the local broker, or confirm the one already running; wait until it answers."""
    settings = load_settings()
    if not settings.uses_local_broker:
        typer.echo(f"DEALPULSE_KAFKA_BOOTSTRAP is set: using {settings.kafka_bootstrap}")
        return
    try:
        status = LocalBroker(settings).up()
    except DealpulseError as error:
        raise fail(error) from error
    typer.echo(status.describe())


@kafka_app.command("down")
def kafka_down() -> None:
    """Stop the local broker (its data stays in DEALPULSE_LOCAL_KAFKA_DIR)."""
    stopped = LocalBroker(load_settings()).down()
    typer.echo("local Kafka stopped" if stopped else "local Kafka was not running")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker runs and answers; exit 1 when it does not."""
    status = LocalBroker(load_settings()).status()
    typer.echo(status.describe())
    if not (status.running and status.answering):
        raise typer.Exit(1)


def main() -> None:
    app()


_ = Annotated  # used by the commands added below
