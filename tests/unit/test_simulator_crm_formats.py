"""`simulate --format pipedrive|salesforce|debezium`: what the bridge makes of the simulated CRM's
payloads counts exactly as the canonical simulation does — churns aside (a CRM has no
change that stands for one), and Salesforce's losses carry the mapping's reason (an
Opportunity has no standard loss reason)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.debezium import map_debezium
from streams.bridges.mapping_file import DEFAULT_LOST_REASON, parse_mapping
from streams.bridges.pipedrive import map_pipedrive
from streams.bridges.refusal import Refusal
from streams.bridges.salesforce import map_salesforce
from streams.bridges.source_values import decode_source
from streams.domain.events import DealEvent, EventType
from streams.domain.replay import compute
from streams.metric_context import build_context
from streams.settings import Settings
from streams.simulator import SimulationConfig, generate
from streams.simulator.crm_formats import SourceFormat, as_source
from tests.support.bridges import ingested
from tests.support.oracle import accepted_events, differences

NOW = datetime(2026, 11, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = {
    "pipedrive": 'source = "simcrm"\n',
    "salesforce": 'source = "simcrm"\npipeline = "new-business"\n',
    "debezium": (ROOT / "deploy" / "bridges" / "simulated-debezium.toml").read_text(),
}
MAPPERS = {"pipedrive": map_pipedrive, "salesforce": map_salesforce, "debezium": map_debezium}


def config(pipelines: int) -> SimulationConfig:
    return SimulationConfig(
        seed=5,
        deals=300,
        pipelines=pipelines,
        start=NOW - timedelta(days=80),
        span=timedelta(days=70),
        duplicate_pct=3.0,
        invalid_pct=1.0,
    )


def mapped(payload: bytes, source: SourceFormat) -> tuple[CanonicalEvent, ...]:
    mapping = parse_mapping(MAPPINGS[source])
    document = decode_source(payload)
    assert isinstance(document, dict)
    outcome = MAPPERS[source](document, mapping)
    assert not isinstance(outcome, Refusal), (outcome, document)
    return outcome


@pytest.mark.parametrize(
    ("source", "pipelines"), [("pipedrive", 3), ("salesforce", 1), ("debezium", 3)]
)
def test_the_bridge_counts_the_simulated_crm_as_the_simulation(
    source: SourceFormat, pipelines: int
) -> None:
    settings = Settings()
    canonical = [
        event
        for event in accepted_events(generate(config(pipelines), now=NOW), settings, NOW)
        if event.type is not EventType.CHURNED
    ]
    if source == "salesforce":
        canonical = [
            replace(event, reason=DEFAULT_LOST_REASON) if event.type is EventType.LOST else event
            for event in canonical
        ]
    payloads = list(as_source(generate(config(pipelines), now=NOW), source))
    bridged: list[DealEvent] = ingested(
        event for message in payloads for event in mapped(message.value, source)
    )
    assert len({message.value for message in payloads}) < len(payloads)  # redeliveries
    ctx = build_context(settings, NOW)
    assert differences(compute(bridged, ctx), compute(canonical, ctx)) == []
