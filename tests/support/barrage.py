"""A hostile barrage: more than fifty kinds of bad message, each with the reason it must get.

Every kind turns a valid message of the workload (its key, its event) into one
bad message, as a broken connector, an upstream bug or an attacker would send
it: transport (tombstones, encodings, sizes, keys, headers), JSON shape, every
required field missing or of the wrong type, bad values of each field, and
CloudEvents that are malformed or contradict their data. The reasons are
written here by hand: the barrage checks ingest's classification, it does not
ask ingest what to expect.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from streams.ingest.rejection import Reason
from streams.simulator import OutboundMessage

Event = dict[str, Any]
Make = Callable[[OutboundMessage, Event], OutboundMessage]

REQUIRED = ("schema_version", "event_id", "type", "occurred_at", "deal_id")
STRINGS = ("event_id", "occurred_at", "deal_id", "tenant", "pipeline", "stage", "owner", "source")


@dataclass(frozen=True)
class Kind:
    name: str
    reason: Reason
    make: Make


def _value(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _with(**changes: Any) -> Make:
    def make(message: OutboundMessage, event: Event) -> OutboundMessage:
        return replace(message, value=_value({**event, **changes}))

    return make


def _without(field: str) -> Make:
    def make(message: OutboundMessage, event: Event) -> OutboundMessage:
        return replace(message, value=_value({k: v for k, v in event.items() if k != field}))

    return make


def _raw(value: bytes | None) -> Make:
    def make(message: OutboundMessage, event: Event) -> OutboundMessage:
        # A tombstone (None) is what the simulator never sends, so its type says bytes.
        return replace(message, value=value)  # type: ignore[arg-type]

    return make


def _keyed(key: bytes | None) -> Make:
    def make(message: OutboundMessage, event: Event) -> OutboundMessage:
        return replace(message, key=key, value=_value(event))

    return make


def _headers(headers: tuple[tuple[str, bytes], ...], data: Callable[[Event], object]) -> Make:
    def make(message: OutboundMessage, event: Event) -> OutboundMessage:
        return replace(message, value=_value(data(event)), headers=headers)

    return make


def _cloudevent(event: Event, **overrides: bytes) -> tuple[tuple[str, bytes], ...]:
    headers = {
        "ce_specversion": b"1.0",
        "ce_id": str(event["event_id"]).encode(),
        "ce_source": b"/crm/barrage",
        "ce_type": str(event["type"]).encode(),
        "ce_time": str(event["occurred_at"]).encode(),
        "ce_subject": str(event["deal_id"]).encode(),
        "content-type": b"application/json",
        **overrides,
    }
    return tuple(headers.items())


def _binary_cloudevent(data: Callable[[Event], object], **overrides: bytes) -> Make:
    def make(message: OutboundMessage, event: Event) -> OutboundMessage:
        return replace(message, value=_value(data(event)), headers=_cloudevent(event, **overrides))

    return make


def _structured(envelope: Callable[[Event], bytes]) -> Make:
    def make(message: OutboundMessage, event: Event) -> OutboundMessage:
        return replace(
            message,
            value=envelope(event),
            headers=(("content-type", b"application/cloudevents+json"),),
        )

    return make


def _nested(depth: int) -> object:
    nested: object = "deep"
    for _ in range(depth):
        nested = {"x": nested}
    return nested


def _same(event: Event) -> Event:
    return event


KINDS: tuple[Kind, ...] = (
    # transport and size
    Kind("tombstone", Reason.TOMBSTONE, _raw(None)),
    Kind("empty value", Reason.NOT_JSON, _raw(b"")),
    Kind("utf-16", Reason.UNDECODABLE, _raw('{"a": 1}'.encode("utf-16"))),
    Kind("invalid utf-8", Reason.UNDECODABLE, _raw(b'{"deal_id": "\xff\xfe"}')),
    Kind("value over the limit", Reason.OVERSIZE, _raw(b" " * 70_000 + b"{}")),
    Kind("key over the limit", Reason.OVERSIZE, _keyed(b"k" * 2_000)),
    Kind("headers over the limit", Reason.OVERSIZE, _headers((("x-junk", b"j" * 20_000),), _same)),
    Kind("no key", Reason.KEY_MISMATCH, _keyed(None)),
    Kind("another deal's key", Reason.KEY_MISMATCH, _keyed(b"deal-somebody-else")),
    # JSON shape
    Kind("cut short", Reason.NOT_JSON, _raw(b'{"schema_version": 1, "event_id": ')),
    Kind("NaN literal", Reason.NOT_JSON, _raw(b'{"amount": NaN}')),
    Kind("trailing garbage", Reason.NOT_JSON, _raw(b'{"a": 1} trailing')),
    Kind("array", Reason.NOT_AN_OBJECT, _raw(b"[1, 2, 3]")),
    Kind("string", Reason.NOT_AN_OBJECT, _raw(b'"deal.won"')),
    Kind("number", Reason.NOT_AN_OBJECT, _raw(b"42")),
    Kind("null", Reason.NOT_AN_OBJECT, _raw(b"null")),
    Kind("empty object", Reason.MISSING_FIELD, _raw(b"{}")),
    # every required field missing, every text field of the wrong type
    *(Kind(f"no {field}", Reason.MISSING_FIELD, _without(field)) for field in REQUIRED),
    *(Kind(f"{field} a number", Reason.WRONG_TYPE, _with(**{field: 7})) for field in STRINGS),
    Kind("schema_version a string", Reason.SCHEMA_VIOLATION, _with(schema_version="1")),
    Kind("amount a number", Reason.WRONG_TYPE, _with(amount=12.5, currency="EUR")),
    # bad values
    Kind("unknown type", Reason.UNKNOWN_TYPE, _with(type="deal.exploded")),
    Kind("negative amount", Reason.BAD_AMOUNT, _with(amount="-5.00", currency="EUR")),
    Kind("NaN amount", Reason.BAD_AMOUNT, _with(amount="NaN", currency="EUR")),
    Kind("exponent amount", Reason.BAD_AMOUNT, _with(amount="1e5", currency="EUR")),
    Kind("13-digit amount", Reason.BAD_AMOUNT, _with(amount="1234567890123", currency="EUR")),
    Kind("lowercase currency", Reason.BAD_CURRENCY, _with(amount="5.00", currency="eur")),
    Kind("made-up currency", Reason.BAD_CURRENCY, _with(amount="5.00", currency="XYZ")),
    Kind("currency without rate", Reason.UNKNOWN_CURRENCY, _with(amount="5.00", currency="JPY")),
    Kind("not a date", Reason.BAD_TIMESTAMP, _with(occurred_at="yesterday")),
    Kind("February 30th", Reason.BAD_TIMESTAMP, _with(occurred_at="2026-02-30T10:00:00Z")),
    Kind("no offset", Reason.BAD_TIMESTAMP, _with(occurred_at="2026-03-01T10:00:00")),
    Kind("past UTC's end", Reason.BAD_TIMESTAMP, _with(occurred_at="9999-12-31T23:30:00-01:00")),
    Kind("far future", Reason.FUTURE_TIMESTAMP, _with(occurred_at="2099-01-01T00:00:00Z")),
    Kind("schema version 2", Reason.SCHEMA_VIOLATION, _with(schema_version=2)),
    Kind("unknown field", Reason.SCHEMA_VIOLATION, _with(hacked=True)),
    Kind("over-long deal_id", Reason.SCHEMA_VIOLATION, _with(deal_id="d" * 300)),
    Kind("nested 300 deep", Reason.SCHEMA_VIOLATION, _with(extra=_nested(300))),
    # CloudEvents
    Kind(
        "CloudEvent without id",
        Reason.BAD_CLOUDEVENT,
        _headers(
            (("ce_specversion", b"1.0"), ("ce_source", b"/x"), ("ce_type", b"deal.won")), _same
        ),
    ),
    Kind("CloudEvent 0.3", Reason.BAD_CLOUDEVENT, _binary_cloudevent(_same, ce_specversion=b"0.3")),
    Kind("CloudEvent bad time", Reason.BAD_CLOUDEVENT, _binary_cloudevent(_same, ce_time=b"noon")),
    Kind("CloudEvent data a list", Reason.BAD_CLOUDEVENT, _binary_cloudevent(lambda e: [e])),
    Kind("CloudEvent id conflict", Reason.CE_CONFLICT, _binary_cloudevent(_same, ce_id=b"other")),
    Kind(
        "CloudEvent type conflict",
        Reason.CE_CONFLICT,
        _binary_cloudevent(_same, ce_type=b"com.acme.deal.exploded_not"),
    ),
    Kind(
        "CloudEvent time conflict",
        Reason.CE_CONFLICT,
        _binary_cloudevent(_same, ce_time=b"2020-01-01T00:00:00Z"),
    ),
    Kind(
        "CloudEvent subject conflict",
        Reason.CE_CONFLICT,
        _binary_cloudevent(_same, ce_subject=b"deal-other"),
    ),
    Kind(
        "structured CloudEvent not JSON",
        Reason.NOT_JSON,
        _structured(lambda e: b'{"specversion": "1.0", '),
    ),
    Kind(
        "structured CloudEvent without source",
        Reason.BAD_CLOUDEVENT,
        _structured(lambda e: _value({"specversion": "1.0", "id": "x", "type": "deal.won"})),
    ),
)


def barrage(valid: list[OutboundMessage]) -> list[tuple[Kind, OutboundMessage]]:
    """Every kind once per valid message of `valid` (round robin over the kinds)."""
    return [
        (kind, kind.make(message, json.loads(message.value)))
        for index, message in enumerate(valid)
        for kind in (KINDS[index % len(KINDS)],)
    ]
