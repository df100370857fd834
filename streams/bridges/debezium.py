"""Debezium's change events of an Odoo-style `crm_lead` table to canonical deal events.

The envelope, as Debezium's PostgreSQL connector documents it ("Data change
events": https://debezium.io/documentation/reference/stable/connectors/postgresql.html),
with the JSON converter, with or without its `{"schema", "payload"}` wrapping::

    {"before": <the row before; with REPLICA IDENTITY FULL, every column>,
     "after":  <the row after; null for a delete>,
     "op": "c" | "u" | "d" | "r" (a snapshot read) | "t" (truncate) | "m" (message),
     "source": {"connector": "postgresql", "db": "crm", "schema": "public",
                "table": "crm_lead", "lsn": 24023128, "txId": 555,
                "snapshot": "false", "ts_ms": 1733588191000, ...},
     "ts_ms": <when the connector processed it>}

with `decimal.handling.mode=string` (`"12500.00"`), timestamps as microseconds
since the epoch (Odoo's `timestamp without time zone` columns, in UTC) and
dates as days since 1970-01-01. A delete is followed by a tombstone (a null
value), which the bridge skips before it gets here.

The row's fields mean what they mean in Odoo's `crm.lead`
(`addons/crm/models/crm_lead.py`): `stage_id` (a `crm_stage`; a stage with
`is_won` wins the lead — the mapping's `[outcomes] won` lists those stage ids),
`team_id` (the sales team, here the pipeline), `user_id` (the salesperson),
`expected_revenue` (in the company's currency: the row's `company_currency`
column when there is one, else the mapping's `currency`), `active` (false:
archived), `lost_reason_id`, `date_deadline` (the expected closing),
`date_closed`, `create_date` and `write_date` (Odoo sets it on every write).

A lead is open, won (active, in a won stage), lost (archived with a lost
reason: Odoo's "mark as lost"), or archived without a reason, which is a soft
delete. One envelope maps to zero or more canonical events:

- c, r → `deal.created` at `create_date`, then `deal.won` / `deal.lost` at
  `date_closed` if it is already closed, or `deal.deleted` if archived;
- u → from `before` to `after`: reopened (won or lost → open, re-entering the
  stage), stage changed (stage or team, while open), won, lost, amount changed,
  owner changed, close date changed (`date_deadline`); archived without a
  reason → `deal.deleted`. Restoring a soft-deleted lead is refused
  (`unsupported_change`): a deletion is final in dealpulse;
- d → `deal.deleted`.

`occurred_at` is the row's `write_date` (Odoo stamps every write with it, one
instant for a whole transaction), else the commit time `source.ts_ms`; a raw SQL
UPDATE that leaves `write_date` alone is therefore dated at the lead's last write.
The identity is the transaction (`txId`), the table and the lead id, then the
LSN as the id's sequence: unique per change, and the events of one transaction,
which share a `write_date`, apply in commit order. A snapshot read has no change
of its own: its identity is the table, the lead and its `write_date`, so a
re-snapshot of an unchanged lead gives the same events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

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
    object_at,
    optional_id_text,
    reason_text,
)
from streams.domain.events import EventType

SOURCE_TAG = "dbz"
LEAD_TABLE = "crm_lead"
UNASSIGNED_OWNER = "unassigned"
"""The owner of a lead without a salesperson (`user_id` null)."""
_LSN_DIGITS = 20
_MICROSECONDS_FROM = 100_000_000_000_000
"""An epoch number at least this big is in microseconds (milliseconds would be past 5000)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Status = Literal["open", "won", "lost", "archived"]


@dataclass(frozen=True, slots=True)
class Lead:
    """One `crm_lead` row, read into the values the mapping uses."""

    id: str
    stage_id: str
    team_id: str | None
    owner: str
    amount: str
    currency: str
    active: bool
    lost_reason_id: str | None
    date_deadline: date | None
    date_closed: datetime | None
    create_date: datetime | None
    write_date: datetime | None

    def status(self, mapping: SourceMapping) -> Status:
        if not self.active:
            return "archived" if self.lost_reason_id is None else "lost"
        outcome = mapping.outcome_of(self.stage_id)
        return "open" if outcome is None else outcome


def map_debezium(
    envelope: Mapping[str, Any], mapping: SourceMapping
) -> tuple[CanonicalEvent, ...] | Refusal:
    """The canonical events of one Debezium change event, or why there are none."""
    try:
        return _map(unwrapped(envelope), mapping)
    except SourceFieldError as error:
        return error.refusal()


def unwrapped(envelope: Mapping[str, Any]) -> Mapping[str, Any]:
    """The envelope itself, out of the JSON converter's `{"schema", "payload"}` when present."""
    if "schema" in envelope and "payload" in envelope:
        return object_at(envelope, "payload")
    return envelope


