"""Debezium change events of Odoo's `crm_lead` → canonical events: one envelope at a time,
then whole lead stories (moved back, won then reopened, lost then restored, deleted),
redelivered and reordered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.debezium import map_debezium
from streams.bridges.refusal import Refusal, RefusalReason
from streams.bridges.source_values import decode_source
from streams.domain.view import DealStatus
from tests.support.bridges import deal_view, ingested, summary
from tests.support.debezium_envelopes import (
    WON_STAGE,
    envelope,
    epoch_days,
    lead_row,
    micros,
    odoo_mapping,
    update,
    with_schema,
)

MAPPING = odoo_mapping()
OPEN = lead_row()


def mapped(change_event: dict[str, Any]) -> tuple[CanonicalEvent, ...]:
    outcome = map_debezium(change_event, MAPPING)
    assert not isinstance(outcome, Refusal), outcome
    ingested(outcome)  # every output passes the worker's own ingest
    return outcome


CREATED = (
    "deal.created",
    {
        "pipeline": "new-business",
        "stage": "lead",
        "owner": "7",
        "amount": "12500.00",
        "currency": "EUR",
        "expected_close_date": "2026-12-31",
    },
)
WON_FIELDS = {"owner": "7", "amount": "12500.00", "currency": "EUR"}

SINGLE: list[tuple[str, dict[str, Any], list[tuple[str, dict[str, Any]]]]] = [
    ("insert", envelope("c", after=OPEN), [CREATED]),
    ("snapshot read", envelope("r", after=OPEN, snapshot="true"), [CREATED]),
    (
        "stage moved",
        update(OPEN, 100, "2026-11-21T10:00:00", stage_id=2),
        [("deal.stage_changed", {"pipeline": "new-business", "stage": "qualified"})],
    ),
    (
        "team moved",
        update(OPEN, 100, "2026-11-21T10:00:00", team_id=2),
        [("deal.stage_changed", {"pipeline": "renewals", "stage": "lead"})],
    ),
    (
        "into the won stage",
        update(OPEN, 100, "2026-11-21T10:00:00", stage_id=WON_STAGE, probability=100.0),
        [("deal.won", WON_FIELDS)],
    ),
    (
        "marked lost",
        update(OPEN, 100, "2026-11-21T10:00:00", active=False, lost_reason_id=1, probability=0.0),
        [("deal.lost", {"reason": "too expensive"})],
    ),
    (
        "lost for an unmapped reason",
        update(OPEN, 100, "2026-11-21T10:00:00", active=False, lost_reason_id=9),
        [("deal.lost", {"reason": "9"})],
    ),
    (
        "archived without a reason",
        update(OPEN, 100, "2026-11-21T10:00:00", active=False),
        [("deal.deleted", {})],
    ),
    (
        "amount, owner and close date in one write",
        update(
            OPEN,
            100,
            "2026-11-21T10:00:00",
            expected_revenue="14000.50",
            user_id=8,
            date_deadline=epoch_days("2027-01-15"),
        ),
        [
            ("deal.amount_changed", {"amount": "14000.50", "currency": "EUR"}),
            ("deal.owner_changed", {"owner": "8"}),
            ("deal.close_date_changed", {"expected_close_date": "2027-01-15"}),
        ],
    ),
    (
        "salesperson removed",
        update(OPEN, 100, "2026-11-21T10:00:00", user_id=None),
        [("deal.owner_changed", {"owner": "unassigned"})],
    ),
    ("a field dealpulse does not follow", update(OPEN, 100, "2026-11-21T10:00:00", name="x"), []),
    ("delete", envelope("d", before=OPEN, lsn=300), [("deal.deleted", {})]),
    (
        "with the converter's schema",
        with_schema(update(OPEN, 100, "2026-11-21T10:00:00", stage_id=3)),
        [("deal.stage_changed", {"pipeline": "new-business", "stage": "proposal"})],
    ),
]


@pytest.mark.parametrize(
    ("change_event", "expected"),
    [(case[1], case[2]) for case in SINGLE],
    ids=[case[0] for case in SINGLE],
)
def test_one_change_event(
    change_event: dict[str, Any], expected: list[tuple[str, dict[str, Any]]]
) -> None:
    assert summary(mapped(change_event)) == expected


def test_an_event_id_is_the_lsn_table_and_lead_and_sorts_by_lsn() -> None:
    early, late = (
        mapped(update(OPEN, lsn, "2026-11-21T10:00:00", stage_id=2))[0] for lsn in (99, 100)
    )
    assert early.event_id.startswith("dbz-")
    assert early.event_id.endswith("-00000000000000000099-2-stage_changed")
    assert early.event_id < late.event_id
    assert early.payload["occurred_at"] == "2026-11-21T10:00:00.000000Z"
    assert early.payload["source"] == "odoo"
    assert early.payload["tenant"] == "acme"


def test_a_write_without_write_date_happens_when_it_is_committed() -> None:
    after = {**OPEN, "stage_id": 2, "write_date": None}
    change_event = envelope("u", before=OPEN, after=after, lsn=5)
    assert mapped(change_event)[0].payload["occurred_at"] == "2026-11-20T12:00:00.000000Z"


def test_a_redelivered_change_event_gives_the_same_bytes() -> None:
    change_event = update(OPEN, 100, "2026-11-21T10:00:00", stage_id=WON_STAGE)
    first = [event.encode() for event in mapped(change_event)]
    again = [event.encode() for event in mapped(json.loads(json.dumps(change_event)))]
    assert first == again


def test_a_re_snapshot_of_an_unchanged_lead_gives_the_same_events() -> None:
    first = mapped(envelope("r", after=OPEN, lsn=1000, committed="2026-11-22T00:00:00"))
    again = mapped(envelope("r", after=OPEN, lsn=9000, committed="2026-11-25T00:00:00"))
    assert [event.encode() for event in first] == [event.encode() for event in again]
    assert first[0].payload["occurred_at"] == "2026-11-20T09:00:00.000000Z"  # create_date


def test_a_snapshot_of_a_won_lead_is_created_then_won_when_it_closed() -> None:
    won = lead_row(stage_id=WON_STAGE, probability=100.0, date_closed=micros("2026-11-24T16:30:00"))
    events = mapped(envelope("r", after=won, snapshot="true"))
    assert [event.payload["type"] for event in events] == ["deal.created", "deal.won"]
    view = deal_view("42", events)
    assert view.status is DealStatus.WON
    assert view.win is not None
    assert view.win.won_at.isoformat() == "2026-11-24T16:30:00+00:00"
    assert view.created_at is not None
    assert view.created_at.isoformat() == "2026-11-20T09:00:00+00:00"


def test_a_snapshot_of_a_lost_lead_and_of_an_archived_one() -> None:
    lost = lead_row(active=False, lost_reason_id=2, date_closed=micros("2026-11-23T08:00:00"))
    assert summary(mapped(envelope("r", after=lost)))[1] == ("deal.lost", {"reason": "went silent"})
    archived = lead_row(active=False)
    assert [kind for kind, _ in summary(mapped(envelope("r", after=archived)))] == [
        "deal.created",
        "deal.deleted",
    ]


def story() -> list[dict[str, Any]]:
    """Created, qualified, proposal, moved back to qualified, won, reopened into proposal,
    lost, restored, won for more."""
    rows = [OPEN]
    changes: list[tuple[str, dict[str, Any]]] = [
        ("2026-11-21T10:00:00", {"stage_id": 2}),
        ("2026-11-22T10:00:00", {"stage_id": 3}),
        ("2026-11-23T10:00:00", {"stage_id": 2}),
        ("2026-11-24T10:00:00", {"stage_id": WON_STAGE, "probability": 100.0}),
        ("2026-11-25T10:00:00", {"stage_id": 3, "probability": 40.0}),
        ("2026-11-26T10:00:00", {"active": False, "lost_reason_id": 1, "probability": 0.0}),
        ("2026-11-27T10:00:00", {"active": True, "lost_reason_id": None}),
        ("2026-11-28T10:00:00", {"stage_id": WON_STAGE, "expected_revenue": "13000.00"}),
    ]
    envelopes = [envelope("c", after=OPEN, lsn=1_000, committed="2026-11-20T09:00:00")]
    for number, (written, fields) in enumerate(changes, start=1):
        envelopes.append(update(rows[-1], 1_000 + number * 10, written, **fields))
        rows.append(envelopes[-1]["after"])
    return envelopes


def story_events(envelopes: list[dict[str, Any]]) -> list[CanonicalEvent]:
    return [event for change_event in envelopes for event in mapped(change_event)]


def test_moved_back_won_reopened_lost_restored_and_won_again() -> None:
    view = deal_view("42", story_events(story()))
    assert view.status is DealStatus.WON
    assert view.win is not None
    assert view.win.amount is not None
    assert str(view.win.amount.amount) == "13000.00"
    assert view.win.won_at.day == 28
    assert [(move.from_stage, move.to_stage) for move in view.transitions] == [
        ("lead", "qualified"),
        ("qualified", "proposal"),
        ("proposal", "qualified"),
        ("qualified", "won"),
        ("won", "proposal"),
        ("proposal", "lost"),
        ("lost", "proposal"),
        ("proposal", "won"),
    ]
    assert view.anomalies == frozenset()


def test_redelivered_and_reordered_change_events_fold_to_the_same_deal() -> None:
    envelopes = story()
    in_order = deal_view("42", story_events(envelopes))
    shuffled = [envelopes[i] for i in (8, 2, 0, 5, 2, 4, 1, 7, 8, 3, 6, 0)]
    assert deal_view("42", story_events(shuffled)) == in_order


def test_one_transaction_moving_then_winning_applies_in_lsn_order() -> None:
    written = "2026-11-21T10:00:00"  # Odoo's write_date: one per transaction
    moved = update(OPEN, 500, written, stage_id=3)
    won = update(moved["after"], 501, written, stage_id=WON_STAGE)
    view = deal_view("42", story_events([won, envelope("c", after=OPEN, lsn=400), moved]))
    assert [(move.from_stage, move.to_stage) for move in view.transitions] == [
        ("lead", "proposal"),
        ("proposal", "won"),
    ]


def test_a_deleted_lead_counts_nothing_whatever_follows() -> None:
    envelopes = [*story()[:5], envelope("d", before=story()[4]["after"], lsn=5_000)]
    view = deal_view("42", story_events(envelopes))
    assert view.status is DealStatus.DELETED


REFUSED: list[tuple[str, dict[str, Any], RefusalReason]] = [
    ("another table", envelope("c", after=OPEN, table="res_partner"), RefusalReason.NOT_A_DEAL),
    ("a truncate", {**envelope("t"), "op": "t"}, RefusalReason.UNSUPPORTED_CHANGE),
    ("an unknown op", {**envelope("c", after=OPEN), "op": "x"}, RefusalReason.MALFORMED),
    (
        "an update without the old row (REPLICA IDENTITY DEFAULT)",
        envelope("u", before=None, after={**OPEN, "stage_id": 2}),
        RefusalReason.MALFORMED,
    ),
    (
        "a restore after a soft delete",
        update(lead_row(active=False), 9, "2026-11-21T10:00:00", active=True),
        RefusalReason.UNSUPPORTED_CHANGE,
    ),
    (
        "a negative amount",
        envelope("c", after=lead_row(expected_revenue="-5.00")),
        RefusalReason.BAD_VALUE,
    ),
    (
        "no lsn",
        {**envelope("d", before=OPEN), "source": {"table": "crm_lead", "ts_ms": 1}},
        RefusalReason.MALFORMED,
    ),
    ("no stage", envelope("c", after=lead_row(stage_id=None)), RefusalReason.MALFORMED),
    ("no source", {"op": "c", "after": OPEN}, RefusalReason.MALFORMED),
]


@pytest.mark.parametrize(
    ("change_event", "reason"),
    [(case[1], case[2]) for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_a_change_event_that_cannot_be_mapped_is_refused(
    change_event: dict[str, Any], reason: RefusalReason
) -> None:
    outcome = map_debezium(change_event, MAPPING)
    assert isinstance(outcome, Refusal)
    assert outcome.reason is reason, outcome.detail


def test_a_currency_from_the_row_wins_over_the_mapping() -> None:
    events = mapped(envelope("c", after=lead_row(company_currency="USD")))
    assert events[0].payload["currency"] == "USD"


CAPTURED_UPDATE = (
    # As Debezium 3.6.1.Final wrote it here (dealpulse connect up, JsonConverter without
    # schemas) for `UPDATE crm_lead SET stage_id = 2, write_date = now() ...`.
    '{"before":{"id":1,"name":"a","type":"opportunity","active":true,"stage_id":1,'
    '"team_id":1,"user_id":7,"expected_revenue":"1234.50","probability":null,'
    '"lost_reason_id":null,"date_deadline":20818,"date_closed":null,'
    '"create_date":1796659379693173,"write_date":1796659379693173},'
    '"after":{"id":1,"name":"a","type":"opportunity","active":true,"stage_id":2,'
    '"team_id":1,"user_id":7,"expected_revenue":"1234.50","probability":null,'
    '"lost_reason_id":null,"date_deadline":20818,"date_closed":null,'
    '"create_date":1796659379693173,"write_date":1796659388232169},'
    '"source":{"version":"3.6.1.Final","connector":"postgresql","name":"crm",'
    '"ts_ms":1796659388233,"snapshot":"false","db":"crm",'
    '"sequence":"[null,\\"26494368\\"]","ts_us":1796659388233463,'
    '"ts_ns":1796659388233463000,"schema":"public","table":"crm_lead","txId":738,'
    '"lsn":26494368,"xmin":null,"origin":null,"origin_lsn":null},"transaction":null,'
    '"op":"u","ts_ms":1796659388756,"ts_us":1796659388756269,"ts_ns":1796659388756269429}'
)


def test_an_update_as_debezium_wrote_it() -> None:
    document = decode_source(CAPTURED_UPDATE.encode())
    assert isinstance(document, dict)
    outcome = map_debezium(document, MAPPING)  # after the ingest tests' fixed clock: not ingested
    assert not isinstance(outcome, Refusal), outcome
    [event] = outcome
    assert event.payload["type"] == "deal.stage_changed"
    assert event.payload["stage"] == "qualified"
    assert event.payload["occurred_at"] == "2026-12-07T16:03:08.232169Z"
    assert event.event_id.endswith("-00000000000026494368-2-stage_changed")
