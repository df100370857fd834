"""HubSpot deal webhooks to canonical deal events.

The payload, as HubSpot's Webhooks API guide describes it
(https://developers.hubspot.com/docs/api/webhooks, "Webhook payloads"), read
2026-12-07: a POST whose body is a JSON array of up to 100 events, each::

    {"eventId": 1001, "subscriptionId": 4711, "portalId": 62515, "appId": 9001,
     "occurredAt": 1764547200000, "subscriptionType": "deal.propertyChange",
     "attemptNumber": 0, "objectId": 1234567, "propertyName": "dealstage",
     "propertyValue": "closedwon", "changeSource": "CRM_UI", "sourceId": "userId:1"}

`occurredAt` is in milliseconds; `attemptNumber` counts redeliveries (HubSpot
retries a failed delivery, so the same `eventId` arrives again); a
`deal.creation` carries no properties at all, and a `deal.propertyChange`
carries only the new value of one property, not the old one. So the bridge
reads the deal from the CRM API (`GET /crm/v3/objects/deals/{id}`, "Deals"
in https://developers.hubspot.com/docs/api/crm/deals) with
`propertiesWithHistory`: every property comes back as its value now and as its
versions, `{"value", "timestamp", "sourceType", ...}`. This module takes that
read as a `HubSpotDeal` and stays pure; the process does the HTTP.

One event maps to zero or more canonical events:

- `deal.creation` → `deal.created` with each property as it was at
  `occurredAt` (its version history, not its value now: a redelivery a week
  later gives the same bytes), then `deal.won` / `deal.lost` when its stage is
  under `[outcomes]`;
- `deal.propertyChange`:
  `dealstage` into an `[outcomes]` stage → `deal.won` / `deal.lost` (the
  mapping's `lost_reason`); into an open stage → `deal.stage_changed`, or
  `deal.reopened` when the stage before it (from the history) closed the deal;
  `pipeline` → `deal.stage_changed` naming the new pipeline and the stage at
  that instant; `amount` → `deal.amount_changed` (empty: 0) in the mapping's
  `currency`; `hubspot_owner_id` → `deal.owner_changed`; `closedate` →
  `deal.close_date_changed` (cleared: nothing); any other property → nothing;
- `deal.deletion` → `deal.deleted`;
- `deal.restore` is refused as `unsupported_change`, as the Salesforce bridge
  refuses UNDELETE: a deletion is final in the canonical model (the worker
  ignores a deleted deal's later events), so a `deal.reopened` would be dropped
  as an anomaly while looking accepted; a dead letter says plainly that the
  restored deal is not counted again;
- another object (`contact.creation`) is refused as `not_a_deal`; another deal
  subscription (`deal.merge`, `deal.associationChange`) as `unsupported_change`.

A deal without an owner (HubSpot allows one) is owned by `UNASSIGNED`. The
identity is the portal, `eventId` and the deal id; `attemptNumber` is left out,
so a redelivered event maps to the same bytes. Repeats of one `eventId` inside
a batch are dropped by `batch_events`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from streams.bridges.canonical import CanonicalEvent, Change, SourceIdentity, canonical_events
from streams.bridges.mapping_file import SourceMapping
from streams.bridges.refusal import Refusal, RefusalReason, SourceFieldError
from streams.bridges.source_values import (
    amount_text,
    calendar_date,
    currency_text,
    id_text,
    instant,
    name_text,
)
from streams.domain.events import EventType

SOURCE_TAG = "hs"
BATCH_LIMIT = 100
"""HubSpot sends at most 100 events per request."""
UNASSIGNED = "unassigned"
_EPOCH_MS_DIGITS = 20
"""More digits than this are no epoch milliseconds (and past `int`'s 4,300-digit limit
they are no `int`)."""
DEAL_PROPERTIES = (
    "dealstage",
    "pipeline",
    "amount",
    "hubspot_owner_id",
    "closedate",
    "deal_currency_code",
)
"""What the bridge reads of a deal from the CRM API, with their histories."""


@dataclass(frozen=True, slots=True)
class PropertyVersion:
    value: str | None
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class HubSpotDeal:
    """A deal as the CRM API returns it: properties now, and each one's versions."""

    deal_id: str
    properties: Mapping[str, str | None]
    history: Mapping[str, tuple[PropertyVersion, ...]] = field(default_factory=dict)

    def value_at(self, name: str, at: datetime) -> str | None:
        """The property as it was at `at`: its latest version by then (its first
        when every version is later, as a creation's may be by a millisecond)."""
        versions = sorted(self.history.get(name, ()), key=lambda version: version.timestamp)
        if not versions:
            return self.properties.get(name)
        earlier = [version for version in versions if version.timestamp <= at]
        return (earlier[-1] if earlier else versions[0]).value

    def value_before(self, name: str, value: str | None, at: datetime) -> str | None:
        """The property's value before the version that set it to `value` at about `at`."""
        versions = sorted(self.history.get(name, ()), key=lambda version: version.timestamp)
        matching = [index for index, version in enumerate(versions) if version.value == value]
        if not matching:
            earlier = [version for version in versions if version.timestamp < at]
            return earlier[-1].value if earlier else None
        closest = min(matching, key=lambda index: abs(versions[index].timestamp - at))
        return versions[closest - 1].value if closest > 0 else None