def _map(envelope: Mapping[str, Any], mapping: SourceMapping) -> tuple[CanonicalEvent, ...]:
    op = envelope.get("op")
    if op in ("t", "m"):
        what = "a TRUNCATE" if op == "t" else "a logical decoding message"
        raise SourceFieldError(RefusalReason.UNSUPPORTED_CHANGE, f"op {op!r}: {what}")
    if op not in ("c", "u", "d", "r"):
        raise SourceFieldError(RefusalReason.MALFORMED, f"op: {op!r} is not c, u, d or r")
    source = object_at(envelope, "source")
    table = source.get("table")
    if table != LEAD_TABLE:
        raise SourceFieldError(
            RefusalReason.NOT_A_DEAL, f"source.table {table!r}: only {LEAD_TABLE} is mapped"
        )
    committed_at = instant(source.get("ts_ms"), "source.ts_ms")
    if op == "r":
        lead = read_lead(object_at(envelope, "after"), "after", mapping)
        identity = SourceIdentity(SOURCE_TAG, ("snapshot", table, lead.id, _text(lead.write_date)))
        return _created(lead, identity, committed_at, mapping)
    lsn, transaction = _lsn(source), str(source.get("txId", ""))
    if op == "d":
        old_row = object_at(envelope, "before")
        deal_id = name_text(id_text(old_row.get("id"), "before.id"), "before.id")
        deleted = [Change(EventType.DELETED)]
        return _events(
            deleted, _identity(transaction, lsn, deal_id), deal_id, committed_at, mapping
        )
    after = read_lead(object_at(envelope, "after"), "after", mapping)
    if op == "c":
        return _created(after, _identity(transaction, lsn, after.id), committed_at, mapping)
    before = _full_before(envelope, mapping)
    occurred_at = after.write_date or committed_at
    changes = _changed(before, after, mapping)
    return _events(changes, _identity(transaction, lsn, after.id), after.id, occurred_at, mapping)


def _identity(transaction: str, lsn: int, deal_id: str) -> SourceIdentity:
    """The digest names the transaction, the table and the lead; the LSN after it orders
    the events of one transaction, and makes each change its own."""
    return SourceIdentity(
        SOURCE_TAG, (transaction, LEAD_TABLE, deal_id), sequence=lsn, sequence_digits=_LSN_DIGITS
    )


def _events(
    changes: list[Change],
    identity: SourceIdentity,
    deal_id: str,
    occurred_at: datetime,
    mapping: SourceMapping,
) -> tuple[CanonicalEvent, ...]:
    return canonical_events(
        changes, identity=identity, deal_id=deal_id, occurred_at=occurred_at, mapping=mapping
    )


def _created(
    lead: Lead, identity: SourceIdentity, committed_at: datetime, mapping: SourceMapping
) -> tuple[CanonicalEvent, ...]:
    """A new lead (or one a snapshot reads): created, then closed when it already is."""
    created_at = lead.create_date or lead.write_date or committed_at
    created = Change(
        EventType.CREATED,
        pipeline=_pipeline(lead, mapping),
        stage=name_text(mapping.stage_for(lead.stage_id), "after.stage_id"),
        owner=lead.owner,
        amount=lead.amount,
        currency=lead.currency,
        expected_close_date=lead.date_deadline,
    )
    events = _events([created], identity, lead.id, created_at, mapping)
    status = lead.status(mapping)
    if status == "open":
        return events
    closed_at = max(created_at, lead.date_closed or lead.write_date or created_at)
    closing = _closing(status, lead, mapping)
    return events + _events([closing], identity, lead.id, closed_at, mapping)


def _changed(before: Lead, after: Lead, mapping: SourceMapping) -> list[Change]:
    status_before, status_now = before.status(mapping), after.status(mapping)
    if status_now == "archived":
        return [] if status_before == "archived" else [Change(EventType.DELETED)]
    if status_before == "archived":
        raise SourceFieldError(
            RefusalReason.UNSUPPORTED_CHANGE,
            f"lead {after.id} restored after an archive without a lost reason (a soft delete): "
            "a deletion is final in dealpulse",
        )
    changes: list[Change] = []
    moved = (before.stage_id, before.team_id) != (after.stage_id, after.team_id)
    if status_now == "open" and status_before != "open":
        changes.append(_entering(EventType.REOPENED, after, mapping))
    elif status_now == "open" and moved:
        changes.append(_entering(EventType.STAGE_CHANGED, after, mapping))
    if status_now != status_before and status_now != "open":
        changes.append(_closing(status_now, after, mapping))
    if (before.amount, before.currency) != (after.amount, after.currency):
        changes.append(
            Change(EventType.AMOUNT_CHANGED, amount=after.amount, currency=after.currency)
        )
    if before.owner != after.owner:
        changes.append(Change(EventType.OWNER_CHANGED, owner=after.owner))
    if after.date_deadline is not None and before.date_deadline != after.date_deadline:
        changes.append(
            Change(EventType.CLOSE_DATE_CHANGED, expected_close_date=after.date_deadline)
        )
    return changes


