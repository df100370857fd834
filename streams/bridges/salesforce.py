"""Salesforce Change Data Capture (`OpportunityChangeEvent`) to canonical deal events.

The event, as Salesforce's Change Data Capture Developer Guide describes it
("ChangeEventHeader Fields",
https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_event_fields_header.htm,
and "Change Event Body Fields"), read 2026-12-07, as a Kafka Connect Salesforce
source writes it with a JSON converter: the header under `ChangeEventHeader`,
the record's fields beside it (a `{"schema": ..., "payload": ...}` envelope is
unwrapped)::

    {"ChangeEventHeader": {"entityName": "Opportunity", "changeType": "UPDATE",
                           "recordIds": ["006..."], "changedFields": ["StageName", ...],
                           "commitTimestamp": 1764547200000, "transactionKey": "...",
                           "sequenceNumber": 1, ...},
     "StageName": "Negotiation/Review", "Amount": 52000.0, "OwnerId": "005...", ...}

What the guide says and this module relies on: a CREATE (and an UNDELETE)
carries every non-null field; an UPDATE carries only the fields in
`changedFields` (with `nulledFields` for those set to null) — a converter may
still write the others as null, so they are never read; a DELETE carries none.
One event may stand for several records with the same change (`recordIds`):
each gets its own events. `commitTimestamp` (milliseconds) is `occurred_at`;
`transactionKey`, the record id and `sequenceNumber` (which orders the events
of one transaction) are the identity.

- CREATE → `deal.created` in the mapping's `pipeline` (an Opportunity has no
  pipeline id), then `deal.won`/`deal.lost` if it was created closed;
- UPDATE → `IsClosed` to false: `deal.reopened`; `IsClosed`/`IsWon` to closed:
  `deal.won` or `deal.lost` (without them, a stage under `[outcomes]`);
  `StageName` to an open stage: `deal.stage_changed`; `Amount`/`CurrencyIsoCode`:
  `deal.amount_changed`; `OwnerId`: `deal.owner_changed`; `CloseDate`:
  `deal.close_date_changed`. `Probability` and `ForecastCategoryName` map to
  nothing: dealpulse weighs a stage by the pipeline configuration's probability;
- DELETE → `deal.deleted`.

Refused, for the bridge to dead-letter: GAP_* events and GAP_OVERFLOW (Salesforce
says a change happened but not what it was: only reading the record again could
tell, which is not a mapping); a wildcard record id (`006*`, a field type
conversion over all records), likewise; and UNDELETE: in the canonical model a
deletion is final (the worker ignores a deleted deal's later events), so a
`deal.reopened` would be dropped with an anomaly while looking accepted; a dead
letter says plainly that the restored deal is not counted again. An
Opportunity has no standard loss reason, so a loss carries the mapping's
`lost_reason`. The currency comes from `CurrencyIsoCode` (multi-currency orgs)
or the mapping's `currency`; an amount change in neither is refused rather
than counted in a guessed currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from streams.bridges.canonical import CanonicalEvent, Change, SourceIdentity, canonical_events
from streams.bridges.mapping_file import Outcome, SourceMapping
from streams.bridges.refusal import Refusal, RefusalReason, SourceFieldError
from streams.bridges.source_values import (
    amount_text,
    calendar_date,
    currency_text,
    id_text,
    instant,
    name_text,
    object_at,
)
from streams.domain.events import EventType

SOURCE_TAG = "sf"
ENTITY = "Opportunity"
_MONEY_FIELDS = frozenset({"Amount", "CurrencyIsoCode"})


def map_salesforce(
    change_event: Mapping[str, Any], mapping: SourceMapping
) -> tuple[CanonicalEvent, ...] | Refusal:
    """The canonical events of one change event, for every record it names, or why none."""
    try:
        return _map(_unwrapped(change_event), mapping)
    except SourceFieldError as error:
        return error.refusal()


def _unwrapped(change_event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event itself, out of a Kafka Connect JSON envelope if it is in one."""
    payload = change_event.get("payload")
    if "ChangeEventHeader" not in change_event and isinstance(payload, Mapping):
        return payload
    return change_event


