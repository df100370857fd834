"""Pipelines and rates loaded on the control plane while workers run: every worker restates,
and the numbers are then exactly those of every event under the loaded settings.

Two workers fold a simulated history; the pipeline configuration and the rates
are published onto the control topic; both workers' aggregates must then equal
the batch computation under the loaded settings (restatement), more events keep
them equal, and a worker started after the loads (the partitions move to it)
folds and restores under them too. Workers are waited on, never slept on.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from streams.domain.metric_rows import from_rows
from streams.domain.pipeline_config import parse_pipeline_config
from streams.domain.settings_record import (
    RATES_KEY,
    ControlSettings,
    RateTable,
    encode_pipelines,
    encode_rates,
)
from streams.kafka.control_publish import publish_records
from streams.kafka.loaded_settings import read_loaded_settings
from streams.kafka.topics import ensure_topics
from streams.metric_context import build_context, effective_rates
from streams.settings import Settings
from streams.simulator import OutboundMessage
from tests.support.flow import Flow
from tests.support.kafka_io import committed_lag, produce
from tests.support.oracle import accepted_events, differences, owned_once, summed
from tests.support.reference import reference
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess
from tests.support.workload import CLOCK, clocked, simulated

pytestmark = pytest.mark.integration

PARTITIONS = 8
PIPELINES = parse_pipeline_config(
    {
        "pipelines": {
            "new-business": {
                "stages": [
                    {"name": "lead", "win_probability": Decimal("0.1")},
                    {"name": "demo", "win_probability": Decimal("0.25")},
                    {"name": "qualified", "win_probability": Decimal("0.3")},
                    {"name": "proposal", "win_probability": Decimal("0.55")},
                    {"name": "negotiation", "win_probability": Decimal("0.8")},
                ]
            },
            "expansion": {
                "stages": [
                    {"name": "discovery", "win_probability": Decimal("0.5")},
                    {"name": "proposal", "win_probability": Decimal("0.7")},
                ]
            },
        }
    }
)
RATES = RateTable(
    "USD", {"EUR": Decimal("1.1"), "GBP": Decimal("1.2345"), "JPY": Decimal("0.0067")}
)
LOADED = ControlSettings(pipelines=PIPELINES, rates=RATES)


def expected(messages: list[OutboundMessage], settings: Settings) -> dict[Any, Any]:
    rates = effective_rates(settings, LOADED)
    under = settings.model_copy(update={"currency_rates": rates})
    ctx = build_context(settings, CLOCK, pipelines=LOADED.pipelines, rates=rates)
    return reference(accepted_events(messages, under, CLOCK), ctx)


def wait_for_numbers(
    flow: Flow, workers: list[WorkerProcess], wanted: dict[Any, Any], what: str
) -> None:
    found: list[str] = []

    def equal() -> bool:
        if committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) != 0:
            return False
        states = owned_once([worker.base_url for worker in workers], PARTITIONS)
        if states is None:
            return False
        found[:] = differences(summed(state.snapshot for state in states), wanted)
        return not found

    wait_for(equal, timeout_seconds=180, what=f"{what} (last differences: {found})")


def test_loaded_pipelines_and_rates_restate_every_worker(flow: Flow, tmp_path: Path) -> None:
    settings = flow.settings()
    asyncio.run(ensure_topics(settings))
    messages = simulated(8_000, seed=31)
    first, second = messages[:5_000], messages[5_000:]
    produce(flow.kafka.bootstrap, flow.topic, first)
    env = clocked(flow.env())
    with WorkerProcess(env, flow.state_dir) as one, WorkerProcess(env, flow.state_dir) as two:
        wait_for(
            lambda: (
                committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0
                and all(worker.health()["partitions"] for worker in (one, two))
            ),
            timeout_seconds=180,
            what="both workers to own partitions and commit every offset",
        )
        loaded_at = time.monotonic()
        asyncio.run(publish_records(settings, [encode_pipelines(PIPELINES), encode_rates(RATES)]))
        wait_for_numbers(flow, [one, two], expected(first, settings), "the restated numbers")
        print(f"both workers restated {time.monotonic() - loaded_at:.2f} s after the load began")
        assert all(
            worker.scrape().get("dealpulse_restatements_total", 0) >= 1 for worker in (one, two)
        )

        produce(flow.kafka.bootstrap, flow.topic, second)
        wait_for_numbers(
            flow, [one, two], expected(messages, settings), "the numbers after more events"
        )

        with WorkerProcess(env, flow.state_dir) as late:
            wait_for_numbers(
                flow,
                [one, two, late],
                expected(messages, settings),
                "the numbers with a worker started after the loads",
            )

    # The batch replay of the topic computes under the loaded settings too.
    out = tmp_path / "replay.json"
    result = subprocess.run(
        [sys.executable, "-m", "streams", "replay", "--topic", flow.topic, "--out", str(out)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert from_rows(json.loads(out.read_text())["rows"]) == expected(messages, settings)


def test_a_load_made_while_no_worker_ran_applies_before_the_first_fold(flow: Flow) -> None:
    """Rates loaded before any worker ever started are on the control topic only (no table
    changelog holds them yet): the engine waits for its table to hold them, so no event in a
    currency they add is dead-lettered. Removing them (a tombstone) is refused by the worker,
    whose stored deals need them, and said on /metrics; a replay reads the topic the same way."""
    base = {"USD": Decimal(1), "EUR": Decimal("1.08")}
    settings = flow.settings().model_copy(update={"currency_rates": base})
    added = RateTable(
        "USD", {"GBP": Decimal("1.27"), "CAD": Decimal("0.73"), "AUD": Decimal("0.66")}
    )
    loaded = ControlSettings(rates=added)
    asyncio.run(ensure_topics(settings))
    asyncio.run(publish_records(settings, [encode_rates(added)]))
    messages = simulated(3_000, seed=32)
    produce(flow.kafka.bootstrap, flow.topic, messages)
    env = {**clocked(flow.env()), "DEALPULSE_CURRENCY_RATES": '{"USD": "1", "EUR": "1.08"}'}
    rates = effective_rates(settings, loaded)
    wanted = reference(
        accepted_events(messages, settings.model_copy(update={"currency_rates": rates}), CLOCK),
        build_context(settings, CLOCK, rates=rates),
    )
    with WorkerProcess(env, flow.state_dir) as worker:
        wait_for_numbers(flow, [worker], wanted, "the numbers under rates loaded before start")
        assert not any(
            name.startswith('dealpulse_ingest_rejected_total{reason="unknown_currency"')
            and value > 0
            for name, value in worker.scrape().items()
        )
        tombstone = cast(tuple[bytes, bytes], (RATES_KEY, None))  # removes the key
        asyncio.run(publish_records(settings, [tombstone]))
        wait_for(
            lambda: worker.scrape().get("dealpulse_loaded_settings_refused") == 1,
            timeout_seconds=60,
            what="the worker to refuse rates its stored deals need removed",
        )
        wait_for_numbers(flow, [worker], wanted, "the numbers kept under the refused removal")
    assert asyncio.run(read_loaded_settings(settings)) == ControlSettings()
