"""The example files in schemas/examples are the schema's documentation: run them.

An invalid example's file name starts with the reason ingest must give it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pycountry
import pytest
from jsonschema import Draft202012Validator

from streams.domain.events import DealEvent
from streams.ingest.rejection import Reason, Rejection
from streams.ingest.schema import SCHEMA_DIR, event_schema
from tests.support.ingest import make_ingestor, message_for

VALID = sorted((SCHEMA_DIR / "examples" / "valid").glob("*.json"))
INVALID = sorted((SCHEMA_DIR / "examples" / "invalid").glob("*.json"))
NOT_MONEY = {"XTS", "XXX"}  # ISO 4217 codes for testing and "no currency"


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(event_schema())


def test_currency_enum_is_iso_4217() -> None:
    iso_codes = {currency.alpha_3 for currency in pycountry.currencies} - NOT_MONEY
    assert set(event_schema()["properties"]["currency"]["enum"]) == iso_codes


def test_there_are_examples_for_every_event_type_and_many_reasons() -> None:
    types = {json.loads(path.read_text())["type"] for path in VALID}
    assert types == set(event_schema()["properties"]["type"]["enum"])
    assert len({path.name.split("--")[0] for path in INVALID}) >= 8


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.stem)
def test_valid_example_is_accepted(path: Path) -> None:
    payload = json.loads(path.read_text())
    outcome = make_ingestor().ingest(message_for(payload))
    assert isinstance(outcome, DealEvent), outcome
    assert outcome.event_id == payload["event_id"]
    assert outcome.occurred_at.utcoffset() is not None
    assert outcome.occurred_at.tzname() == "UTC"
    if "amount" in payload:
        assert outcome.amount is not None
        assert outcome.amount.amount == Decimal(payload["amount"])


@pytest.mark.parametrize("path", INVALID, ids=lambda path: path.stem)
def test_invalid_example_is_rejected_with_its_reason(path: Path) -> None:
    expected = Reason(path.name.split("--")[0])
    outcome = make_ingestor().ingest(message_for(json.loads(path.read_text())))
    assert isinstance(outcome, Rejection), outcome
    assert outcome.reason is expected, outcome.detail
    assert outcome.detail
