"""Pipedrive webhooks v2 to canonical deal events.

The payload, as Pipedrive's "Guide for Webhooks v2" and "Webhooks v2 migration
guide" describe it (https://pipedrive.readme.io/docs/guide-for-webhooks-v2,
https://pipedrive.readme.io/docs/webhooks-v2-migration-guide), read 2026-12-07::

    {"meta": {"action": "create" | "change" | "delete", "entity": "deal",
              "id": <the event's id, a UUID>, "entity_id": "<deal id>",
              "timestamp": "2026-05-27T06:54:41.426Z", "attempt": 1, ...},
     "data": <the deal now; null on delete>,
     "previous": <on change, the old values of the fields that changed;
                  on delete, the last state; null on create>}

with the deal fields `id`, `stage_id`, `pipeline_id`, `value`, `currency`,
`owner_id`, `status` (open, won, lost, deleted), `lost_reason`,
`expected_close_date`, `update_time`, `won_time` and `lost_time`. v2 sends one
`change` per edit, so one webhook may carry several changed fields.

One webhook maps to zero or more canonical events:

- create → `deal.created` (then `deal.won` or `deal.lost` if it was created closed);
- change → one event per changed field that dealpulse follows: the stage or
  pipeline (`deal.stage_changed`, carrying both), `value`/`currency`
  (`deal.amount_changed`), `owner_id` (`deal.owner_changed`),
  `expected_close_date` (`deal.close_date_changed`; a cleared date says nothing,
  as the canonical event cannot clear one), and the status: to won or lost
  (`deal.won`, `deal.lost` with `lost_reason`), back to open (`deal.reopened`,
  re-entering the current stage), to deleted (`deal.deleted`). A stage listed
  under `[outcomes]` in the mapping closes the deal as the status would. A
  change to a field dealpulse does not follow (a title) maps to no event;
- delete → `deal.deleted`.

Every event's `occurred_at` is `meta.timestamp` (when the change happened in
Pipedrive, the same on every retry), else the deal's `update_time`. The
identity is `meta.id` and the deal id; `meta.attempt` is left out on purpose, so
a retried delivery maps to the same bytes. A webhook about another entity, or
one that cannot be read, is a `Refusal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
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
    optional_id_text,
    reason_text,
)
from streams.domain.events import EventType

SOURCE_TAG = "pd"
_STAGE_FIELDS = ("stage_id", "pipeline_id")
_MONEY_FIELDS = ("value", "currency")
_Status = Outcome | None  # open is None; "deleted" is handled before


def map_pipedrive(
    webhook: Mapping[str, Any], mapping: SourceMapping
) -> tuple[CanonicalEvent, ...] | Refusal:
    """The canonical events of one Pipedrive v2 webhook, or why there are none."""
    try:
        return _map(webhook, mapping)
    except SourceFieldError as error:
        return error.refusal()


def _map(
    webhook: Mapping[str, Any], mapping: SourceMapping
) -> tuple[CanonicalEvent, ...] | Refusal:
    meta = object_at(webhook, "meta")
    entity = meta.get("entity")
    if entity != "deal":
        return Refusal(RefusalReason.NOT_A_DEAL, f"meta.entity {entity!r}: only deals are mapped")
    action = meta.get("action")
    if action == "create":
        deal = object_at(webhook, "data")
        changes = _created(deal, mapping)
    elif action == "change":
        deal = object_at(webhook, "data")
        changes = _changed(deal, object_at(webhook, "previous"), mapping)
    elif action == "delete":
        last = webhook.get("previous") or webhook.get("data")
        deal = last if isinstance(last, Mapping) else {"id": meta.get("entity_id")}
        changes = [Change(EventType.DELETED)]
    else:
        return Refusal(
            RefusalReason.UNSUPPORTED_CHANGE,
            f"meta.action {action!r}: only create, change and delete are mapped",
        )
    deal_id = name_text(id_text(deal.get("id", meta.get("entity_id")), "data.id"), "data.id")
    delivery = id_text(meta.get("id"), "meta.id")
    return canonical_events(
        changes,
        identity=SourceIdentity(SOURCE_TAG, (delivery, deal_id)),
        deal_id=deal_id,
        occurred_at=_occurred_at(meta, deal),
        mapping=mapping,
    )


def _occurred_at(meta: Mapping[str, Any], deal: Mapping[str, Any]) -> datetime:
    if meta.get("timestamp") is not None:
        return instant(meta["timestamp"], "meta.timestamp")
    return instant(deal.get("update_time"), "data.update_time")


def _created(deal: Mapping[str, Any], mapping: SourceMapping) -> list[Change]:
    stage_id = id_text(deal.get("stage_id"), "data.stage_id")
    amount, currency = _money(deal)
    created = Change(
        EventType.CREATED,
        pipeline=_pipeline(deal, mapping),
        stage=name_text(mapping.stage_for(stage_id), "data.stage_id"),
        owner=_owner(deal),
        amount=amount,
        currency=currency,
        expected_close_date=_close_date(deal),
    )
    closed = _closing(_status(deal.get("status"), stage_id, mapping), deal, mapping)
    return [created] if closed is None else [created, closed]


def _changed(
    deal: Mapping[str, Any], previous: Mapping[str, Any], mapping: SourceMapping
) -> list[Change]:
    stage_now = id_text(deal.get("stage_id"), "data.stage_id")
    if deal.get("status") == "deleted" and previous.get("status", "deleted") != "deleted":
        return [Change(EventType.DELETED)]
    status_now = _status(deal.get("status"), stage_now, mapping)
    stage_before = optional_id_text(previous.get("stage_id", stage_now), "previous.stage_id")
    status_before = _status(previous.get("status", deal.get("status")), stage_before, mapping)
    stage_moved = any(field in previous for field in _STAGE_FIELDS)
    changes: list[Change] = []
    if status_before is not None and status_now is None:
        changes.append(_entering(EventType.REOPENED, deal, stage_now, mapping))
    elif stage_moved and mapping.outcome_of(stage_now) is None:
        changes.append(_entering(EventType.STAGE_CHANGED, deal, stage_now, mapping))
    closing = _closing(status_now, deal, mapping) if status_before != status_now else None
    if closing is not None:
        changes.append(closing)
    if any(field in previous for field in _MONEY_FIELDS):
        amount, currency = _money(deal)
        changes.append(Change(EventType.AMOUNT_CHANGED, amount=amount, currency=currency))
    if "owner_id" in previous:
        changes.append(Change(EventType.OWNER_CHANGED, owner=_owner(deal)))
    close_date = _close_date(deal)
    if "expected_close_date" in previous and close_date is not None:
        changes.append(Change(EventType.CLOSE_DATE_CHANGED, expected_close_date=close_date))
    return changes


def _status(status: object, stage_id: str | None, mapping: SourceMapping) -> _Status:
    """Won, lost or open (`None`): by the status, else by an `[outcomes]` stage."""
    if status in ("won", "lost"):
        return "won" if status == "won" else "lost"
    if status not in (None, "open", "deleted"):
        raise SourceFieldError(RefusalReason.MALFORMED, f"status: {status!r} is not a status")
    return mapping.outcome_of(stage_id)


def _closing(outcome: _Status, deal: Mapping[str, Any], mapping: SourceMapping) -> Change | None:
    if outcome == "won":
        amount, currency = _money(deal)
        return Change(EventType.WON, owner=_owner(deal), amount=amount, currency=currency)
    if outcome == "lost":
        return Change(
            EventType.LOST, reason=reason_text(deal.get("lost_reason"), mapping.lost_reason)
        )
    return None


def _entering(
    change_type: EventType, deal: Mapping[str, Any], stage_id: str, mapping: SourceMapping
) -> Change:
    """A change that puts the deal in `stage_id`, naming its pipeline too (a move between
    pipelines is a stage change that names the new one)."""
    return Change(
        change_type,
        pipeline=_pipeline(deal, mapping),
        stage=name_text(mapping.stage_for(stage_id), "data.stage_id"),
    )


def _pipeline(deal: Mapping[str, Any], mapping: SourceMapping) -> str:
    crm_pipeline = optional_id_text(deal.get("pipeline_id"), "data.pipeline_id")
    pipeline = mapping.pipeline_for(crm_pipeline)
    if pipeline is None:
        raise SourceFieldError(
            RefusalReason.MALFORMED, "data.pipeline_id: absent, and the mapping has no pipeline"
        )
    return name_text(pipeline, "data.pipeline_id")


def _owner(deal: Mapping[str, Any]) -> str:
    return name_text(id_text(deal.get("owner_id"), "data.owner_id"), "data.owner_id")


def _money(deal: Mapping[str, Any]) -> tuple[str, str]:
    """The deal's value and currency; a deal without a value is worth 0 (Pipedrive's own
    default)."""
    value = deal.get("value")
    return (
        amount_text(0 if value is None else value, "data.value"),
        currency_text(deal.get("currency"), "data.currency"),
    )


def _close_date(deal: Mapping[str, Any]) -> date | None:
    value = deal.get("expected_close_date")
    return None if value is None else calendar_date(value, "data.expected_close_date")
