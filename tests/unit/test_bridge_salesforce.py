"""Salesforce OpportunityChangeEvent → canonical events: one event at a time, then stories."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.mapping_file import SourceMapping, parse_mapping
from streams.bridges.refusal import Refusal, RefusalReason
from streams.bridges.salesforce import map_salesforce
from streams.bridges.source_values import decode_source
from streams.domain.view import DealStatus
from tests.support.bridges import (
    SALESFORCE_TOML,
    deal_view,
    epoch_ms,
    ingested,
    opportunity_event,
    salesforce_mapping,
    summary,
)

MAPPING = salesforce_mapping()
OPP = "006Hs00001AbCdEIAV"
OTHER = "006Hs00001AbCdFIAV"
OWNER = "005Hs00000AbCdEIAV"
AT_MS = epoch_ms("2026-11-20T10:15:30.250")
TX = "0002343d-9d90-e395-ed20-cf416ba652ad"


def mapped(event: dict[str, Any]) -> tuple[CanonicalEvent, ...]:
    return mapped_with(event, MAPPING)


def mapped_with(event: dict[str, Any], mapping: SourceMapping) -> tuple[CanonicalEvent, ...]:
    outcome = map_salesforce(event, mapping)
    assert not isinstance(outcome, Refusal), outcome
    return outcome


def created(**body: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "Name": "Acme - 200 seats",
        "AccountId": "001Hs00000XyZaBIAV",
        "StageName": "Prospecting",
        "Amount": Decimal("48000.0"),
        "Probability": Decimal("10.0"),
        "CloseDate": "2026-12-15",
        "OwnerId": OWNER,
        "IsClosed": False,
        "IsWon": False,
        "ForecastCategoryName": "Pipeline",
        "CreatedDate": "2026-11-20T10:15:30.000Z",
        "LastModifiedDate": "2026-11-20T10:15:30.000Z",
    }
    fields.update(body)
    return opportunity_event("CREATE", [OPP], AT_MS, TX, 1, None, **fields)


def updated(changed: dict[str, Any], *, sequence: int = 1, at_ms: int = AT_MS) -> dict[str, Any]:
    """An UPDATE carrying `changed` (and LastModifiedDate), every other field null, as a
    converter with the event's schema writes it."""
    nulls = dict.fromkeys(
        ("StageName", "Amount", "CurrencyIsoCode", "OwnerId", "IsWon", "IsClosed", "CloseDate")
    )
    body = {**nulls, **changed, "LastModifiedDate": "2026-11-20T10:15:30.000Z"}
    return opportunity_event(
        "UPDATE", [OPP], at_ms, TX, sequence, [*changed, "LastModifiedDate"], **body
    )


OPEN_MONEY = {"amount": "48000.0", "currency": "USD"}