def _map(body: Mapping[str, Any], mapping: SourceMapping) -> tuple[CanonicalEvent, ...] | Refusal:
    header = object_at(body, "ChangeEventHeader")
    entity = header.get("entityName")
    if entity != ENTITY:
        return Refusal(RefusalReason.NOT_A_DEAL, f"entityName {entity!r}: only {ENTITY} is mapped")
    change_type = header.get("changeType")
    refusal = _refusal_for(change_type)
    if refusal is not None:
        return refusal
    record_ids = _record_ids(header)
    if change_type == "CREATE":
        changes = _created(body, mapping)
    elif change_type == "UPDATE":
        changes = _updated(body, _changed_fields(header), mapping)
    else:
        changes = [Change(EventType.DELETED)]
    transaction = id_text(header.get("transactionKey"), "transactionKey")
    sequence = header.get("sequenceNumber")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise SourceFieldError(RefusalReason.MALFORMED, f"sequenceNumber: {sequence!r}")
    occurred_at = instant(header.get("commitTimestamp"), "commitTimestamp")
    return tuple(
        event
        for record_id in record_ids
        for event in canonical_events(
            changes,
            identity=SourceIdentity(SOURCE_TAG, (transaction, record_id), sequence),
            deal_id=record_id,
            occurred_at=occurred_at,
            mapping=mapping,
        )
    )


def _refusal_for(change_type: object) -> Refusal | None:
    if change_type in ("CREATE", "UPDATE", "DELETE"):
        return None
    if isinstance(change_type, str) and change_type.startswith("GAP_"):
        return Refusal(
            RefusalReason.UNREPLAYABLE,
            f"{change_type}: Salesforce reports that the records changed, not how; "
            "read them from Salesforce to reconcile",
        )
    if change_type == "UNDELETE":
        return Refusal(
            RefusalReason.UNSUPPORTED_CHANGE,
            "UNDELETE: a deleted deal stays deleted in dealpulse; the restored "
            "opportunity is not counted again",
        )
    return Refusal(RefusalReason.UNSUPPORTED_CHANGE, f"changeType {change_type!r}")


def _record_ids(header: Mapping[str, Any]) -> list[str]:
    raw = header.get("recordIds")
    if not isinstance(raw, list) or not raw:
        raise SourceFieldError(RefusalReason.MALFORMED, "recordIds: expected a non-empty list")
    record_ids = [name_text(id_text(item, "recordIds"), "recordIds") for item in raw]
    wildcards = [record_id for record_id in record_ids if record_id.endswith("*")]
    if wildcards:
        raise SourceFieldError(
            RefusalReason.UNREPLAYABLE,
            f"recordIds {wildcards[0]!r}: every record of the object changed; "
            "the event does not say which",
        )
    return list(dict.fromkeys(record_ids))


def _changed_fields(header: Mapping[str, Any]) -> frozenset[str]:
    fields: set[str] = set()
    for name in ("changedFields", "nulledFields"):
        raw = header.get(name) or []
        if not isinstance(raw, list) or not all(isinstance(field, str) for field in raw):
            raise SourceFieldError(RefusalReason.MALFORMED, f"{name}: expected a list of names")
        fields.update(raw)
    return frozenset(fields)


def _created(body: Mapping[str, Any], mapping: SourceMapping) -> list[Change]:
    stage_name = _stage_name(body)
    amount = body.get("Amount")
    created = Change(
        EventType.CREATED,
        pipeline=_pipeline(mapping),
        stage=name_text(mapping.stage_for(stage_name), "StageName"),
        owner=_owner(body),
        amount=amount_text(0 if amount is None else amount, "Amount"),
        currency=_currency(body, mapping),
        expected_close_date=_close_date(body),
    )
    closed = body.get("IsClosed")
    outcome = mapping.outcome_of(stage_name) if closed is None else _closed_as(body)
    return [created, *_closing(outcome, body, frozenset(body), mapping)]


