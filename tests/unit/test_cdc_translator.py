"""A Debezium record to what the bridge produces: events, nothing, or one dead letter."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError

from streams.bridges.refusal import RefusalReason
from streams.cdc.bridge import bridge_batch, bridge_translator
from streams.cdc.translator import REJECTED_PREFIX, DebeziumTranslator
from streams.ingest.message import RawMessage
from streams.settings import Settings
from tests.support.bridges import RecordingSender
from tests.support.debezium_envelopes import ODOO_TOML, envelope, lead_row, odoo_mapping, update
from tests.support.ingest import FIXED_NOW, make_ingestor


def translator() -> DebeziumTranslator:
    return DebeziumTranslator(odoo_mapping(), make_ingestor())


def record(value: bytes | None, offset: int = 7) -> RawMessage:
    return RawMessage(b'{"id":42}', value, (), "crm.public.crm_lead", 0, offset)


def test_events_are_keyed_by_deal_and_a_tombstone_gives_nothing() -> None:
    bridge = translator()
    change = update(lead_row(), 100, "2026-11-21T10:00:00", stage_id=4, expected_revenue="9.5")
    produced = bridge.translate(record(json.dumps(change).encode()))
    assert [(item.key, item.dead_letter) for item in produced] == [(b"42", False), (b"42", False)]
    assert [json.loads(item.value or b"")["type"] for item in produced] == [
        "deal.amount_changed",
        "deal.won",
    ]
    assert bridge.translate(record(None)) == []
    assert bridge.counts.tombstones == 1
    assert bridge.counts.events == 2


def test_a_refusal_is_one_dead_letter_with_reason_detail_and_origin() -> None:
    bridge = translator()
    raw = json.dumps(envelope("c", after=lead_row(), table="res_partner")).encode()
    [letter] = bridge.translate(record(raw, offset=12))
    headers = dict(letter.headers)
    assert letter.dead_letter
    assert letter.value == raw
    assert headers["dealpulse.reason"] == RefusalReason.NOT_A_DEAL.value.encode()
    assert b"res_partner" in headers["dealpulse.detail"]
    assert headers["dealpulse.origin"] == b"crm.public.crm_lead/0/12"
    assert bridge.counts.refusals == {"not_a_deal": 1}


def test_not_json_is_a_dead_letter_too() -> None:
    [letter] = translator().translate(record(b"\xff not json"))
    assert dict(letter.headers)["dealpulse.reason"] == b"not_json"


def test_an_event_the_worker_would_refuse_is_dead_lettered_instead() -> None:
    far_future = lead_row(create_date=4_102_444_800_000_000, write_date=4_102_444_800_000_000)
    raw = json.dumps(envelope("c", after=far_future)).encode()
    [letter] = translator().translate(record(raw))
    reason = dict(letter.headers)["dealpulse.reason"].decode()
    assert reason == REJECTED_PREFIX + "future_timestamp"


def test_the_bridge_leaves_currencies_to_the_workers(tmp_path: Path) -> None:
    """A worker may have loaded a rate (`dealpulse rates load`) the bridge's settings lack."""
    mapping_file = tmp_path / "odoo.toml"
    mapping_file.write_text(ODOO_TOML)
    settings = Settings(
        debezium_mapping_file=mapping_file, currency_rates={"USD": Decimal(1)}, clock=FIXED_NOW
    )
    raw = json.dumps(envelope("c", after=lead_row())).encode()  # in the mapping's EUR
    produced = bridge_translator(settings).translate(record(raw))
    assert produced
    assert not any(item.dead_letter for item in produced)


def test_a_dead_letter_is_cut_to_the_ingest_limits() -> None:
    huge = b"\xff" + b"x" * 1_048_000
    [letter] = translator().translate(record(huge))
    headers = dict(letter.headers)
    assert letter.value == huge[: make_ingestor().limits.value_bytes]
    assert headers["dealpulse.truncated"] == f"value {len(huge)}".encode()
    assert headers["dealpulse.reason"] == b"not_json"


class RebalancedConsumer:
    async def commit(self, offsets: object = None) -> None:
        raise IllegalStateError("no longer assigned")


def test_a_commit_refused_by_a_rebalance_does_not_stop_the_bridge() -> None:
    partition = TopicPartition("crm.public.crm_lead", 0)
    consumed = ConsumerRecord(
        topic=partition.topic,
        partition=0,
        offset=3,
        timestamp=0,
        timestamp_type=0,
        key=b'{"id":42}',
        value=b"not json",
        checksum=None,
        serialized_key_size=9,
        serialized_value_size=8,
        headers=(),
    )
    sender = RecordingSender()
    settings = Settings(topic_bridge_dlq="dlq")
    batch = bridge_batch(
        {partition: [consumed]},
        translator(),
        sender,
        RebalancedConsumer(),
        settings,
    )
    asyncio.run(batch)  # returns: the next owner reads the batch again
    assert len(sender.on("dlq")) == 1