def batch_events(document: object) -> list[Mapping[str, Any]] | Refusal:
    """The events of one webhook request, each `eventId` once, in the order sent."""
    if not isinstance(document, list):
        return Refusal(RefusalReason.NOT_JSON, "a HubSpot webhook body is a JSON array")
    if len(document) > BATCH_LIMIT:
        return Refusal(
            RefusalReason.MALFORMED, f"{len(document)} events: HubSpot sends {BATCH_LIMIT} at most"
        )
    events: dict[object, Mapping[str, Any]] = {}
    for position, event in enumerate(document):
        if not isinstance(event, Mapping):
            return Refusal(RefusalReason.MALFORMED, f"event {position} is not an object")
        events.setdefault(_event_key(event, position), event)
    return list(events.values())


def _event_key(event: Mapping[str, Any], position: int) -> object:
    """What makes a repeat in a batch: the portal and `eventId`; an event without ids of
    the right type is its own (the mapping refuses it)."""
    event_id, portal = event.get("eventId"), event.get("portalId")
    if _is_id(event_id) and (portal is None or _is_id(portal)):
        return ("event", portal, event_id)
    return position


def _is_id(value: object) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def needs_deal(event: Mapping[str, Any], mapping: SourceMapping) -> str | None:
    """The deal id to read from the CRM API before mapping `event`, if it needs one:
    a creation, a pipeline move, and a stage move into an open stage."""
    kind = event.get("subscriptionType")
    name = event.get("propertyName")
    try:
        if kind == "deal.propertyChange" and name == "dealstage":
            wanted = mapping.outcome_of(_text(event.get("propertyValue"))) is None
        else:
            wanted = kind == "deal.creation" or (
                kind == "deal.propertyChange" and name == "pipeline"
            )
        return deal_id_of(event) if wanted else None
    except SourceFieldError:
        return None  # the mapping refuses it as malformed


def map_hubspot(
    event: Mapping[str, Any], mapping: SourceMapping, deal: HubSpotDeal | None = None
) -> tuple[CanonicalEvent, ...] | Refusal:
    """The canonical events of one webhook event, or why there are none. `deal` is the
    CRM API's read of the deal, required when `needs_deal` names one."""
    try:
        return _map(event, mapping, deal)
    except SourceFieldError as error:
        return error.refusal()