SINGLE_EVENTS: list[tuple[str, dict[str, Any], list[tuple[str, dict[str, Any]]]]] = [
    (
        "create",
        created(),
        [
            (
                "deal.created",
                {
                    "pipeline": "new-business",
                    "stage": "lead",
                    "owner": OWNER,
                    **OPEN_MONEY,
                    "expected_close_date": "2026-12-15",
                },
            )
        ],
    ),
    (
        "create, multi-currency, no amount",
        created(Amount=None, CurrencyIsoCode="EUR", CloseDate=None),
        [
            (
                "deal.created",
                {
                    "pipeline": "new-business",
                    "stage": "lead",
                    "owner": OWNER,
                    "amount": "0",
                    "currency": "EUR",
                },
            )
        ],
    ),
    (
        "create closed won",
        created(StageName="Closed Won", IsClosed=True, IsWon=True),
        [
            (
                "deal.created",
                {
                    "pipeline": "new-business",
                    "stage": "Closed Won",
                    "owner": OWNER,
                    **OPEN_MONEY,
                    "expected_close_date": "2026-12-15",
                },
            ),
            ("deal.won", {"owner": OWNER, **OPEN_MONEY}),
        ],
    ),
    (
        "stage forward",
        updated({"StageName": "Qualification", "Probability": Decimal(20)}),
        [("deal.stage_changed", {"pipeline": "new-business", "stage": "qualified"})],
    ),
    (
        "stage not in the mapping",
        updated({"StageName": "Id. Decision Makers"}),
        [("deal.stage_changed", {"pipeline": "new-business", "stage": "Id. Decision Makers"})],
    ),
    (
        "amount",
        updated({"Amount": Decimal("52000.00")}),
        [("deal.amount_changed", {"amount": "52000.00", "currency": "USD"})],
    ),
    (
        "amount cleared",
        updated({"Amount": None}),
        [("deal.amount_changed", {"amount": "0", "currency": "USD"})],
    ),
    (
        "amount and currency",
        updated({"Amount": Decimal(45000), "CurrencyIsoCode": "EUR"}),
        [("deal.amount_changed", {"amount": "45000", "currency": "EUR"})],
    ),
    (
        "owner",
        updated({"OwnerId": "005Hs00000ZzZzZIAV"}),
        [("deal.owner_changed", {"owner": "005Hs00000ZzZzZIAV"})],
    ),
    (
        "close date",
        updated({"CloseDate": "2027-01-31"}),
        [("deal.close_date_changed", {"expected_close_date": "2027-01-31"})],
    ),
    (
        "probability and forecast category only",
        updated({"Probability": Decimal(60), "ForecastCategoryName": "Best Case"}),
        [],
    ),
    (
        "closed won",
        updated(
            {
                "StageName": "Closed Won",
                "IsClosed": True,
                "IsWon": True,
                "Probability": Decimal(100),
            }
        ),
        [("deal.won", {})],
    ),
    (
        "closed won with the final amount",
        updated(
            {"StageName": "Closed Won", "IsClosed": True, "IsWon": True, "Amount": Decimal("50000")}
        ),
        [
            ("deal.amount_changed", {"amount": "50000", "currency": "USD"}),
            ("deal.won", {"amount": "50000", "currency": "USD"}),
        ],
    ),
    (
        "closed lost",
        updated({"StageName": "Closed Lost", "IsClosed": True}),
        [("deal.lost", {"reason": "closed lost in Salesforce"})],
    ),
    (
        "won turned lost",
        updated({"StageName": "Closed Lost", "IsWon": False}),
        [("deal.lost", {"reason": "closed lost in Salesforce"})],
    ),
    (
        "reopened",
        updated({"StageName": "Negotiation/Review", "IsClosed": False, "IsWon": False}),
        [("deal.reopened", {"pipeline": "new-business", "stage": "negotiation"})],
    ),
    (
        "delete",
        opportunity_event("DELETE", [OPP], AT_MS, TX),
        [("deal.deleted", {})],
    ),
]


@pytest.mark.parametrize(
    ("event", "expected"),
    [pytest.param(event, expected, id=name) for name, event, expected in SINGLE_EVENTS],
)
def test_one_change_event_maps_to_these_events(
    event: dict[str, Any], expected: list[tuple[str, dict[str, Any]]]
) -> None:
    events = mapped(event)
    assert summary(events) == expected
    for accepted in ingested(events):
        assert accepted.deal_id == OPP
        assert accepted.source == "salesforce"
        assert accepted.tenant == "default"
        assert accepted.occurred_at.isoformat() == "2026-11-20T10:15:30.250000+00:00"


def test_several_record_ids_fan_out_to_one_set_of_events_each() -> None:
    event = opportunity_event(
        "UPDATE", [OPP, OTHER], AT_MS, TX, 4, ["OwnerId"], OwnerId="005Hs00000ZzZzZIAV"
    )
    events = mapped(event)
    assert [(e.deal_id, e.payload["type"]) for e in events] == [
        (OPP, "deal.owner_changed"),
        (OTHER, "deal.owner_changed"),
    ]
    assert events[0].event_id != events[1].event_id
    assert len(ingested(events)) == 2