def _updated(
    body: Mapping[str, Any], changed: frozenset[str], mapping: SourceMapping
) -> list[Change]:
    changes: list[Change] = []
    stage_name = _stage_name(body) if "StageName" in changed else None
    if "IsClosed" in changed and body.get("IsClosed") is False:
        stage = None if stage_name is None else mapping.stage_for(stage_name)
        changes.append(Change(EventType.REOPENED, pipeline=mapping.default_pipeline, stage=stage))
    elif "IsClosed" in changed or "IsWon" in changed:
        changes += _closing(_closed_as(body), body, changed, mapping)
    elif stage_name is not None and mapping.outcome_of(stage_name) is not None:
        changes += _closing(mapping.outcome_of(stage_name), body, changed, mapping)
    elif stage_name is not None:
        changes.append(
            Change(
                EventType.STAGE_CHANGED,
                pipeline=mapping.default_pipeline,
                stage=name_text(mapping.stage_for(stage_name), "StageName"),
            )
        )
    if changed & _MONEY_FIELDS:
        if "Amount" not in changed:
            raise SourceFieldError(
                RefusalReason.UNSUPPORTED_CHANGE,
                "CurrencyIsoCode changed without Amount: the amount in the new currency "
                "is not in the event",
            )
        amount, currency = _money(body, mapping)
        changes.append(Change(EventType.AMOUNT_CHANGED, amount=amount, currency=currency))
    if "OwnerId" in changed:
        changes.append(Change(EventType.OWNER_CHANGED, owner=_owner(body)))
    if "CloseDate" in changed and body.get("CloseDate") is not None:
        changes.append(Change(EventType.CLOSE_DATE_CHANGED, expected_close_date=_close_date(body)))
    return changes


def _closed_as(body: Mapping[str, Any]) -> Outcome | None:
    """Won or lost by `IsClosed` and `IsWon`; `None` while open."""
    if body.get("IsClosed") is False:
        return None
    return "won" if body.get("IsWon") is True else "lost"


def _closing(
    outcome: Outcome | None,
    body: Mapping[str, Any],
    present: frozenset[str],
    mapping: SourceMapping,
) -> list[Change]:
    """The win or loss (none while open); a win carries the owner and amount when the
    event has them."""
    if outcome == "won":
        owner = _owner(body) if "OwnerId" in present and body.get("OwnerId") else None
        amount, currency = _money(body, mapping) if "Amount" in present else (None, None)
        return [Change(EventType.WON, owner=owner, amount=amount, currency=currency)]
    if outcome == "lost":
        return [Change(EventType.LOST, reason=mapping.lost_reason)]
    return []


def _stage_name(body: Mapping[str, Any]) -> str:
    return name_text(id_text(body.get("StageName"), "StageName"), "StageName")


def _pipeline(mapping: SourceMapping) -> str:
    if mapping.default_pipeline is None:
        raise SourceFieldError(
            RefusalReason.MALFORMED,
            "an Opportunity has no pipeline id and the mapping names no `pipeline`",
        )
    return mapping.default_pipeline


def _owner(body: Mapping[str, Any]) -> str:
    return name_text(id_text(body.get("OwnerId"), "OwnerId"), "OwnerId")


def _money(body: Mapping[str, Any], mapping: SourceMapping) -> tuple[str, str]:
    """`Amount` (null: 0) and its currency."""
    amount = body.get("Amount")
    return amount_text(0 if amount is None else amount, "Amount"), _currency(body, mapping)


def _currency(body: Mapping[str, Any], mapping: SourceMapping) -> str:
    currency = body.get("CurrencyIsoCode") or mapping.default_currency
    if currency is None:
        raise SourceFieldError(
            RefusalReason.MALFORMED,
            "no CurrencyIsoCode in the event and no `currency` in the mapping",
        )
    return currency_text(currency, "CurrencyIsoCode")


def _close_date(body: Mapping[str, Any]) -> date | None:
    value = body.get("CloseDate")
    return None if value is None else calendar_date(value, "CloseDate")
