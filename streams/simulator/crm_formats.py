"""The simulated deals as a CRM would send them, for a bridge to turn back into events.

`simulate --format pipedrive|salesforce|debezium` writes these instead of
canonical events: a Pipedrive webhook v2 body, a Salesforce
`OpportunityChangeEvent` as a Kafka Connect source writes it, or Debezium's
change event of an Odoo-style `crm_lead` row (`debezium_format`), per simulated
event. The CRM's ids are
dealpulse's own names (deal, pipeline, stage and seller ids), which a mapping
file with nothing but `source` (and, for Salesforce, `pipeline`; for Debezium,
the won stage) passes through, so the bridge's output counts as the canonical simulation does, with
these exceptions: a churn has no CRM change to stand for it and is left out, and
Salesforce has one pipeline per mapping file (simulate with `--pipelines 1`).
Each source event's id is derived from the simulated event's id, so a duplicate
is a redelivery of the same source event.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from streams.domain.events import EventType
from streams.simulator.debezium_format import debezium_change
from streams.simulator.messages import OutboundMessage

SourceFormat = Literal["pipedrive", "salesforce", "debezium"]
SOURCE_FORMATS: tuple[SourceFormat, ...] = ("pipedrive", "salesforce", "debezium")
_IDS = uuid.UUID("2f0d9c1e-5b7a-4e3c-9d1f-6a8b4c2e0f19")
_WON_STAGE, _LOST_STAGE = "Closed Won", "Closed Lost"


def as_source(
    messages: Iterable[OutboundMessage], source: SourceFormat
) -> Iterator[OutboundMessage]:
    """Each valid simulated event as `source` sends it; invalid messages are left out
    (a CRM sends its own kind of garbage, which the bridge tests cover)."""
    deals: dict[str, dict[str, Any]] = {}
    sent: dict[str, OutboundMessage] = {}
    convert = _CONVERTERS[source]
    for message in messages:
        if message.invalid_kind is not None:
            continue
        event = json.loads(message.value)
        event_id = str(event["event_id"])
        if event_id not in sent:  # a duplicate is the same source event again
            converted = convert(event, deals)
            if converted is None:
                continue
            sent[event_id] = OutboundMessage(
                key=str(event["deal_id"]).encode(),
                value=json.dumps(converted, separators=(",", ":"), default=float).encode(),
                occurred_at=message.occurred_at,
            )
        yield sent[event_id]


def _source_id(event: dict[str, Any]) -> str:
    return str(uuid.uuid5(_IDS, str(event["event_id"])))


# --- Pipedrive webhooks v2 --------------------------------------------------------------


def _pipedrive(event: dict[str, Any], deals: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    kind = EventType(event["type"])
    deal_id = str(event["deal_id"])
    before = deals.get(deal_id, {})
    at = str(event["occurred_at"])
    if kind is EventType.CHURNED:
        return None
    if kind is EventType.DELETED:
        deals.pop(deal_id, None)
        return _webhook("delete", event, None, before or {"id": deal_id})
    changes = _pipedrive_changes(kind, event, before)
    close_date = event.get("expected_close_date")
    if close_date is not None and close_date != before.get("expected_close_date"):
        changes["expected_close_date"] = close_date  # the simulator moves it with a stage
    now = {**before, **changes, "id": deal_id, "update_time": at}
    deals[deal_id] = now
    if kind is EventType.CREATED:
        return _webhook("create", event, {**now, "add_time": at}, None)
    previous = {field: before.get(field) for field in changes}
    return _webhook("change", event, now, previous)


def _pipedrive_changes(
    kind: EventType, event: dict[str, Any], before: dict[str, Any]
) -> dict[str, Any]:
    money = (
        {"value": Decimal(str(event["amount"])), "currency": event["currency"]}
        if "amount" in event
        else {}
    )
    if kind is EventType.CREATED:
        return {
            "title": f"Simulated {event['deal_id']}",
            "pipeline_id": event["pipeline"],
            "stage_id": event["stage"],
            "owner_id": event["owner"],
            "status": "open",
            "expected_close_date": event.get("expected_close_date"),
            **money,
        }
    if kind is EventType.STAGE_CHANGED:
        moved = {"stage_id": event["stage"]}
        if event.get("pipeline") not in (None, before.get("pipeline_id")):
            moved["pipeline_id"] = event["pipeline"]
        return moved
    if kind is EventType.AMOUNT_CHANGED:
        return money
    if kind is EventType.OWNER_CHANGED:
        return {"owner_id": event["owner"]}
    if kind is EventType.CLOSE_DATE_CHANGED:
        return {"expected_close_date": event["expected_close_date"]}
    if kind is EventType.WON:
        return {"status": "won", "won_time": event["occurred_at"], **money}
    if kind is EventType.LOST:
        return {"status": "lost", "lost_time": event["occurred_at"], "lost_reason": event["reason"]}
    return {"status": "open", "stage_id": event.get("stage", before.get("stage_id"))}  # reopened


def _webhook(
    action: str, event: dict[str, Any], data: dict[str, Any] | None, previous: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "meta": {
            "action": action,
            "entity": "deal",
            "entity_id": str(event["deal_id"]),
            "id": _source_id(event),
            "timestamp": event["occurred_at"],
            "version": "2.0",
            "attempt": 1,
            "change_source": "app",
        },
        "data": data,
        "previous": previous,
    }


# --- Salesforce OpportunityChangeEvent --------------------------------------------------


def _salesforce(event: dict[str, Any], deals: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    kind = EventType(event["type"])
    deal_id = str(event["deal_id"])
    if kind is EventType.CHURNED:
        return None
    header = {
        "entityName": "Opportunity",
        "recordIds": [deal_id],
        "transactionKey": _source_id(event),
        "sequenceNumber": 1,
        "commitTimestamp": _epoch_ms(str(event["occurred_at"])),
        "changeOrigin": "com/salesforce/api/rest/60.0",
    }
    if kind is EventType.DELETED:
        return {"ChangeEventHeader": {**header, "changeType": "DELETE", "changedFields": []}}
    body = _salesforce_body(kind, event)
    close_date = event.get("expected_close_date")
    if close_date is not None and close_date != deals.get(deal_id, {}).get("CloseDate"):
        body["CloseDate"] = close_date  # the simulator moves it with a stage
    deals[deal_id] = {**deals.get(deal_id, {}), **body}
    if kind is EventType.CREATED:
        return {
            "ChangeEventHeader": {**header, "changeType": "CREATE", "changedFields": []},
            **body,
        }
    changed = sorted(body)
    return {
        "ChangeEventHeader": {**header, "changeType": "UPDATE", "changedFields": changed},
        **body,
    }


def _salesforce_body(kind: EventType, event: dict[str, Any]) -> dict[str, Any]:
    money = (
        {"Amount": Decimal(str(event["amount"])), "CurrencyIsoCode": event["currency"]}
        if "amount" in event
        else {}
    )
    if kind is EventType.CREATED:
        return {
            "Name": f"Simulated {event['deal_id']}",
            "StageName": event["stage"],
            "OwnerId": event["owner"],
            "CloseDate": event.get("expected_close_date"),
            "IsClosed": False,
            "IsWon": False,
            **money,
        }
    if kind is EventType.STAGE_CHANGED:
        return {"StageName": event["stage"]}
    if kind is EventType.AMOUNT_CHANGED:
        return money
    if kind is EventType.OWNER_CHANGED:
        return {"OwnerId": event["owner"]}
    if kind is EventType.CLOSE_DATE_CHANGED:
        return {"CloseDate": event["expected_close_date"]}
    if kind is EventType.WON:
        return {"StageName": _WON_STAGE, "IsClosed": True, "IsWon": True, **money}
    if kind is EventType.LOST:
        return {"StageName": _LOST_STAGE, "IsClosed": True, "IsWon": False}
    return {"StageName": event["stage"], "IsClosed": False, "IsWon": False}  # reopened


def _epoch_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


_CONVERTERS: dict[
    SourceFormat,
    Callable[[dict[str, Any], dict[str, dict[str, Any]]], dict[str, Any] | None],
] = {"pipedrive": _pipedrive, "salesforce": _salesforce, "debezium": debezium_change}