def test_event_ids_follow_the_sequence_number_within_a_transaction() -> None:
    first = mapped(updated({"StageName": "Qualification"}, sequence=2))
    second = mapped(updated({"StageName": "Proposal/Price Quote"}, sequence=10))
    assert first[0].event_id.startswith("sf-")
    assert first[0].event_id < second[0].event_id


def test_a_connect_json_envelope_is_unwrapped() -> None:
    raw = (
        b'{"schema": {"type": "struct"}, "payload": {"ChangeEventHeader": {"entityName":'
        b' "Opportunity", "changeType": "UPDATE", "recordIds": ["' + OPP.encode() + b'"],'
        b' "changedFields": ["Amount"], "commitTimestamp": ' + str(AT_MS).encode() + b","
        b' "transactionKey": "' + TX.encode() + b'", "sequenceNumber": 1}, "Amount": 0.3}}'
    )
    event = decode_source(raw)
    assert isinstance(event, dict)
    assert summary(mapped(event)) == [("deal.amount_changed", {"amount": "0.3", "currency": "USD"})]


def test_a_close_date_as_days_since_the_epoch_is_read() -> None:
    assert summary(mapped(updated({"CloseDate": 20819}))) == [
        ("deal.close_date_changed", {"expected_close_date": "2027-01-01"})
    ]


# --- whole stories ------------------------------------------------------------------


def at(day: int) -> int:
    return epoch_ms(f"2026-11-{day:02d}T09:00:00")


def story() -> list[dict[str, Any]]:
    """Created, qualified, proposal, back to qualification, won, reopened, lost."""
    events = [
        opportunity_event(
            "CREATE",
            [OPP],
            at(2),
            "tx-1",
            1,
            None,
            StageName="Prospecting",
            Amount=Decimal(48000),
            OwnerId=OWNER,
            IsClosed=False,
            IsWon=False,
        ),
        updated({"StageName": "Qualification"}, at_ms=at(4)),
        updated({"StageName": "Proposal/Price Quote"}, at_ms=at(6)),
        updated({"StageName": "Qualification"}, at_ms=at(8)),
        updated({"StageName": "Closed Won", "IsClosed": True, "IsWon": True}, at_ms=at(10)),
        updated(
            {"StageName": "Negotiation/Review", "IsClosed": False, "IsWon": False}, at_ms=at(12)
        ),
        updated({"StageName": "Closed Lost", "IsClosed": True}, at_ms=at(14)),
    ]
    for number, event in enumerate(events[1:], start=2):
        event["ChangeEventHeader"]["transactionKey"] = f"tx-{number}"
    return events


def story_events(events: list[dict[str, Any]]) -> list[CanonicalEvent]:
    return [canonical for event in events for canonical in mapped(event)]


def test_moved_back_won_reopened_and_lost() -> None:
    view = deal_view(OPP, story_events(story()))
    assert view.status is DealStatus.LOST
    assert view.loss is not None
    assert view.loss.reason == "closed lost in Salesforce"
    assert [(move.from_stage, move.to_stage) for move in view.transitions] == [
        ("lead", "qualified"),
        ("qualified", "proposal"),
        ("proposal", "qualified"),
        ("qualified", "won"),
        ("won", "negotiation"),
        ("negotiation", "lost"),
    ]
    assert view.anomalies == frozenset()


def test_redelivered_and_reordered_events_fold_to_the_same_deal() -> None:
    events = story()
    in_order = deal_view(OPP, story_events(events))
    shuffled = [events[i] for i in (5, 0, 6, 2, 2, 1, 4, 3, 0, 5)]
    assert deal_view(OPP, story_events(shuffled)) == in_order
    assert [e.encode() for e in mapped(events[3])] == [e.encode() for e in mapped(events[3])]


def test_a_deleted_opportunity_counts_nothing() -> None:
    events = [*story()[:5], opportunity_event("DELETE", [OPP], at(16), "tx-9")]
    assert deal_view(OPP, story_events(events)).status is DealStatus.DELETED


