"""Ingest edge cases beyond the schema examples: bytes, keys, limits, CloudEvents."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.events import DealEvent, EventType
from streams.ingest.dead_letter import REASON_HEADER, dead_letter
from streams.ingest.decode import canonical_type
from streams.ingest.message import RawMessage
from streams.ingest.rejection import Reason, Rejection
from tests.support.ingest import FIXED_NOW, make_ingestor, message_for

WON: dict[str, Any] = {
    "event_id": "e-1",
    "schema_version": 1,
    "type": "deal.won",
    "occurred_at": "2026-11-01T10:00:00Z",
    "deal_id": "deal-1",
    "owner": "seller-1",
    "amount": "100.10",
    "currency": "EUR",
}


def reason_of(message: RawMessage, **settings: Any) -> Reason:
    outcome = make_ingestor(**settings).ingest(message)
    assert isinstance(outcome, Rejection), outcome
    return outcome.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, Reason.TOMBSTONE),
        (b"\xff\xfe\x00", Reason.UNDECODABLE),
        (b"{not json", Reason.NOT_JSON),
        (b"", Reason.NOT_JSON),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b'"deal.won"', Reason.NOT_AN_OBJECT),
        (b"{}", Reason.MISSING_FIELD),
    ],
)
def test_undecodable_messages_are_rejected(value: bytes | None, reason: Reason) -> None:
    assert reason_of(RawMessage(key=b"deal-1", value=value)) is reason


def test_oversize_is_checked_before_decoding() -> None:
    payload = {**WON, "source": "x" * 70_000}
    assert reason_of(message_for(payload)) is Reason.OVERSIZE
    not_even_json = RawMessage(key=b"deal-1", value=b"x" * 1025)
    assert reason_of(not_even_json, max_message_bytes=1024) is Reason.OVERSIZE


def test_key_must_be_the_deal_id() -> None:
    good = message_for(WON)
    assert reason_of(RawMessage(key=b"deal-2", value=good.value)) is Reason.KEY_MISMATCH
    assert reason_of(RawMessage(key=None, value=good.value)) is Reason.KEY_MISMATCH


def test_future_skew_is_configurable() -> None:
    soon = FIXED_NOW + timedelta(hours=2)
    payload = {**WON, "occurred_at": soon.isoformat()}
    assert isinstance(make_ingestor().ingest(message_for(payload)), DealEvent)
    assert reason_of(message_for(payload), max_future_skew=timedelta(hours=1)) is (
        Reason.FUTURE_TIMESTAMP
    )


def test_amount_ceiling_is_configurable() -> None:
    assert reason_of(message_for(WON), max_amount=Decimal(100)) is Reason.BAD_AMOUNT


def test_normalises_money_and_time() -> None:
    payload = {**WON, "occurred_at": "2026-11-01T12:00:00.123456789+02:00"}
    event = make_ingestor().ingest(message_for(payload))
    assert isinstance(event, DealEvent)
    assert event.amount is not None
    assert event.amount.amount == Decimal("100.10")
    assert str(event.amount.amount) == "100.10"
    assert event.occurred_at.isoformat() == "2026-11-01T10:00:00.123456+00:00"
    assert event.tenant == "default"
    assert event.type is EventType.WON


def cloudevent_headers(**overrides: bytes) -> tuple[tuple[str, bytes], ...]:
    headers = {
        "ce_specversion": b"1.0",
        "ce_id": b"e-1",
        "ce_source": b"/crm/hubspot",
        "ce_type": b"com.acme.crm.deal.won",
        "ce_time": b"2026-11-01T10:00:00Z",
        "content-type": b"application/json",
        **overrides,
    }
    return tuple(headers.items())


CE_DATA = {"deal_id": "deal-1", "owner": "seller-1", "amount": "100.10", "currency": "EUR"}


def test_binary_cloudevent_is_accepted_like_a_plain_event() -> None:
    message = RawMessage(
        key=b"deal-1", value=json.dumps(CE_DATA).encode(), headers=cloudevent_headers()
    )
    event = make_ingestor().ingest(message)
    plain = make_ingestor().ingest(message_for({**WON, "source": "/crm/hubspot"}))
    assert event == plain


def test_structured_cloudevent_is_accepted_like_a_plain_event() -> None:
    envelope = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/crm/hubspot",
        "type": "deal.won",
        "time": "2026-11-01T10:00:00Z",
        "datacontenttype": "application/json",
        "data": CE_DATA,
    }
    message = RawMessage(
        key=b"deal-1",
        value=json.dumps(envelope).encode(),
        headers=(("content-type", b"application/cloudevents+json; charset=utf-8"),),
    )
    assert make_ingestor().ingest(message) == make_ingestor().ingest(
        message_for({**WON, "source": "/crm/hubspot"})
    )


@pytest.mark.parametrize(
    "headers",
    [
        (("ce_specversion", b"1.0"),),
        cloudevent_headers(ce_specversion=b"9.9"),
        cloudevent_headers(ce_time=b"not a time"),
    ],
    ids=["no-attributes", "unknown-specversion", "bad-time"],
)
def test_malformed_binary_cloudevent_is_rejected(headers: tuple[tuple[str, bytes], ...]) -> None:
    message = RawMessage(key=b"deal-1", value=json.dumps(CE_DATA).encode(), headers=headers)
    assert reason_of(message) is Reason.BAD_CLOUDEVENT


def test_structured_cloudevent_without_id_is_rejected() -> None:
    envelope = {"specversion": "1.0", "source": "/x", "type": "deal.won", "data": CE_DATA}
    message = RawMessage(
        key=b"deal-1",
        value=json.dumps(envelope).encode(),
        headers=(("content-type", b"application/cloudevents+json"),),
    )
    assert reason_of(message) is Reason.BAD_CLOUDEVENT


@pytest.mark.parametrize(
    ("attribute", "data_field", "in_data"),
    [
        ("ce_id", "event_id", "e-2"),
        ("ce_type", "type", "deal.lost"),
        ("ce_time", "occurred_at", "2026-11-01T11:00:00Z"),
        ("ce_subject", "deal_id", "deal-1"),
    ],
)
def test_a_cloudevent_attribute_never_silently_overrides_its_data(
    attribute: str, data_field: str, in_data: str
) -> None:
    headers = cloudevent_headers(ce_subject=b"deal-2")
    data = {**CE_DATA, data_field: in_data}
    message = RawMessage(key=b"deal-1", value=json.dumps(data).encode(), headers=headers)
    if attribute != "ce_subject":
        data["deal_id"] = "deal-1"
        headers = cloudevent_headers()
        message = RawMessage(key=b"deal-1", value=json.dumps(data).encode(), headers=headers)
    outcome = make_ingestor().ingest(message)
    assert isinstance(outcome, Rejection)
    assert outcome.reason is Reason.CE_CONFLICT
    assert data_field in outcome.detail


def test_a_cloudevent_attribute_that_agrees_with_its_data_is_accepted() -> None:
    data = {
        **CE_DATA,
        "event_id": "e-1",
        "type": "deal.won",
        "occurred_at": "2026-11-01T11:00+01:00",
    }
    message = RawMessage(
        key=b"deal-1", value=json.dumps(data).encode(), headers=cloudevent_headers()
    )
    assert isinstance(make_ingestor().ingest(message), DealEvent)


def test_only_cloudevents_1_0_are_read() -> None:
    data = json.dumps(CE_DATA).encode()
    binary = RawMessage(b"deal-1", data, cloudevent_headers(ce_specversion=b"0.3"))
    assert reason_of(binary) is Reason.BAD_CLOUDEVENT
    envelope = {"specversion": "0.3", "id": "e-1", "source": "/crm", "type": "deal.won"}
    structured = RawMessage(
        b"deal-1",
        json.dumps({**envelope, "data": CE_DATA}).encode(),
        (("content-type", b"application/cloudevents+json"),),
    )
    assert reason_of(structured) is Reason.BAD_CLOUDEVENT


@pytest.mark.parametrize("instant", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_an_instant_utc_cannot_hold_is_a_bad_timestamp(instant: str) -> None:
    assert reason_of(message_for({**WON, "occurred_at": instant})) is Reason.BAD_TIMESTAMP


def test_fields_nested_too_deep_to_validate_are_a_schema_violation() -> None:
    nested: dict[str, Any] = {}
    for _ in range(300):
        nested = {"x": nested}
    assert reason_of(message_for({**WON, "extra": nested})) is Reason.SCHEMA_VIOLATION


def test_keys_and_headers_have_a_size_limit() -> None:
    long_key = RawMessage(key=b"k" * 1025, value=json.dumps(WON).encode())
    assert reason_of(long_key) is Reason.OVERSIZE
    many_headers = message_for(WON)
    many_headers = RawMessage(many_headers.key, many_headers.value, (("trace", b"x" * 20_000),))
    assert reason_of(many_headers) is Reason.OVERSIZE
    assert isinstance(make_ingestor(max_headers_bytes=32_768).ingest(many_headers), DealEvent)


def test_a_dead_letter_keeps_a_tombstone_and_cuts_only_what_is_over_the_limits() -> None:
    ingestor = make_ingestor()
    tombstone = RawMessage(key=b"deal-1", value=None, topic="t", partition=0, offset=1)
    rejection = ingestor.ingest(tombstone)
    assert isinstance(rejection, Rejection)
    assert rejection.reason is Reason.TOMBSTONE
    kept = dead_letter(tombstone, rejection, ingestor.limits)
    assert kept.value is None
    assert "dealpulse.truncated" not in dict(kept.headers)
    huge = RawMessage(
        key=b"k" * 5000,
        value=b"v" * 1_040_000,
        headers=(("trace", b"x" * 20_000),),
        topic="t",
        partition=0,
        offset=2,
    )
    rejection = ingestor.ingest(huge)
    assert isinstance(rejection, Rejection)
    letter = dead_letter(huge, rejection, ingestor.limits)
    assert letter.value == b"v" * ingestor.limits.value_bytes
    assert letter.key == b"k" * ingestor.limits.key_bytes
    headers = dict(letter.headers)
    assert "trace" not in headers
    assert headers["dealpulse.truncated"] == b"value 1040000, key 5000, headers 20005"
    assert headers["dealpulse.sha256"] == hashlib.sha256(huge.value or b"").hexdigest().encode()
    assert headers["dealpulse.origin"] == b"t/0/2"


def test_cloudevent_with_non_object_data_is_rejected() -> None:
    message = RawMessage(key=b"deal-1", value=b"[1]", headers=cloudevent_headers())
    assert reason_of(message) is Reason.BAD_CLOUDEVENT


@pytest.mark.parametrize(
    ("cloudevent_type", "canonical"),
    [("deal.won", "deal.won"), ("com.acme.deal.lost", "deal.lost"), ("other", "other")],
)
def test_canonical_type(cloudevent_type: str, canonical: str) -> None:
    assert canonical_type(cloudevent_type) == canonical


def test_dead_letter_keeps_bytes_and_headers_and_adds_the_reason() -> None:
    message = RawMessage(
        key=b"k", value=b"\xff", headers=(("trace", b"1"),), topic="t", partition=3, offset=9
    )
    rejection = make_ingestor().ingest(message)
    assert isinstance(rejection, Rejection)
    letter = dead_letter(message, rejection, make_ingestor().limits)
    assert letter.value == b"\xff"
    assert letter.key == b"k"
    assert letter.headers[0] == ("trace", b"1")
    headers = dict(letter.headers)
    assert headers[REASON_HEADER] == b"undecodable"
    assert headers["dealpulse.origin"] == b"t/3/9"


@given(
    key=st.one_of(st.none(), st.binary(max_size=20)),
    value=st.one_of(st.none(), st.binary(max_size=300)),
    headers=st.lists(
        st.tuples(
            st.sampled_from(["ce_id", "ce_specversion", "ce_type", "content-type", "x"]),
            st.binary(max_size=30),
        ),
        max_size=4,
    ),
)
def test_ingest_never_raises_on_arbitrary_bytes(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    outcome = make_ingestor().ingest(RawMessage(key=key, value=value, headers=tuple(headers)))
    assert isinstance(outcome, (DealEvent, Rejection))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)


@given(overrides=st.dictionaries(st.sampled_from(sorted(WON)), json_values, max_size=4))
def test_ingest_never_raises_on_arbitrary_field_values(overrides: dict[str, Any]) -> None:
    payload = {**WON, **overrides}
    message = RawMessage(key=b"deal-1", value=json.dumps(payload, allow_nan=True).encode())
    assert isinstance(make_ingestor().ingest(message), (DealEvent, Rejection))
