"""A Debezium record's value to what the bridge produces: events, or one refusal."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from streams.bridges.process.kafka_bridge import translate_records
from streams.bridges.refusal import Refusal, RefusalReason
from streams.cdc.bridge import bridge_translator, debezium_bridge
from streams.cdc.translator import DebeziumTranslator
from streams.settings import Settings
from tests.support.bridges import consumed
from tests.support.debezium_envelopes import ODOO_TOML, envelope, lead_row, odoo_mapping, update
from tests.support.ingest import FIXED_NOW, make_ingestor

TOPIC = "crm.public.crm_lead"


def translator() -> DebeziumTranslator:
    return DebeziumTranslator(odoo_mapping(), make_ingestor())


def test_events_are_keyed_by_deal_in_the_order_of_the_change() -> None:
    change = update(lead_row(), 100, "2026-11-21T10:00:00", stage_id=4, expected_revenue="9.5")
    events = translator().map_value(json.dumps(change).encode())
    assert not isinstance(events, Refusal)
    assert [(event.key, event.payload["type"]) for event in events] == [
        (b"42", "deal.amount_changed"),
        (b"42", "deal.won"),
    ]


def test_a_refusal_is_one_dead_letter_with_reason_detail_and_origin() -> None:
    raw = json.dumps(envelope("c", after=lead_row(), table="res_partner")).encode()
    records = [consumed(TOPIC, 12, raw, key=b'{"id":42}'), consumed(TOPIC, 13, None)]
    translation = translate_records(records, translator().map_value)
    [letter] = translation.letters
    assert translation.events == []
    assert (letter.value, letter.key, letter.origin) == (raw, b'{"id":42}', f"{TOPIC}/0/12")
    assert letter.refusal.reason is RefusalReason.NOT_A_DEAL
    assert "res_partner" in letter.refusal.detail


def test_not_json_is_refused_too() -> None:
    refusal = translator().map_value(b"\xff not json")
    assert isinstance(refusal, Refusal)
    assert refusal.reason is RefusalReason.NOT_JSON


def test_an_event_the_worker_would_refuse_is_refused_with_the_workers_reason() -> None:
    far_future = lead_row(create_date=4_102_444_800_000_000, write_date=4_102_444_800_000_000)
    refusal = translator().map_value(json.dumps(envelope("c", after=far_future)).encode())
    assert isinstance(refusal, Refusal)
    assert refusal.reason is RefusalReason.REJECTED_BY_INGEST
    assert refusal.detail.startswith("future_timestamp: ")


def test_the_bridge_leaves_currencies_to_the_workers(tmp_path: Path) -> None:
    """A worker may have loaded a rate (`dealpulse rates load`) the bridge's settings lack."""
    mapping_file = tmp_path / "odoo.toml"
    mapping_file.write_text(ODOO_TOML)
    settings = Settings(
        debezium_mapping_file=mapping_file, currency_rates={"USD": Decimal(1)}, clock=FIXED_NOW
    )
    raw = json.dumps(envelope("c", after=lead_row())).encode()  # in the mapping's EUR
    events = bridge_translator(settings).map_value(raw)
    assert events
    assert not isinstance(events, Refusal)


def test_the_bridge_reads_the_lead_topic_and_serves_metrics_on_its_own_port() -> None:
    settings = Settings(debezium_topic_prefix="odoo", bridge_debezium_port=7001)
    bridge = debezium_bridge(settings)
    assert (bridge.source, bridge.topic, bridge.metrics_port) == (
        "debezium",
        "odoo.public.crm_lead",
        7001,
    )
    assert bridge.group_id == settings.debezium_group_id