def _closing(status: Status, lead: Lead, mapping: SourceMapping) -> Change:
    if status == "won":
        return Change(EventType.WON, owner=lead.owner, amount=lead.amount, currency=lead.currency)
    if status == "lost":
        reason = mapping.lost_reason
        if lead.lost_reason_id is not None:
            reason = reason_text(mapping.lost_reason_for(lead.lost_reason_id), reason)
        return Change(EventType.LOST, reason=reason)
    return Change(EventType.DELETED)


def _entering(change_type: EventType, lead: Lead, mapping: SourceMapping) -> Change:
    return Change(
        change_type,
        pipeline=_pipeline(lead, mapping),
        stage=name_text(mapping.stage_for(lead.stage_id), "after.stage_id"),
    )


def _pipeline(lead: Lead, mapping: SourceMapping) -> str:
    pipeline = mapping.pipeline_for(lead.team_id)
    if pipeline is None:
        raise SourceFieldError(
            RefusalReason.MALFORMED, "team_id: null, and the mapping has no pipeline"
        )
    return name_text(pipeline, "team_id")


def read_lead(row: Mapping[str, Any], where: str, mapping: SourceMapping) -> Lead:
    """A `crm_lead` row as Debezium sends it; `SourceFieldError` names the first bad column."""
    user_id = optional_id_text(row.get("user_id"), f"{where}.user_id")
    revenue = row.get("expected_revenue")
    currency = row.get("company_currency") or mapping.default_currency
    active = row.get("active", True)
    if not isinstance(active, bool | None):
        raise SourceFieldError(RefusalReason.MALFORMED, f"{where}.active: {active!r}")
    return Lead(
        id=name_text(id_text(row.get("id"), f"{where}.id"), f"{where}.id"),
        stage_id=id_text(row.get("stage_id"), f"{where}.stage_id"),
        team_id=optional_id_text(row.get("team_id"), f"{where}.team_id"),
        owner=UNASSIGNED_OWNER if user_id is None else name_text(user_id, f"{where}.user_id"),
        amount=amount_text(0 if revenue is None else revenue, f"{where}.expected_revenue"),
        currency=currency_text(currency, f"{where}.company_currency"),
        active=active is not False,
        lost_reason_id=optional_id_text(row.get("lost_reason_id"), f"{where}.lost_reason_id"),
        date_deadline=_optional_date(row, "date_deadline", where),
        date_closed=_optional_timestamp(row, "date_closed", where),
        create_date=_optional_timestamp(row, "create_date", where),
        write_date=_optional_timestamp(row, "write_date", where),
    )


def _full_before(envelope: Mapping[str, Any], mapping: SourceMapping) -> Lead:
    before = envelope.get("before")
    if not isinstance(before, Mapping) or "stage_id" not in before:
        raise SourceFieldError(
            RefusalReason.MALFORMED,
            "before: absent or only the key; the table needs REPLICA IDENTITY FULL",
        )
    return read_lead(before, "before", mapping)


def _optional_date(row: Mapping[str, Any], column: str, where: str) -> date | None:
    value = row.get(column)
    return None if value is None else calendar_date(value, f"{where}.{column}")


def _optional_timestamp(row: Mapping[str, Any], column: str, where: str) -> datetime | None:
    value = row.get(column)
    return None if value is None else timestamp(value, f"{where}.{column}")


def timestamp(value: object, field: str) -> datetime:
    """A Debezium timestamp: microseconds since the epoch (`MicroTimestamp`, Odoo's columns),
    milliseconds (`Timestamp`) or an ISO 8601 text (`ZonedTimestamp`, a `timestamptz`)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= _MICROSECONDS_FROM:
        try:
            return _EPOCH + timedelta(microseconds=value)
        except OverflowError:
            pass
    return instant(value, field)


def _lsn(source: Mapping[str, Any]) -> int:
    lsn = source.get("lsn")
    if not isinstance(lsn, int) or isinstance(lsn, bool) or lsn < 0:
        raise SourceFieldError(RefusalReason.MALFORMED, f"source.lsn: {lsn!r} is not an LSN")
    return lsn


def _text(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()
