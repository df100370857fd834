"""Check a decoded JSON object against the schema and normalise it to a `DealEvent`.

jsonschema-rs (a Rust implementation of draft 2020-12, about thirty times faster
than the pure-Python `jsonschema` on our schema, which matters at thousands of
events per second) finds what is wrong; this module names it with a `Reason`, then
applies the rules a schema cannot state: calendar-valid timestamps and dates, the
future-skew limit, the amount ceiling and the key matching `deal_id`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema_rs

from streams.domain.events import DEFAULT_TENANT, DealEvent, EventType
from streams.domain.money import Money
from streams.ingest.rejection import Reason, Rejection
from streams.ingest.timestamps import parse_timestamp

Clock = Callable[[], datetime]

_FIELD_REASONS = {
    "type": Reason.UNKNOWN_TYPE,
    "amount": Reason.BAD_AMOUNT,
    "currency": Reason.BAD_CURRENCY,
    "occurred_at": Reason.BAD_TIMESTAMP,
    "expected_close_date": Reason.BAD_CLOSE_DATE,
}
_MISSING_VALIDATORS = frozenset({"required", "dependentRequired"})


class EventValidator:
    """Validates against one schema with the ingest limits from the settings."""

    def __init__(
        self,
        schema: dict[str, Any],
        *,
        max_amount: Decimal,
        max_future_skew: timedelta,
        currencies: frozenset[str] | None = None,
    ) -> None:
        self._validator = jsonschema_rs.Draft202012Validator(schema)
        self._max_amount = max_amount
        self._max_future_skew = max_future_skew
        self._currencies = currencies

    def accept_currencies(self, currencies: frozenset[str]) -> None:
        """From now on, an amount in any other currency is refused (`unknown_currency`)."""
        self._currencies = currencies

    def validate(
        self, payload: dict[str, Any], key: bytes | None, now: datetime, *, check_key: bool = True
    ) -> DealEvent | Rejection:
        """`check_key=False` for sources without message keys (JSONL files)."""
        try:
            if not self._validator.is_valid(payload):
                return _rejection_for(next(iter(self._validator.iter_errors(payload))))
        except ValueError as error:  # jsonschema-rs on deep nesting: "Recursion limit reached"
            return Rejection(Reason.SCHEMA_VIOLATION, f"cannot be validated: {error}")
        occurred_at = parse_timestamp(payload["occurred_at"])
        if occurred_at is None:
            return Rejection(Reason.BAD_TIMESTAMP, f"not a date-time: {payload['occurred_at']!r}")
        if occurred_at > now + self._max_future_skew:
            return Rejection(
                Reason.FUTURE_TIMESTAMP,
                f"occurred_at {occurred_at.isoformat()} is more than "
                f"{self._max_future_skew} after {now.isoformat()}",
            )
        close_date = _close_date(payload)
        if isinstance(close_date, Rejection):
            return close_date
        money = _money(payload)
        if money is not None and money.amount > self._max_amount:
            return Rejection(Reason.BAD_AMOUNT, f"{money.amount} is over {self._max_amount}")
        known = self._currencies
        if money is not None and known is not None and money.currency not in known:
            return Rejection(
                Reason.UNKNOWN_CURRENCY,
                f"{money.currency} has no rate (DEALPULSE_CURRENCY_RATES, or loaded) "
                f"({', '.join(sorted(known))})",
            )
        deal_id: str = payload["deal_id"]
        if check_key and (key is None or key != deal_id.encode("utf-8")):
            return Rejection(
                Reason.KEY_MISMATCH, f"message key {key!r} is not the deal_id {deal_id!r}"
            )
        return DealEvent(
            event_id=payload["event_id"],
            type=EventType(payload["type"]),
            occurred_at=occurred_at,
            deal_id=deal_id,
            tenant=payload.get("tenant", DEFAULT_TENANT),
            pipeline=payload.get("pipeline"),
            stage=payload.get("stage"),
            owner=payload.get("owner"),
            amount=money,
            reason=payload.get("reason"),
            source=payload.get("source"),
            schema_version=payload["schema_version"],
            expected_close_date=close_date,
        )


def _close_date(payload: dict[str, Any]) -> date | Rejection | None:
    """The expected close date; the schema checked its shape, this its calendar."""
    text = payload.get("expected_close_date")
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return Rejection(Reason.BAD_CLOSE_DATE, f"not a calendar date: {text!r}")


def _money(payload: dict[str, Any]) -> Money | None:
    if "amount" not in payload:
        return None
    try:
        amount = Decimal(payload["amount"])
    except InvalidOperation:  # the schema's pattern makes this unreachable; kept as a guard
        return None
    return Money(amount=amount, currency=payload["currency"])


def _rejection_for(error: jsonschema_rs.ValidationError) -> Rejection:
    path = list(error.instance_path)
    keyword = str(error.schema_path[-1]) if error.schema_path else ""
    field = str(path[0]) if path else None
    detail = f"{'/'.join(map(str, path)) or '(event)'}: {error.message}"[:500]
    if keyword in _MISSING_VALIDATORS:
        return Rejection(Reason.MISSING_FIELD, detail)
    if keyword == "type":
        return Rejection(Reason.WRONG_TYPE, detail)
    if field in _FIELD_REASONS:
        return Rejection(_FIELD_REASONS[field], detail)
    return Rejection(Reason.SCHEMA_VIOLATION, detail)
