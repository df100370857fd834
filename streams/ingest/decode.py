"""Turn message bytes into a JSON object: plain JSON or a CloudEvents 1.0 message.

CloudEvents are recognised the way the Kafka protocol binding says: `ce_`
headers mean binary mode, a `content-type` of `application/cloudevents+json`
means structured mode. The `cloudevents` SDK does the parsing; this module only
maps the CloudEvent attributes onto the canonical field names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, from_structured
from cloudevents.core.formats.json import JSONFormat

from streams.domain.events import SCHEMA_VERSION, EventType
from streams.ingest.message import Headers, RawMessage
from streams.ingest.rejection import Reason, Rejection
from streams.ingest.timestamps import parse_timestamp

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
SPEC_VERSION = "1.0"
"""The CloudEvents version read: 0.3 names attributes differently (`schemaurl`...)."""
CANONICAL_TYPES = frozenset(EventType)
REQUIRED_ATTRIBUTES = frozenset({"specversion", "id", "source", "type"})
_JSON_FORMAT = JSONFormat()

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SizeLimits:
    """The largest value, key and headers (names and values together) ingest accepts."""

    value_bytes: int
    key_bytes: int
    headers_bytes: int


def decode(message: RawMessage, limits: SizeLimits) -> JsonObject | Rejection:
    value = message.value
    if value is None:
        return Rejection(Reason.TOMBSTONE, "message has no value (a tombstone)")
    if len(value) > limits.value_bytes:
        return Rejection(
            Reason.OVERSIZE, f"{len(value)} bytes is over the limit of {limits.value_bytes}"
        )
    if message.key is not None and len(message.key) > limits.key_bytes:
        return Rejection(
            Reason.OVERSIZE,
            f"a key of {len(message.key)} bytes is over the limit of {limits.key_bytes}",
        )
    headers_bytes = headers_size(message.headers)
    if headers_bytes > limits.headers_bytes:
        return Rejection(
            Reason.OVERSIZE,
            f"headers of {headers_bytes} bytes are over the limit of {limits.headers_bytes}",
        )
    header_names = {name.lower(): content for name, content in message.headers}
    if any(name.startswith("ce_") for name in header_names):
        return _decode_cloudevent(message, value, structured=False)
    content_type = header_names.get("content-type", b"").decode("latin-1").lower()
    if content_type.startswith(STRUCTURED_CONTENT_TYPE):
        return _decode_cloudevent(message, value, structured=True)
    return _decode_json_object(value)


def headers_size(headers: Headers) -> int:
    """The bytes of the headers' names (UTF-8) and values."""
    return sum(len(name.encode("utf-8", "replace")) + len(content) for name, content in headers)


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
        version = envelope.get("specversion")
    else:
        headers = {name.lower().removeprefix("ce_"): content for name, content in message.headers}
        present = set(headers)
        raw_version = headers.get("specversion")
        version = None if raw_version is None else raw_version.decode("latin-1")
    absent = sorted(REQUIRED_ATTRIBUTES - present)
    if absent:
        # The SDK would invent an id, which would defeat deduplication: refuse instead.
        return Rejection(Reason.BAD_CLOUDEVENT, f"missing CloudEvents attributes: {absent}")
    if version != SPEC_VERSION:
        return Rejection(
            Reason.BAD_CLOUDEVENT, f"specversion {version!r}: only {SPEC_VERSION} is read"
        )
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
    from_attributes: JsonObject = {
        "event_id": attributes["id"],
        "type": canonical_type(str(attributes["type"])),
    }
    occurred_at = attributes.get("time")
    if occurred_at is not None:
        from_attributes["occurred_at"] = occurred_at.isoformat()
    subject = attributes.get("subject")
    if subject is not None:
        from_attributes["deal_id"] = subject
    for field, value in from_attributes.items():
        if field in data and not _same(field, data[field], value):
            return Rejection(
                Reason.CE_CONFLICT,
                f"the CloudEvent says {field} {value!r}, its data {data[field]!r}",
            )
    source = str(attributes["source"])  # the CloudEvent's own, as before: no conflict checked
    return {"schema_version": SCHEMA_VERSION, **data, **from_attributes, "source": source}


def _same(field: str, in_data: Any, from_attributes: str) -> bool:
    """Whether the data's `field` says what the CloudEvent attribute does."""
    if field == "occurred_at" and isinstance(in_data, str):
        return parse_timestamp(in_data) == parse_timestamp(from_attributes)
    if field == "type" and isinstance(in_data, str):
        return canonical_type(in_data) == from_attributes
    return bool(in_data == from_attributes)


def canonical_type(cloudevent_type: str) -> str:
    """`deal.won` as is; a reverse-DNS form like `com.acme.crm.deal.won` by its suffix."""
    if cloudevent_type in CANONICAL_TYPES:
        return cloudevent_type
    _, separator, suffix = cloudevent_type.rpartition(".deal.")
    return f"deal.{suffix}" if separator else cloudevent_type
