"""The simulated deals as Debezium's PostgreSQL connector writes an Odoo-style `crm_lead`'s
changes (the envelope `streams.bridges.debezium` reads), for `simulate --format debezium`.

One change event per simulated event: an INSERT (`op: c`) for a creation, an
UPDATE (`op: u`, the whole row `before` and `after`, as with REPLICA IDENTITY
FULL) for a change, a DELETE (`op: d`) for a deletion. The row's ids are
dealpulse's own names: `team_id` the pipeline, `stage_id` the stage (`Won` for a
won lead: deploy/bridges/simulated-debezium.toml lists it as the won stage),
`user_id` the seller, `lost_reason_id` the loss reason; `company_currency` the
deal's currency. A loss archives the lead with its reason and a reopening
restores it, as Odoo does. `write_date` (microseconds) is the change's time, and
`source.ts_ms` too; the transaction id comes from the simulated event's id and
the LSN from its time, so a duplicate is the same change again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streams.domain.events import EventType

WON_STAGE = "Won"
LEAD_TABLE = "crm_lead"
_TRANSACTION_IDS = uuid.UUID("7c1e4b52-0d3a-4f69-8e2b-5a9d1c6f3e80")
_EPOCH_DAY = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def debezium_change(
    event: dict[str, Any], leads: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The change event of `event`, given the leads as the earlier events left them
    (updated here); None for a churn, which no change of a lead stands for."""
    kind = EventType(event["type"])
    deal_id = str(event["deal_id"])
    if kind is EventType.CHURNED:
        return None
    at_micros = _epoch_micros(str(event["occurred_at"]))
    before = leads.get(deal_id)
    if kind is EventType.DELETED:
        leads.pop(deal_id, None)
        return _envelope("d", event, at_micros, before or {"id": deal_id}, None)
    after = {**(before or {}), **_columns(kind, event), "id": deal_id, "write_date": at_micros}
    close_date = event.get("expected_close_date")
    if close_date is not None:  # the simulator moves it with a stage
        after["date_deadline"] = (date.fromisoformat(close_date) - _EPOCH_DAY).days
    leads[deal_id] = after
    if kind is EventType.CREATED:
        return _envelope("c", event, at_micros, None, {**after, "create_date": at_micros})
    return _envelope("u", event, at_micros, before, after)


def _columns(kind: EventType, event: dict[str, Any]) -> dict[str, Any]:
    money = (
        {"expected_revenue": event["amount"], "company_currency": event["currency"]}
        if "amount" in event
        else {}
    )
    if kind is EventType.CREATED:
        return {
            "name": f"Simulated {event['deal_id']}",
            "team_id": event["pipeline"],
            "stage_id": event["stage"],
            "user_id": event["owner"],
            "active": True,
            "lost_reason_id": None,
            "date_deadline": None,
            "date_closed": None,
            **money,
        }
    if kind is EventType.STAGE_CHANGED:
        return {"team_id": event["pipeline"], "stage_id": event["stage"]}
    if kind is EventType.AMOUNT_CHANGED:
        return money
    if kind is EventType.OWNER_CHANGED:
        return {"user_id": event["owner"]}
    if kind is EventType.CLOSE_DATE_CHANGED:
        return {}  # date_deadline is set from every event that has one
    closed_at = _epoch_micros(str(event["occurred_at"]))
    if kind is EventType.WON:
        return {"stage_id": WON_STAGE, "date_closed": closed_at, **money}
    if kind is EventType.LOST:
        return {"active": False, "lost_reason_id": event["reason"], "date_closed": closed_at}
    reopened = {"active": True, "lost_reason_id": None, "date_closed": None}
    return {**reopened, "stage_id": event["stage"], "team_id": event["pipeline"]}


def _envelope(
    op: str,
    event: dict[str, Any],
    at_micros: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> dict[str, Any]:
    committed_ms = at_micros // 1000
    transaction = uuid.uuid5(_TRANSACTION_IDS, str(event["event_id"])).int % 2**31
    return {
        "before": before,
        "after": after,
        "op": op,
        "source": {
            "version": "3.0.0.Final",
            "connector": "postgresql",
            "name": "crm",
            "db": "crm",
            "schema": "public",
            "table": LEAD_TABLE,
            "snapshot": "false",
            "txId": transaction,
            "lsn": at_micros,
            "ts_ms": committed_ms,
        },
        "ts_ms": committed_ms,
    }


def _epoch_micros(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)
