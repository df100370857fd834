"""Reading a CRM's numbers: what is canonical is written out, what is not is refused,
and a hostile number is refused without being written out first."""

from __future__ import annotations

import json
import tracemalloc
from decimal import Decimal

import pytest

from streams.bridges.refusal import Refusal, RefusalReason, SourceFieldError
from streams.bridges.salesforce import map_salesforce
from streams.bridges.source_values import amount_text, decode_source
from tests.support.bridges import epoch_ms, opportunity_event, salesforce_mapping

AMOUNTS: list[tuple[object, str]] = [
    (0, "0"),
    ("12500.50", "12500.50"),
    (Decimal("2786.0800000"), "2786.080000"),
    (Decimal("1E+3"), "1000"),
    (Decimal("0E-40000000"), "0.000000"),
    ("999999999999.999999", "999999999999.999999"),
]


@pytest.mark.parametrize(("value", "text"), AMOUNTS)
def test_a_canonical_amount_is_written_out(value: object, text: str) -> None:
    assert amount_text(value, "amount") == text


HOSTILE_AMOUNTS = [
    Decimal("1E+40000000"),
    Decimal("1E-40000000"),
    "1e40000000",
    Decimal("1.5E-40000000"),
    Decimal("0E+40000000"),
    "1000000000000",
    "0.0000001",
    "-1",
    "NaN",
    "Infinity",
]


@pytest.mark.parametrize("value", HOSTILE_AMOUNTS, ids=repr)
def test_an_amount_out_of_range_is_refused_before_it_is_written_out(value: object) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(SourceFieldError) as refused:
            amount_text(value, "amount")
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.reason is RefusalReason.BAD_VALUE
    assert len(refused.value.detail) < 200
    assert peak_bytes < 1_000_000


@pytest.mark.parametrize("number", ["1e99999999999999999999", "-1e-99999999999999999999"])
def test_a_number_past_decimals_range_is_not_json_not_an_exception(number: str) -> None:
    decoded = decode_source(f'{{"Amount": {number}}}'.encode())
    assert isinstance(decoded, Refusal)
    assert decoded.reason is RefusalReason.NOT_JSON


def test_a_hostile_amount_in_a_change_event_is_a_refusal() -> None:
    event = opportunity_event(
        "UPDATE",
        ["006Hs00001AAAAAIA1"],
        epoch_ms("2026-11-02T09:00:00"),
        "0001a2b3-c4d5",
        changed_fields=["Amount"],
        Amount="AMOUNT",
    )
    raw = json.dumps(event).encode().replace(b'"AMOUNT"', b"1e4000000000")
    decoded = decode_source(raw)
    assert not isinstance(decoded, Refusal)
    outcome = map_salesforce(decoded, salesforce_mapping())
    assert isinstance(outcome, Refusal)
    assert outcome.reason is RefusalReason.BAD_VALUE