def _map(
    event: Mapping[str, Any], mapping: SourceMapping, deal: HubSpotDeal | None
) -> tuple[CanonicalEvent, ...] | Refusal:
    kind = event.get("subscriptionType")
    if not isinstance(kind, str) or "." not in kind:
        return Refusal(RefusalReason.MALFORMED, f"subscriptionType: {kind!r}")
    object_type, change = kind.split(".", 1)
    if object_type != "deal":
        return Refusal(RefusalReason.NOT_A_DEAL, f"{kind}: only deals are mapped")
    deal_id = deal_id_of(event)
    occurred_at = instant(event.get("occurredAt"), "occurredAt")
    if change == "creation":
        changes = _created(_read(deal, deal_id), occurred_at, mapping)
    elif change == "propertyChange":
        changes = _property_changed(event, deal, deal_id, occurred_at, mapping)
    elif change == "deletion":
        changes = [Change(EventType.DELETED)]
    elif change == "restore":
        return Refusal(
            RefusalReason.UNSUPPORTED_CHANGE,
            "deal.restore: a deleted deal stays deleted in dealpulse; the restored deal "
            "is not counted again",
        )
    else:
        return Refusal(RefusalReason.UNSUPPORTED_CHANGE, f"{kind}: not a change dealpulse maps")
    portal = id_text(event.get("portalId"), "portalId")
    event_id = id_text(event.get("eventId"), "eventId")
    return canonical_events(
        changes,
        identity=SourceIdentity(SOURCE_TAG, (portal, event_id, deal_id)),
        deal_id=deal_id,
        occurred_at=occurred_at,
        mapping=mapping,
    )


def deal_id_of(event: Mapping[str, Any]) -> str:
    """`objectId`: a HubSpot record id is a number, so ASCII digits only (it becomes
    part of the CRM API's URL)."""
    deal_id = name_text(id_text(event.get("objectId"), "objectId"), "objectId")
    if not (deal_id.isascii() and deal_id.isdigit()):
        raise SourceFieldError(
            RefusalReason.MALFORMED, f"objectId: {deal_id[:40]!r} is not a HubSpot record id"
        )
    return deal_id


def _read(deal: HubSpotDeal | None, deal_id: str) -> HubSpotDeal:
    if deal is None:
        raise ValueError(f"deal {deal_id} must be read from the CRM API first (needs_deal)")
    if deal.deal_id != deal_id:
        raise SourceFieldError(
            RefusalReason.UNREPLAYABLE,
            f"the CRM API answered deal {deal.deal_id} for deal {deal_id} (merged?)",
        )
    return deal


def _created(deal: HubSpotDeal, at: datetime, mapping: SourceMapping) -> list[Change]:
    stage_id = _required(deal.value_at("dealstage", at), "dealstage")
    amount = deal.value_at("amount", at)
    close_date = deal.value_at("closedate", at)
    created = Change(
        EventType.CREATED,
        pipeline=_pipeline(deal.value_at("pipeline", at), mapping),
        stage=name_text(mapping.stage_for(stage_id), "dealstage"),
        owner=_owner(deal.value_at("hubspot_owner_id", at)),
        amount=amount_text(amount or 0, "amount"),
        currency=_currency(deal.value_at("deal_currency_code", at), mapping),
        expected_close_date=None if not close_date else _close_date(close_date),
    )
    return [created, *_closing(stage_id, mapping)]


def _property_changed(
    event: Mapping[str, Any],
    deal: HubSpotDeal | None,
    deal_id: str,
    at: datetime,
    mapping: SourceMapping,
) -> list[Change]:
    name = event.get("propertyName")
    value = _text(event.get("propertyValue"))
    if name == "dealstage":
        stage_id = _required(value, "propertyValue")
        closing = _closing(stage_id, mapping)
        if closing:
            return closing
        before = _read(deal, deal_id).value_before("dealstage", stage_id, at)
        kind = EventType.REOPENED if mapping.outcome_of(before) else EventType.STAGE_CHANGED
        return [_entering(kind, stage_id, _read(deal, deal_id).value_at("pipeline", at), mapping)]
    if name == "pipeline":
        stage_id = _required(_read(deal, deal_id).value_at("dealstage", at), "dealstage")
        if mapping.outcome_of(stage_id) is not None:
            return []  # a closed deal moved between pipelines: nothing to count
        return [_entering(EventType.STAGE_CHANGED, stage_id, value, mapping)]
    if name == "amount":
        amount = amount_text(value or 0, "propertyValue")
        return [Change(EventType.AMOUNT_CHANGED, amount=amount, currency=_currency(None, mapping))]
    if name == "hubspot_owner_id":
        return [Change(EventType.OWNER_CHANGED, owner=_owner(value))]
    if name == "closedate" and value:
        return [Change(EventType.CLOSE_DATE_CHANGED, expected_close_date=_close_date(value))]
    return []


