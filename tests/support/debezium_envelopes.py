"""Debezium PostgreSQL change events of an Odoo-style `crm_lead`, written from the envelope
Debezium documents (before / after / op / source with lsn and ts_ms; JSON converter,
`decimal.handling.mode=string`, timestamps in microseconds, dates in epoch days)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from streams.bridges.mapping_file import SourceMapping, parse_mapping

ODOO_TOML = """\
source = "odoo"
tenant = "acme"
currency = "EUR"
lost_reason = "no reason given"

[pipelines]
1 = "new-business"
2 = "renewals"

[stages]
1 = "lead"
2 = "qualified"
3 = "proposal"

[outcomes]
won = [4]

[lost_reasons]
1 = "too expensive"
2 = "went silent"
"""
WON_STAGE = 4


def odoo_mapping() -> SourceMapping:
    return parse_mapping(ODOO_TOML, where="odoo.toml")


def micros(text: str) -> int:
    """Debezium's `MicroTimestamp` of a naive UTC time (`2026-11-20T10:00:00`)."""
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def epoch_days(text: str) -> int:
    return (date.fromisoformat(text) - date(1970, 1, 1)).days


def lead_row(**fields: Any) -> dict[str, Any]:
    """A whole `crm_lead` row (REPLICA IDENTITY FULL sends every column); `fields` override."""
    row: dict[str, Any] = {
        "id": 42,
        "name": "Ten seats for Agrolait",
        "type": "opportunity",
        "stage_id": 1,
        "team_id": 1,
        "user_id": 7,
        "expected_revenue": "12500.00",
        "probability": 10.0,
        "active": True,
        "lost_reason_id": None,
        "date_deadline": epoch_days("2026-12-31"),
        "date_closed": None,
        "create_date": micros("2026-11-20T09:00:00"),
        "write_date": micros("2026-11-20T09:00:00"),
    }
    row.update(fields)
    return row


def envelope(
    op: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    lsn: int = 24_023_128,
    committed: str = "2026-11-20T12:00:00",
    table: str = "crm_lead",
    snapshot: str = "false",
) -> dict[str, Any]:
    committed_ms = micros(committed) // 1000
    return {
        "before": before,
        "after": after,
        "source": {
            "version": "3.6.1.Final",
            "connector": "postgresql",
            "name": "crm",
            "ts_ms": committed_ms,
            "snapshot": snapshot,
            "db": "crm",
            "sequence": f'["{lsn - 8}","{lsn}"]',
            "schema": "public",
            "table": table,
            "txId": 771,
            "lsn": lsn,
            "xmin": None,
        },
        "transaction": None,
        "op": op,
        "ts_ms": committed_ms + 35,
    }


def update(before: dict[str, Any], lsn: int, written: str, **changes: Any) -> dict[str, Any]:
    """The `u` envelope of an UPDATE of `before` that sets `changes` and `write_date`."""
    after = {**before, **changes, "write_date": micros(written)}
    return envelope("u", before=before, after=after, lsn=lsn, committed=written)


def with_schema(payload: dict[str, Any]) -> dict[str, Any]:
    """The same event as the JSON converter writes it with `schemas.enable=true`."""
    return {
        "schema": {"type": "struct", "name": "crm.public.crm_lead.Envelope"},
        "payload": payload,
    }
