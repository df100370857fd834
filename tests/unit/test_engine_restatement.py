"""Pipelines and rates loaded mid-stream restate: the engine's numbers are then exactly those of
every event under the loaded settings, as if they had always been in force.

`DealEngine` runs over the in-memory broker (`tests.support.fake_kafka`) and real
RocksDB stores; what the control plane holds is a value the test replaces, as
the settings table's agent does on a worker. The expected numbers come from the
independent reference under the loaded settings.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.domain.context import MetricContext
from streams.domain.pipeline_config import parse_pipeline_config
from streams.domain.settings_record import ControlSettings, RateTable
from streams.engine.deal_engine import DealEngine, EngineError, _Rebalance
from streams.metric_context import build_context, effective_rates
from streams.settings import Settings
from streams.simulator import OutboundMessage
from tests.support.fake_kafka import PARTITIONS, TOPIC, Broker, consume, engine_for, produce
from tests.support.oracle import accepted_events
from tests.support.reference import reference
from tests.support.workload import CLOCK, simulated

# The simulator's pipelines, with other probabilities, two stages swapped (what counts as
# advancing changes) and the expansion pipeline gone (its deals become unknown_pipeline).
LOADED_PIPELINES = parse_pipeline_config(
    {
        "pipelines": {
            "new-business": {
                "stages": [
                    {"name": "lead", "win_probability": Decimal("0.1")},
                    {"name": "demo", "win_probability": Decimal("0.2")},
                    {"name": "qualified", "win_probability": Decimal("0.35")},
                    {"name": "proposal", "win_probability": Decimal("0.6")},
                    {"name": "negotiation", "win_probability": Decimal("0.9")},
                ]
            }
        }
    }
)
LOADED_RATES = RateTable("USD", {"EUR": Decimal("1.1234567"), "GBP": Decimal("1.3")})


class Plane:
    """What the control plane holds; the test loads into it."""

    def __init__(self) -> None:
        self.held = ControlSettings()

    def current(self) -> ControlSettings:
        return self.held


def settings_for(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(
        clock=CLOCK,
        topic_events=TOPIC,
        topic_partitions=PARTITIONS,
        data_dir=tmp_path,
        engine_checkpoint_events=97,
        engine_checkpoint_seconds=3600,
        **changes,
    )


def expected(
    messages: list[OutboundMessage], settings: Settings, control: ControlSettings
) -> dict[Any, Any]:
    """Every accepted message under the settings `control` gives, by the reference."""
    rates = effective_rates(settings, control)
    under = settings.model_copy(update={"currency_rates": rates})
    ctx = context(settings, control)
    return reference(accepted_events(messages, under, CLOCK), ctx)


def context(settings: Settings, control: ControlSettings) -> MetricContext:
    return build_context(
        settings, CLOCK, pipelines=control.pipelines, rates=effective_rates(settings, control)
    )


def numbers(engine: DealEngine, ctx: MetricContext) -> dict[Any, Any]:
    return {k: v for k, v in engine.aggregates(ctx).as_dict().items() if v != 0}


def halves(messages: list[OutboundMessage]) -> tuple[list[OutboundMessage], ...]:
    middle = len(messages) // 2
    return messages[:middle], messages[middle:]


def test_settings_loaded_mid_stream_restate_every_number(tmp_path: Path) -> None:
    messages = simulated(1_500, seed=11)
    settings = settings_for(tmp_path)
    broker, plane = Broker(), Plane()
    engine = engine_for(settings, broker, control=plane.current)
    first, second = halves(messages)
    loaded = ControlSettings(pipelines=LOADED_PIPELINES, rates=LOADED_RATES)

    async def run() -> None:
        produce(broker, first)
        await consume(engine, broker, range(PARTITIONS), None, close=False)
        assert numbers(engine, context(settings, plane.held)) == expected(
            first, settings, ControlSettings()
        )
        plane.held = loaded
        produce(broker, second)
        await consume(engine, broker, range(PARTITIONS), None, close=False)

    asyncio.run(run())
    assert numbers(engine, context(settings, loaded)) == expected(messages, settings, loaded)
    asyncio.run(engine.close())


def test_a_load_with_no_event_after_it_restates_at_the_next_batch(tmp_path: Path) -> None:
    messages = simulated(800, seed=12)
    settings = settings_for(tmp_path)
    broker, plane = Broker(), Plane()
    engine = engine_for(settings, broker, control=plane.current)
    loaded = ControlSettings(pipelines=LOADED_PIPELINES)

    async def run() -> None:
        produce(broker, messages)
        await consume(engine, broker, range(PARTITIONS), None, close=False)
        plane.held = loaded
        await engine.handle({})  # an empty fetch, as the loop's getmany returns when idle
        assert numbers(engine, context(settings, loaded)) == expected(messages, settings, loaded)
        before = engine.epoch
        plane.held = ControlSettings()  # removed: the file's configuration again
        await engine.handle({})
        assert engine.epoch == before + 1
        assert numbers(engine, context(settings, plane.held)) == expected(
            messages, settings, plane.held
        )
        await engine.close()

    asyncio.run(run())


def test_loaded_rates_add_currencies_the_environment_lacks(tmp_path: Path) -> None:
    """Events in a currency with a loaded rate are accepted, and a restarted engine restores
    under the loaded rates; without them, those events are dead-lettered."""
    messages = simulated(1_000, seed=13)
    settings = settings_for(tmp_path, currency_rates={"USD": Decimal(1), "EUR": Decimal("1.08")})
    loaded = ControlSettings(
        rates=RateTable(
            "USD", {"GBP": Decimal("1.27"), "CAD": Decimal("0.73"), "AUD": Decimal("0.66")}
        )
    )
    found = {}

    def unknown_currency(broker: Broker) -> int:
        return sum(
            dict(letter.headers)["dealpulse.reason"] == b"unknown_currency"
            for p in range(PARTITIONS)
            for letter in broker.logs[(settings.topic_dlq, p)]
        )

    async def run(broker: Broker, plane: Plane, data: Path) -> None:
        at = settings.model_copy(update={"data_dir": data})
        await consume(
            engine_for(at, broker, control=plane.current), broker, range(PARTITIONS), None
        )
        again = engine_for(at, broker, control=plane.current)  # restarted, from its stores
        await consume(again, broker, range(PARTITIONS), None, close=False)
        found.update(numbers(again, context(settings, plane.held)))
        await again.close()

    without, plane = Broker(), Plane()
    produce(without, messages)
    asyncio.run(run(without, plane, tmp_path / "without"))
    assert unknown_currency(without) > 0

    with_rates, plane = Broker(), Plane()
    plane.held = loaded
    produce(with_rates, messages)
    found.clear()
    asyncio.run(run(with_rates, plane, tmp_path / "with"))
    assert unknown_currency(with_rates) == 0
    assert found == expected(messages, settings, loaded)


def test_settings_that_cannot_apply_are_refused_and_change_nothing(tmp_path: Path) -> None:
    messages = simulated(800, seed=14)
    settings = settings_for(tmp_path, currency_rates={"USD": Decimal(1), "EUR": Decimal("1.08")})
    broker, plane, registry = Broker(), Plane(), CollectorRegistry()
    gbp = ControlSettings(rates=RateTable("USD", {"GBP": Decimal("1.27")}))
    plane.held = gbp
    engine = engine_for(settings, broker, control=plane.current, registry=registry)

    def refusing() -> float | None:
        return registry.get_sample_value("dealpulse_loaded_settings_refused")

    async def run() -> None:
        produce(broker, messages)
        await consume(engine, broker, range(PARTITIONS), None, close=False)
        kept = numbers(engine, context(settings, gbp))
        epoch = engine.epoch
        for refused in (
            ControlSettings(rates=RateTable("EUR", {"GBP": Decimal("1.2")})),  # another currency
            ControlSettings(),  # GBP gone, and stored deals are in GBP
        ):
            plane.held = refused
            await engine.handle({})
            assert engine.epoch == epoch
            assert numbers(engine, context(settings, gbp)) == kept
            assert refusing() == 1
        plane.held = gbp  # what was applied all along: nothing is refused any more
        await engine.handle({})
        assert refusing() == 0
        assert engine.epoch == epoch
        await engine.close()

    asyncio.run(run())
    assert any(b'"GBP"' in m.value for m in messages if m.value)


def test_settings_adopted_before_any_partition_are_not_counted_as_a_restatement(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    broker, plane, registry = Broker(), Plane(), CollectorRegistry()
    plane.held = ControlSettings(pipelines=LOADED_PIPELINES)
    engine = engine_for(settings, broker, control=plane.current, registry=registry)
    produce(broker, simulated(300, seed=15))

    async def run() -> None:
        await consume(engine, broker, range(PARTITIONS), None, close=False)
        assert registry.get_sample_value("dealpulse_restatements_total") == 0
        plane.held = ControlSettings()
        await engine.handle({})
        assert registry.get_sample_value("dealpulse_restatements_total") == 1
        await engine.close()

    asyncio.run(run())


def test_a_failed_rebalance_stops_the_engine_at_its_next_batch(tmp_path: Path) -> None:
    """aiokafka only logs what a rebalance listener raises: the engine must not go on with
    partitions it never restored."""
    engine = engine_for(settings_for(tmp_path), Broker())

    async def failing(partitions: Any) -> None:
        raise OSError("the disk is gone")

    engine.assign = failing  # type: ignore[method-assign]  # the step that fails

    async def run() -> None:
        await _Rebalance(engine).on_partitions_assigned([])
        with pytest.raises(EngineError, match="a rebalance failed: OSError: the disk is gone"):
            await engine.handle({})

    asyncio.run(run())
