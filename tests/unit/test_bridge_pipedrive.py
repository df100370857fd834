"""Pipedrive webhooks v2 → canonical events: one webhook at a time, then whole deal stories."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.pipedrive import map_pipedrive
from streams.bridges.refusal import Refusal, RefusalReason
from streams.bridges.source_values import decode_source
from streams.domain.view import DealStatus
from tests.support.bridges import (
    deal_view,
    ingested,
    pipedrive_deal,
    pipedrive_mapping,
    pipedrive_webhook,
    summary,
)

MAPPING = pipedrive_mapping()
AT = "2026-11-20T10:15:30.250Z"


def mapped(webhook: dict[str, Any]) -> tuple[CanonicalEvent, ...]:
    outcome = map_pipedrive(webhook, MAPPING)
    assert not isinstance(outcome, Refusal), outcome
    return outcome


def change(previous: dict[str, Any], **now: Any) -> dict[str, Any]:
    return pipedrive_webhook(
        "change", "5a7c0f52-1111-4e3b-9c6d-000000000001", AT, pipedrive_deal(**now), previous
    )


OPEN_MONEY = {"amount": "12500.50", "currency": "EUR"}

SINGLE_WEBHOOKS: list[tuple[str, dict[str, Any], list[tuple[str, dict[str, Any]]]]] = [
    (
        "create",
        pipedrive_webhook("create", "d-1", AT, pipedrive_deal()),
        [
            (
                "deal.created",
                {
                    "pipeline": "new-business",
                    "stage": "lead",
                    "owner": "900",
                    **OPEN_MONEY,
                    "expected_close_date": "2026-12-31",
                },
            )
        ],
    ),
    (
        "create already won",
        pipedrive_webhook("create", "d-2", AT, pipedrive_deal(status="won", stage_id=4)),
        [
            (
                "deal.created",
                {
                    "pipeline": "new-business",
                    "stage": "negotiation",
                    "owner": "900",
                    **OPEN_MONEY,
                    "expected_close_date": "2026-12-31",
                },
            ),
            ("deal.won", {"owner": "900", **OPEN_MONEY}),
        ],
    ),
    (
        "create without a value, in an unmapped stage",
        pipedrive_webhook(
            "create", "d-3", AT, pipedrive_deal(value=None, stage_id=99, expected_close_date=None)
        ),
        [
            (
                "deal.created",
                {
                    "pipeline": "new-business",
                    "stage": "99",
                    "owner": "900",
                    "amount": "0",
                    "currency": "EUR",
                },
            )
        ],
    ),
    (
        "stage forward",
        change({"stage_id": 1}, stage_id=2),
        [("deal.stage_changed", {"pipeline": "new-business", "stage": "qualified"})],
    ),
    (
        "stage back",
        change({"stage_id": 3}, stage_id=2),
        [("deal.stage_changed", {"pipeline": "new-business", "stage": "qualified"})],
    ),
    (
        "moved to another pipeline",
        change({"stage_id": 2, "pipeline_id": 1}, stage_id=7, pipeline_id=2),
        [("deal.stage_changed", {"pipeline": "renewals", "stage": "renewal-due"})],
    ),
    (
        "value changed",
        change({"value": Decimal("10000")}, value=Decimal("11000.75")),
        [("deal.amount_changed", {"amount": "11000.75", "currency": "EUR"})],
    ),
    (
        "currency changed",
        change({"currency": "EUR"}, currency="USD"),
        [("deal.amount_changed", {"amount": "12500.50", "currency": "USD"})],
    ),
    (
        "owner changed",
        change({"owner_id": 900}, owner_id=901),
        [("deal.owner_changed", {"owner": "901"})],
    ),
    (
        "close date moved",
        change({"expected_close_date": "2026-12-31"}, expected_close_date="2027-01-15"),
        [("deal.close_date_changed", {"expected_close_date": "2027-01-15"})],
    ),
    (
        "close date cleared",
        change({"expected_close_date": "2026-12-31"}, expected_close_date=None),
        [],
    ),
    ("title only", change({"title": "Acme"}, title="Acme renewal"), []),
    (
        "won",
        change({"status": "open"}, status="won"),
        [("deal.won", {"owner": "900", **OPEN_MONEY})],
    ),
    (
        "moved to the last stage and won in one edit",
        change({"status": "open", "stage_id": 3}, status="won", stage_id=4),
        [
            ("deal.stage_changed", {"pipeline": "new-business", "stage": "negotiation"}),
            ("deal.won", {"owner": "900", **OPEN_MONEY}),
        ],
    ),
    (
        "lost, with a reason holding a line break",
        change({"status": "open"}, status="lost", lost_reason="Budget\ncut"),
        [("deal.lost", {"reason": "Budget cut"})],
    ),
    (
        "lost without a reason",
        change({"status": "open"}, status="lost"),
        [("deal.lost", {"reason": "no reason given"})],
    ),
    (
        "reopened",
        change({"status": "won"}, status="open", stage_id=4),
        [("deal.reopened", {"pipeline": "new-business", "stage": "negotiation"})],
    ),
    (
        "won turned lost",
        change({"status": "won"}, status="lost", lost_reason="Churned in trial"),
        [("deal.lost", {"reason": "Churned in trial"})],
    ),
    (
        "moved into a won stage",
        change({"stage_id": 4}, stage_id=5),
        [("deal.won", {"owner": "900", **OPEN_MONEY})],
    ),
    (
        "moved out of a lost stage",
        change({"stage_id": 6}, stage_id=3),
        [("deal.reopened", {"pipeline": "new-business", "stage": "proposal"})],
    ),
    (
        "status deleted",
        change({"status": "open"}, status="deleted"),
        [("deal.deleted", {})],
    ),
    (
        "value, owner and stage in one edit",
        change(
            {"value": Decimal(1), "owner_id": 900, "stage_id": 1},
            value=Decimal(2),
            owner_id=902,
            stage_id=2,
        ),
        [
            ("deal.stage_changed", {"pipeline": "new-business", "stage": "qualified"}),
            ("deal.amount_changed", {"amount": "2", "currency": "EUR"}),
            ("deal.owner_changed", {"owner": "902"}),
        ],
    ),
    (
        "delete",
        pipedrive_webhook("delete", "d-9", AT, None, pipedrive_deal()),
        [("deal.deleted", {})],
    ),
]


@pytest.mark.parametrize(
    ("webhook", "expected"),
    [pytest.param(webhook, expected, id=name) for name, webhook, expected in SINGLE_WEBHOOKS],
)
def test_one_webhook_maps_to_these_events(
    webhook: dict[str, Any], expected: list[tuple[str, dict[str, Any]]]
) -> None:
    events = mapped(webhook)
    assert summary(events) == expected
    for event in ingested(events):
        assert event.deal_id == "4711"
        assert event.tenant == "acme"
        assert event.source == "pipedrive"
        assert event.occurred_at.isoformat() == "2026-11-20T10:15:30.250000+00:00"


def test_event_ids_name_the_source_and_kind_and_sort_in_apply_order() -> None:
    events = mapped(change({"status": "open", "stage_id": 3}, status="won", stage_id=4))
    ids = [event.event_id for event in events]
    assert ids == sorted(ids)
    assert all(event_id.startswith("pd-") for event_id in ids)
    assert ids[0].endswith("-stage_changed")
    assert ids[1].endswith("-won")


def test_a_retried_delivery_maps_to_the_same_bytes() -> None:
    first = pipedrive_webhook("change", "d-7", AT, pipedrive_deal(stage_id=2), {"stage_id": 1})
    retry = pipedrive_webhook(
        "change", "d-7", AT, pipedrive_deal(stage_id=2), {"stage_id": 1}, attempt=3
    )
    assert [event.encode() for event in mapped(first)] == [
        event.encode() for event in mapped(retry)
    ]


def test_a_webhook_read_from_bytes_keeps_money_exact() -> None:
    raw = (
        b'{"meta": {"action": "change", "entity": "deal", "id": "d-8", "timestamp": "'
        + AT.encode()
        + b'"}, "data": {"id": 4711, "stage_id": 1, "pipeline_id": 1, "value": 0.1,'
        b' "currency": "USD", "owner_id": 900, "status": "open"}, "previous": {"value": 0.3}}'
    )
    webhook = decode_source(raw)
    assert isinstance(webhook, dict)
    assert summary(mapped(webhook)) == [
        ("deal.amount_changed", {"amount": "0.1", "currency": "USD"})
    ]


# --- whole stories, as the worker folds them ---------------------------------------

DAY = "2026-11-{:02d}T09:00:00.000Z"


def story() -> list[dict[str, Any]]:
    """Created in lead, qualified, proposal, back to qualified, won, reopened, won again."""
    return [
        pipedrive_webhook("create", "s-1", DAY.format(2), pipedrive_deal(stage_id=1)),
        pipedrive_webhook(
            "change", "s-2", DAY.format(4), pipedrive_deal(stage_id=2), {"stage_id": 1}
        ),
        pipedrive_webhook(
            "change", "s-3", DAY.format(6), pipedrive_deal(stage_id=3), {"stage_id": 2}
        ),
        pipedrive_webhook(
            "change", "s-4", DAY.format(8), pipedrive_deal(stage_id=2), {"stage_id": 3}
        ),
        pipedrive_webhook(
            "change",
            "s-5",
            DAY.format(10),
            pipedrive_deal(stage_id=2, status="won"),
            {"status": "open"},
        ),
        pipedrive_webhook(
            "change",
            "s-6",
            DAY.format(12),
            pipedrive_deal(stage_id=2, status="open"),
            {"status": "won"},
        ),
        pipedrive_webhook(
            "change",
            "s-7",
            DAY.format(14),
            pipedrive_deal(stage_id=2, status="won", value=Decimal(13000)),
            {"status": "open", "value": Decimal("12500.50")},
        ),
    ]


def story_events(webhooks: list[dict[str, Any]]) -> list[CanonicalEvent]:
    return [event for webhook in webhooks for event in mapped(webhook)]


def test_moved_back_won_reopened_and_won_again() -> None:
    view = deal_view("4711", story_events(story()))
    assert view.status is DealStatus.WON
    assert view.win is not None
    assert view.win.amount is not None
    assert str(view.win.amount.amount) == "13000"
    assert view.win.won_at.day == 14
    assert [(move.from_stage, move.to_stage) for move in view.transitions] == [
        ("lead", "qualified"),
        ("qualified", "proposal"),
        ("proposal", "qualified"),
        ("qualified", "won"),
        ("won", "qualified"),
        ("qualified", "won"),
    ]
    assert view.anomalies == frozenset()


def test_redelivered_and_reordered_webhooks_fold_to_the_same_deal() -> None:
    webhooks = story()
    in_order = deal_view("4711", story_events(webhooks))
    shuffled = [webhooks[i] for i in (6, 2, 0, 5, 2, 4, 1, 6, 3, 0)]
    assert deal_view("4711", story_events(shuffled)) == in_order


def test_a_deleted_deal_counts_nothing_whatever_follows() -> None:
    webhooks = [
        *story()[:5],
        pipedrive_webhook("delete", "s-8", DAY.format(16), None, pipedrive_deal(status="won")),
        pipedrive_webhook(
            "change", "s-9", DAY.format(17), pipedrive_deal(stage_id=3), {"stage_id": 2}
        ),
    ]
    view = deal_view("4711", story_events(webhooks))
    assert view.status is DealStatus.DELETED


# --- refusals ----------------------------------------------------------------------

REFUSED: list[tuple[str, dict[str, Any], RefusalReason]] = [
    (
        "a person",
        pipedrive_webhook("change", "r-1", AT, {"id": 3}, {"name": "x"}, entity="person"),
        RefusalReason.NOT_A_DEAL,
    ),
    (
        "a merge action",
        pipedrive_webhook("merge", "r-2", AT, pipedrive_deal()),
        RefusalReason.UNSUPPORTED_CHANGE,
    ),
    ("no meta", {"data": pipedrive_deal()}, RefusalReason.MALFORMED),
    ("no data on create", pipedrive_webhook("create", "r-3", AT, None), RefusalReason.MALFORMED),
    (
        "no previous on change",
        pipedrive_webhook("change", "r-4", AT, pipedrive_deal(), None),
        RefusalReason.MALFORMED,
    ),
    (
        "a bad timestamp",
        pipedrive_webhook("create", "r-5", "yesterday", pipedrive_deal()),
        RefusalReason.MALFORMED,
    ),
    (
        "a negative value",
        pipedrive_webhook("create", "r-6", AT, pipedrive_deal(value=-5)),
        RefusalReason.BAD_VALUE,
    ),
    (
        "a float-sized fraction",
        pipedrive_webhook("create", "r-7", AT, pipedrive_deal(value=Decimal("0.1234567"))),
        RefusalReason.BAD_VALUE,
    ),
    (
        "a custom currency",
        pipedrive_webhook("create", "r-8", AT, pipedrive_deal(currency="BTC")),
        RefusalReason.BAD_VALUE,
    ),
    ("an unknown status", change({"status": "open"}, status="archived"), RefusalReason.MALFORMED),
    (
        "a boolean owner",
        pipedrive_webhook("create", "r-9", AT, pipedrive_deal(owner_id=True)),
        RefusalReason.MALFORMED,
    ),
]


@pytest.mark.parametrize(
    ("webhook", "reason"),
    [pytest.param(webhook, reason, id=name) for name, webhook, reason in REFUSED],
)
def test_what_cannot_be_mapped_is_refused_with_a_reason(
    webhook: dict[str, Any], reason: RefusalReason
) -> None:
    outcome = map_pipedrive(webhook, MAPPING)
    assert isinstance(outcome, Refusal)
    assert outcome.reason is reason
    assert outcome.detail


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"[1, 2]", b"\xff\xfe", b'{"value": NaN}'], ids=repr
)
def test_bytes_that_are_not_a_json_object_are_refused(raw: bytes) -> None:
    outcome = decode_source(raw)
    assert isinstance(outcome, Refusal)
    assert outcome.reason is RefusalReason.NOT_JSON