def _entering(
    kind: EventType, stage_id: str, crm_pipeline: str | None, mapping: SourceMapping
) -> Change:
    pipeline = mapping.pipeline_for(crm_pipeline) if crm_pipeline else mapping.default_pipeline
    return Change(
        kind,
        pipeline=None if pipeline is None else name_text(pipeline, "pipeline"),
        stage=name_text(mapping.stage_for(stage_id), "dealstage"),
    )


def _closing(stage_id: str, mapping: SourceMapping) -> list[Change]:
    outcome = mapping.outcome_of(stage_id)
    if outcome == "won":
        return [Change(EventType.WON)]
    if outcome == "lost":
        return [Change(EventType.LOST, reason=mapping.lost_reason)]
    return []


def _pipeline(crm_pipeline: str | None, mapping: SourceMapping) -> str:
    pipeline = mapping.pipeline_for(crm_pipeline or None)
    if pipeline is None:
        raise SourceFieldError(
            RefusalReason.MALFORMED, "pipeline: absent, and the mapping has no pipeline"
        )
    return name_text(pipeline, "pipeline")


def _owner(owner_id: str | None) -> str:
    return name_text(owner_id, "hubspot_owner_id") if owner_id else UNASSIGNED


def _currency(code: str | None, mapping: SourceMapping) -> str:
    currency = code or mapping.default_currency
    if currency is None:
        raise SourceFieldError(
            RefusalReason.MALFORMED,
            "no deal_currency_code on the deal and no `currency` in the mapping",
        )
    return currency_text(currency, "deal_currency_code")


def _close_date(value: str) -> date:
    """`closedate`: epoch milliseconds in a webhook, RFC 3339 or a date from the API."""
    if value.isascii() and value.isdigit() and len(value) <= _EPOCH_MS_DIGITS:
        return instant(int(value), "closedate").astimezone(UTC).date()
    if len(value) == 10:
        return calendar_date(value, "closedate")
    return instant(value, "closedate").astimezone(UTC).date()


def _required(value: str | None, field_name: str) -> str:
    if not value:
        raise SourceFieldError(RefusalReason.MALFORMED, f"{field_name}: expected a stage id")
    return value


def _text(value: object) -> str | None:
    """A property value as HubSpot sends it: a string, sometimes a number (a `Decimal` once
    decoded, never a float); null is None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)  # not `format(..., "f")`: a hostile exponent stays short here
    raise SourceFieldError(RefusalReason.MALFORMED, f"propertyValue: {value!r}")


def deal_from_api(document: Mapping[str, Any]) -> HubSpotDeal | Refusal:
    """The CRM API's answer for one deal (`properties`, `propertiesWithHistory`)."""
    try:
        deal_id = id_text(document.get("id"), "id")
        properties = document.get("properties") or {}
        if not isinstance(properties, Mapping):
            raise SourceFieldError(RefusalReason.MALFORMED, "properties: expected an object")
        raw_history = document.get("propertiesWithHistory") or {}
        if not isinstance(raw_history, Mapping):
            raise SourceFieldError(RefusalReason.MALFORMED, "propertiesWithHistory: an object")
        history = {name: _versions(name, versions) for name, versions in raw_history.items()}
        return HubSpotDeal(
            deal_id=deal_id,
            properties={str(name): _text(value) for name, value in properties.items()},
            history=history,
        )
    except SourceFieldError as error:
        return error.refusal()


def _versions(name: str, raw: object) -> tuple[PropertyVersion, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise SourceFieldError(RefusalReason.MALFORMED, f"{name} history: expected a list")
    versions = []
    for version in raw:
        if not isinstance(version, Mapping):
            raise SourceFieldError(RefusalReason.MALFORMED, f"{name} history: not an object")
        versions.append(
            PropertyVersion(
                value=_text(version.get("value")),
                timestamp=instant(version.get("timestamp"), f"{name} history timestamp"),
            )
        )
    return tuple(versions)
