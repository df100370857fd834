"""The catalogue of deliberately bad messages, one defect each.

Every kind is built from a valid event of a real deal (same key, pipeline and
owner) with exactly one thing broken, so a rejection can only be for that one
reason. Most kinds break `schemas/deal-event.v1.schema.json`; the kinds in
`SCHEMA_VALID_KINDS` pass the schema and must be caught by ingest rules
(event time in the far future, a half-formed CloudEvents envelope).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from streams.domain.events import EventType
from streams.simulator.messages import OutboundMessage, encode_json, format_timestamp

UTF16_LE_BOM = b"\xff\xfe"  # 0xff never occurs in UTF-8
PLACEHOLDER_AMOUNT = "1000.00"
PLACEHOLDER_CURRENCY = "USD"
UNKNOWN_EVENT_TYPE = "deal.exploded"
NEGATIVE_AMOUNT = "-5.00"
NAN_AMOUNT = "NaN"
HUGE_AMOUNTS = ("1e400", "12345678901234567890.00")  # past the schema's 12 integer digits
BAD_CURRENCIES = ("XYZ", "usd")
BAD_TIMESTAMP_WORD = "yesterday"
FUTURE_YEAR = 2999
OVERSIZE_SOURCE_BYTES = 200 * 1024
UNSUPPORTED_SCHEMA_VERSION = 2
UNKNOWN_FIELD = "win_probability"
CLOUDEVENTS_SPECVERSION_HEADER = "ce_specversion"
CLOUDEVENTS_SPECVERSION = b"1.0"

Event = dict[str, object]


class InvalidKind(StrEnum):
    UNDECODABLE = "undecodable"
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_TYPE = "unknown_type"
    MISSING_FIELD = "missing_field"
    NEGATIVE_AMOUNT = "negative_amount"
    NAN_AMOUNT = "nan_amount"
    HUGE_AMOUNT = "huge_amount"
    BAD_CURRENCY = "bad_currency"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    OVERSIZE = "oversize"
    BAD_CLOUDEVENT = "bad_cloudevent"
    BAD_SCHEMA_VERSION = "bad_schema_version"
    UNKNOWN_FIELD = "unknown_field"


INVALID_KINDS = tuple(InvalidKind)
SCHEMA_VALID_KINDS = frozenset({InvalidKind.FUTURE_TIMESTAMP, InvalidKind.BAD_CLOUDEVENT})


def make_invalid(
    kind: InvalidKind, template: OutboundMessage, rng: random.Random
) -> OutboundMessage:
    """A bad message of `kind` for the deal of `template`, a valid message."""
    base = _base_event(template, rng)
    headers: tuple[tuple[str, bytes], ...] = ()
    if kind is InvalidKind.UNDECODABLE:
        # UTF-16 with a byte-order mark, as a misconfigured Windows connector writes it;
        # the event is ASCII-only JSON, so no 0x0a byte (newline) can appear.
        value = UTF16_LE_BOM + encode_json(base).decode("ascii").encode("utf-16-le")
    elif kind is InvalidKind.NOT_JSON:
        # A write cut short: a prefix of an object is never a complete JSON text.
        encoded = encode_json(base)
        value = encoded[: len(encoded) // 2]
    elif kind is InvalidKind.NOT_AN_OBJECT:
        value = encode_json([base])
    elif kind is InvalidKind.BAD_CLOUDEVENT:
        value = encode_json(base)
        headers = ((CLOUDEVENTS_SPECVERSION_HEADER, CLOUDEVENTS_SPECVERSION),)
    else:
        _BREAKERS[kind](base, rng)
        value = encode_json(base)
    return OutboundMessage(key=template.key, value=value, headers=headers, invalid_kind=kind)


def _base_event(template: OutboundMessage, rng: random.Random) -> Event:
    """A valid amount change for the template's deal, with a fresh event id."""
    event: Event = json.loads(template.value)
    event["event_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    event["type"] = EventType.AMOUNT_CHANGED.value
    event.setdefault("amount", PLACEHOLDER_AMOUNT)
    event.setdefault("currency", PLACEHOLDER_CURRENCY)
    event.pop("reason", None)
    return event


def _amount_as_number(event: Event, rng: random.Random) -> None:
    event["amount"] = float(str(event["amount"]))


def _unknown_type(event: Event, rng: random.Random) -> None:
    event["type"] = UNKNOWN_EVENT_TYPE


def _created_without_owner(event: Event, rng: random.Random) -> None:
    event["type"] = EventType.CREATED.value
    del event["owner"]


def _setter(name: str, value: object) -> Callable[[Event, random.Random], None]:
    def set_field(event: Event, rng: random.Random) -> None:
        event[name] = value

    return set_field


def _chooser(name: str, choices: tuple[str, ...]) -> Callable[[Event, random.Random], None]:
    def choose_field(event: Event, rng: random.Random) -> None:
        event[name] = rng.choice(choices)

    return choose_field


def _bad_timestamp(event: Event, rng: random.Random) -> None:
    without_offset = str(event["occurred_at"]).removesuffix("Z")
    event["occurred_at"] = rng.choice((BAD_TIMESTAMP_WORD, without_offset))


def _future_timestamp(event: Event, rng: random.Random) -> None:
    moment = datetime.fromisoformat(str(event["occurred_at"]))
    leap_day = (moment.month, moment.day) == (2, 29)
    future = moment.replace(year=FUTURE_YEAR, day=28 if leap_day else moment.day)
    event["occurred_at"] = format_timestamp(future)


def _oversize(event: Event, rng: random.Random) -> None:
    event["source"] = "x" * OVERSIZE_SOURCE_BYTES


_BREAKERS: dict[InvalidKind, Callable[[Event, random.Random], None]] = {
    InvalidKind.WRONG_TYPE: _amount_as_number,
    InvalidKind.UNKNOWN_TYPE: _unknown_type,
    InvalidKind.MISSING_FIELD: _created_without_owner,
    InvalidKind.NEGATIVE_AMOUNT: _setter("amount", NEGATIVE_AMOUNT),
    InvalidKind.NAN_AMOUNT: _setter("amount", NAN_AMOUNT),
    InvalidKind.HUGE_AMOUNT: _chooser("amount", HUGE_AMOUNTS),
    InvalidKind.BAD_CURRENCY: _chooser("currency", BAD_CURRENCIES),
    InvalidKind.BAD_TIMESTAMP: _bad_timestamp,
    InvalidKind.FUTURE_TIMESTAMP: _future_timestamp,
    InvalidKind.OVERSIZE: _oversize,
    InvalidKind.BAD_SCHEMA_VERSION: _setter("schema_version", UNSUPPORTED_SCHEMA_VERSION),
    InvalidKind.UNKNOWN_FIELD: _setter(UNKNOWN_FIELD, 0.4),
}