# --- refusals -----------------------------------------------------------------------

REFUSED: list[tuple[str, dict[str, Any], RefusalReason]] = [
    *(
        (kind, opportunity_event(kind, [OPP], AT_MS, TX), RefusalReason.UNREPLAYABLE)
        for kind in ("GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW")
    ),
    (
        "UNDELETE",
        opportunity_event("UNDELETE", [OPP], AT_MS, TX, 1, None, StageName="Prospecting"),
        RefusalReason.UNSUPPORTED_CHANGE,
    ),
    (
        "an account",
        {
            **created(),
            "ChangeEventHeader": {**created()["ChangeEventHeader"], "entityName": "Account"},
        },
        RefusalReason.NOT_A_DEAL,
    ),
    (
        "a wildcard record id",
        opportunity_event("UPDATE", ["006*"], AT_MS, TX, 1, ["Amount"], Amount=1),
        RefusalReason.UNREPLAYABLE,
    ),
    ("no record ids", opportunity_event("DELETE", [], AT_MS, TX), RefusalReason.MALFORMED),
    ("no header", {"StageName": "Prospecting"}, RefusalReason.MALFORMED),
    (
        "no sequence number",
        {
            **created(),
            "ChangeEventHeader": {**created()["ChangeEventHeader"], "sequenceNumber": None},
        },
        RefusalReason.MALFORMED,
    ),
    (
        "a currency change alone",
        updated({"CurrencyIsoCode": "EUR"}),
        RefusalReason.UNSUPPORTED_CHANGE,
    ),
    ("a negative amount", updated({"Amount": Decimal(-1)}), RefusalReason.BAD_VALUE),
    ("a create without a stage", created(StageName=None), RefusalReason.MALFORMED),
]


@pytest.mark.parametrize(
    ("event", "reason"),
    [pytest.param(event, reason, id=name) for name, event, reason in REFUSED],
)
def test_what_cannot_be_mapped_is_refused_with_a_reason(
    event: dict[str, Any], reason: RefusalReason
) -> None:
    outcome = map_salesforce(event, MAPPING)
    assert isinstance(outcome, Refusal)
    assert outcome.reason is reason
    assert outcome.detail


def test_without_a_currency_anywhere_an_amount_is_refused() -> None:
    mapping = parse_mapping(SALESFORCE_TOML.replace('currency = "USD"\n', ""))
    outcome = map_salesforce(updated({"Amount": Decimal(5)}), mapping)
    assert isinstance(outcome, Refusal)
    assert "currency" in outcome.detail


def test_without_a_pipeline_in_the_mapping_a_creation_is_refused() -> None:
    mapping = parse_mapping(SALESFORCE_TOML.replace('pipeline = "new-business"\n', ""))
    outcome = map_salesforce(created(), mapping)
    assert isinstance(outcome, Refusal)
    assert "pipeline" in outcome.detail


def test_outcome_stages_close_a_deal_only_when_the_event_does_not_say() -> None:
    mapping = parse_mapping(
        SALESFORCE_TOML + '\n[outcomes]\nwon = ["Signed"]\nlost = ["Dead"]\n', where="sf.toml"
    )
    signed = dict(created(StageName="Signed"))
    unsaid = {field: value for field, value in signed.items() if field not in ("IsClosed", "IsWon")}
    said_open = created(StageName="Signed", IsClosed=False)
    dead = opportunity_event("UPDATE", [OPP], AT_MS, TX, 1, ["StageName"], StageName="Dead")
    kinds = {
        name: [str(e.payload["type"]) for e in mapped_with(event, mapping)]
        for name, event in (("unsaid", unsaid), ("said open", said_open), ("dead", dead))
    }
    assert kinds == {
        "unsaid": ["deal.created", "deal.won"],
        "said open": ["deal.created"],
        "dead": ["deal.lost"],
    }
