"""Reading a CRM's JSON values as canonical ones: ids, money, instants and dates.

Every reader raises `SourceFieldError` for a value it cannot use, so a mapper
reads a payload straight through and turns the first problem into a `Refusal`.
Money is parsed from JSON with `parse_float=Decimal` (see `decode_source`): a
float never holds an amount, not even on the way in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from streams.bridges.refusal import Refusal, RefusalReason, SourceFieldError
from streams.ingest.schema import event_schema
from streams.ingest.timestamps import parse_timestamp

_CANONICAL_AMOUNT = re.compile(r"(0|[1-9]\d{0,11})(\.\d{1,6})?")
_CONTROL = re.compile(r"[\x00-\x1f]")
_MICRO = Decimal("0.000001")
_AMOUNT_MAX_ADJUSTED = 11
"""The largest power of ten a canonical amount may reach (12 integer digits)."""
_AMOUNT_MIN_EXPONENT = -6
"""The smallest exponent a canonical amount may have (6 decimals)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)
_MILLISECONDS_FROM = 100_000_000_000
"""An epoch number at least this big is in milliseconds (seconds would be past year 5000)."""
NAME_LIMIT = 128
REASON_LIMIT = 256


def currencies() -> frozenset[str]:
    """The ISO 4217 codes the canonical schema accepts."""
    return frozenset(event_schema()["properties"]["currency"]["enum"])


def decode_json(raw: bytes) -> Any | Refusal:
    """A source payload as JSON of any shape, numbers with a fraction as `Decimal`."""
    try:
        return json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_no_nan)
    except (UnicodeDecodeError, ValueError, RecursionError, ArithmeticError) as error:
        # ArithmeticError: `Decimal` refuses an exponent past its range (`1e99999999999999999999`)
        return Refusal(RefusalReason.NOT_JSON, f"not UTF-8 JSON: {error}"[:500])


def decode_source(raw: bytes) -> dict[str, Any] | Refusal:
    """A source payload as a JSON object, numbers with a fraction as `Decimal`."""
    document = decode_json(raw)
    if isinstance(document, Refusal):
        return document
    if not isinstance(document, dict):
        return Refusal(RefusalReason.NOT_JSON, f"a JSON {type(document).__name__}, not an object")
    return document


def _no_nan(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number JSON allows")


def object_at(container: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = container.get(field)
    if not isinstance(value, Mapping):
        raise SourceFieldError(RefusalReason.MALFORMED, f"{field}: expected an object")
    return value


def id_text(value: object, field: str) -> str:
    """An id a CRM sends as a number or a string, as the canonical string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value:
        return value
    raise SourceFieldError(RefusalReason.MALFORMED, f"{field}: expected an id, got {value!r}")


def optional_id_text(value: object, field: str) -> str | None:
    return None if value is None else id_text(value, field)


def name_text(value: str, field: str) -> str:
    """A name the canonical event carries as it is (a deal, a stage, a seller)."""
    if len(value) > NAME_LIMIT or _CONTROL.search(value):
        raise SourceFieldError(
            RefusalReason.BAD_VALUE, f"{field}: {value[:40]!r} is not a canonical name"
        )
    return value


def reason_text(value: object, fallback: str) -> str:
    """A free-text reason: control characters become spaces, cut to the canonical limit."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return fallback
    text = " ".join(_CONTROL.sub(" ", str(value)).split())[:REASON_LIMIT]
    return text or fallback


def amount_text(value: object, field: str) -> str:
    """A non-negative amount as the canonical decimal string (`"12500.5"`)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise SourceFieldError(
            RefusalReason.BAD_VALUE, f"{field}: {_shown(value)} is not an amount"
        )
    try:
        amount = Decimal(value)
    except InvalidOperation as error:
        raise SourceFieldError(
            RefusalReason.BAD_VALUE, f"{field}: {_shown(value)} is not an amount"
        ) from error
    amount = _without_extra_zeros(amount)
    if amount.is_signed() or not _in_canonical_range(amount):
        raise _not_canonical_amount(value, field)
    text = format(amount, "f")
    if not _CANONICAL_AMOUNT.fullmatch(text):
        raise _not_canonical_amount(value, field)
    return text


def _in_canonical_range(amount: Decimal) -> bool:
    """Whether `amount` is finite with at most 12 integer digits and 6 decimals: checked
    before it is written out, as `format(Decimal("1e4000000000"), "f")` is 4 GB."""
    exponent = amount.as_tuple().exponent
    return (
        isinstance(exponent, int)
        and exponent >= _AMOUNT_MIN_EXPONENT
        and amount.adjusted() <= _AMOUNT_MAX_ADJUSTED
    )


def _not_canonical_amount(value: object, field: str) -> SourceFieldError:
    return SourceFieldError(
        RefusalReason.BAD_VALUE,
        f"{field}: {_shown(value)} is not a non-negative amount of at most 12 integer digits "
        "and 6 decimals",
    )


def _without_extra_zeros(amount: Decimal) -> Decimal:
    """`2786.0800000` as `2786.080000`: trailing zeros past six decimals say nothing."""
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= -6:
        return amount
    try:
        rounded = amount.quantize(_MICRO)
    except InvalidOperation:
        return amount
    return rounded if rounded == amount else amount


def _shown(value: object) -> str:
    """`value` for a refusal's detail: its `repr`, cut to 60 characters."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:60] + "..."


def currency_text(value: object, field: str) -> str:
    if not isinstance(value, str) or value not in currencies():
        raise SourceFieldError(
            RefusalReason.BAD_VALUE, f"{field}: {value!r} is not an ISO 4217 currency code"
        )
    return value


def instant(value: object, field: str) -> datetime:
    """An instant as CRMs send them: RFC 3339, a naive `YYYY-MM-DD HH:MM:SS` in UTC
    (Pipedrive's API times), or epoch seconds or milliseconds (Salesforce's
    `commitTimestamp`)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        try:
            if value >= _MILLISECONDS_FROM:
                return _EPOCH + timedelta(milliseconds=value)
            return _EPOCH + timedelta(seconds=value)
        except OverflowError:
            pass
    elif isinstance(value, str):
        text = value.strip()
        parsed = parse_timestamp(text) or parse_timestamp(text + "Z")
        if parsed is not None:
            return parsed
    raise SourceFieldError(RefusalReason.MALFORMED, f"{field}: {value!r} is not an instant")


def calendar_date(value: object, field: str) -> date:
    """A date: `YYYY-MM-DD`, or days since 1970-01-01 (a date in Avro-derived JSON)."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return _EPOCH_DAY + timedelta(days=value)
        if isinstance(value, str) and len(value) == 10:
            return date.fromisoformat(value)
    except (ValueError, OverflowError):
        pass
    raise SourceFieldError(RefusalReason.BAD_VALUE, f"{field}: {value!r} is not a calendar date")
