"""Turn message bytes into a JSON object: plain JSON or a CloudEvents 1.0 message.

CloudEvents are recognised the way the Kafka protocol binding says: `ce_`
headers mean binary mode, a `content-type` of `application/cloudevents+json`
means structured mode. The `cloudevents` SDK does the parsing; this module only
maps the CloudEvent attributes onto the canonical field names.
"""

from __future__ import annotations

from typing import Any

import orjson
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, from_structured
from cloudevents.core.formats.json import JSONFormat

from streams.domain.events import SCHEMA_VERSION, EventType
from streams.ingest.message import RawMessage
from streams.ingest.rejection import Reason, Rejection

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
CANONICAL_TYPES = frozenset(EventType)
REQUIRED_ATTRIBUTES = frozenset({"specversion", "id", "source", "type"})
_JSON_FORMAT = JSONFormat()

JsonObject = dict[str, Any]


def decode(message: RawMessage, max_message_bytes: int) -> JsonObject | Rejection:
    value = message.value
    if value is None:
        return Rejection(Reason.UNDECODABLE, "message has no value (tombstone)")
    if len(value) > max_message_bytes:
        return Rejection(
            Reason.OVERSIZE, f"{len(value)} bytes is over the limit of {max_message_bytes}"
        )
    header_names = {name.lower(): content for name, content in message.headers}
    if any(name.startswith("ce_") for name in header_names):
        return _decode_cloudevent(message, value, structured=False)
    content_type = header_names.get("content-type", b"").decode("latin-1").lower()
    if content_type.startswith(STRUCTURED_CONTENT_TYPE):
        return _decode_cloudevent(message, value, structured=True)
    return _decode_json_object(value)


def _decode_json_object(value: bytes) -> JsonObject | Rejection:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        return Rejection(Reason.UNDECODABLE, f"not UTF-8: {error}")
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        return Rejection(Reason.NOT_JSON, f"not JSON: {error}")
    if not isinstance(payload, dict):
        return Rejection(Reason.NOT_AN_OBJECT, f"JSON {type(payload).__name__}, not an object")
    return payload


def _decode_cloudevent(
    message: RawMessage, value: bytes, *, structured: bool
) -> JsonObject | Rejection:
    if structured:
        envelope = _decode_json_object(value)
        if isinstance(envelope, Rejection):
            return envelope
        present = set(envelope)
    else:
        present = {name.lower().removeprefix("ce_") for name, _ in message.headers}
    absent = sorted(REQUIRED_ATTRIBUTES - present)
    if absent:
        # The SDK would invent an id, which would defeat deduplication: refuse instead.
        return Rejection(Reason.BAD_CLOUDEVENT, f"missing CloudEvents attributes: {absent}")
    kafka_message = KafkaMessage(headers=dict(message.headers), key=message.key, value=value)
    try:
        parse = from_structured if structured else from_binary
        event = parse(kafka_message, _JSON_FORMAT)
    except Exception as error:  # noqa: BLE001 - the SDK raises many kinds; all mean a bad event
        return Rejection(Reason.BAD_CLOUDEVENT, f"{type(error).__name__}: {error}")
    return _canonical_from_cloudevent(event)


def _canonical_from_cloudevent(event: BaseCloudEvent) -> JsonObject | Rejection:
    data = event.get_data()
    if isinstance(data, (bytes, str)):
        decoded = _decode_json_object(data.encode() if isinstance(data, str) else data)
        if isinstance(decoded, Rejection):
            return Rejection(Reason.BAD_CLOUDEVENT, f"data: {decoded.detail}")
        data = decoded
    if not isinstance(data, dict):
        return Rejection(Reason.BAD_CLOUDEVENT, "data is not a JSON object")
    attributes = event.get_attributes()
    canonical: JsonObject = {"schema_version": SCHEMA_VERSION, **data}
    canonical["event_id"] = attributes["id"]
    canonical["source"] = str(attributes["source"])
    canonical["type"] = canonical_type(str(attributes["type"]))
    occurred_at = attributes.get("time")
    if occurred_at is not None:
        canonical["occurred_at"] = occurred_at.isoformat()
    subject = attributes.get("subject")
    if subject is not None and "deal_id" not in canonical:
        canonical["deal_id"] = subject
    return canonical


def canonical_type(cloudevent_type: str) -> str:
    """`deal.won` as is; a reverse-DNS form like `com.acme.crm.deal.won` by its suffix."""
    if cloudevent_type in CANONICAL_TYPES:
        return cloudevent_type
    _, separator, suffix = cloudevent_type.rpartition(".deal.")
    return f"deal.{suffix}" if separator else cloudevent_type
