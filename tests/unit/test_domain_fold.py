"""fold: a deal's view from its distinct events, including implausible histories."""

from __future__ import annotations

from datetime import date

from streams.domain.fold import fold
from streams.domain.history import DealHistory
from streams.domain.view import (
    Anomaly,
    Churn,
    DealStatus,
    DealView,
    Loss,
    StageVisit,
    Transition,
    Win,
)
from tests.support.builders import MONDAY, Deal, days, money

T = [MONDAY + days(n) for n in range(400)]
NB = "new-business"


def view_of(deal: Deal) -> DealView:
    return fold(DealHistory.of(deal.deal_id, deal.written))


def test_plain_win_credits_the_owner_and_amount_in_force() -> None:
    deal = Deal()
    deal.created(T[0], amount="1000 EUR")
    deal.stage(T[1], "demo")
    deal.owner(T[2], "bob")
    deal.amount(T[3], "1500 EUR")
    deal.won(T[4])
    deal.owner(T[5], "cy")  # after the win: changes the owner, not the win
    deal.amount(T[6], "9999 EUR")
    view = view_of(deal)
    assert view.status is DealStatus.WON
    assert view.win == Win(won_at=T[4], seller="bob", amount=money("1500 EUR"), pipeline=NB)
    assert (view.owner, view.amount) == ("cy", money("9999 EUR"))
    assert view.created_at == T[0]
    assert view.visits == (
        StageVisit(NB, "lead", T[0], T[1], "demo"),
        StageVisit(NB, "demo", T[1], T[4], "won"),
    )
    assert view.transitions == (
        Transition(NB, "lead", "demo", T[1]),
        Transition(NB, "demo", "won", T[4]),
    )
    assert view.anomalies == frozenset()


def test_the_won_events_own_amount_and_owner_win() -> None:
    deal = Deal()
    deal.created(T[0], amount="1000 EUR")
    deal.won(T[1], amount="1200 USD", owner="bob")
    assert view_of(deal).win == Win(T[1], "bob", money("1200 USD"), NB)


def test_reopen_after_win_retracts_it_and_a_new_win_is_credited() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.won(T[1])
    deal.reopened(T[2])
    reopened = view_of(deal)
    assert (reopened.status, reopened.win, reopened.stage) == (DealStatus.OPEN, None, "lead")
    assert reopened.visits[-1] == StageVisit(NB, "lead", T[2])
    assert reopened.transitions[-1] == Transition(NB, "won", "lead", T[2])
    deal.owner(T[3], "bob")
    deal.won(T[4])
    assert view_of(deal).win == Win(T[4], "bob", money("1000 EUR"), NB)


def test_reopen_after_loss_retracts_the_loss_into_the_named_stage() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.lost(T[1], reason="price")
    assert view_of(deal).loss == Loss(T[1], "price", "ann", NB)
    deal.reopened(T[2], stage="proposal")
    view = view_of(deal)
    assert (view.status, view.loss, view.stage) == (DealStatus.OPEN, None, "proposal")
    assert view.transitions == (
        Transition(NB, "lead", "lost", T[1]),
        Transition(NB, "lost", "proposal", T[2]),
    )


def test_churn_keeps_the_win_and_credits_its_seller_and_amount() -> None:
    deal = Deal()
    deal.created(T[0], amount="800 GBP")
    deal.won(T[1])
    deal.owner(T[2], "account-manager")
    deal.amount(T[3], "1 GBP")
    deal.churned(T[100], reason="budget cut")
    view = view_of(deal)
    assert view.status is DealStatus.CHURNED
    assert view.win == Win(T[1], "ann", money("800 GBP"), NB)
    assert view.churn == Churn(T[100], "budget cut", "ann", money("800 GBP"), NB)


def test_churn_of_a_deal_not_won_is_ignored_and_flagged() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.churned(T[1])
    view = view_of(deal)
    assert (view.status, view.churn) == (DealStatus.OPEN, None)
    assert Anomaly.CHURN_WITHOUT_WIN in view.anomalies


def test_reopen_after_churn_retracts_churn_and_win() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.won(T[1])
    deal.churned(T[2])
    deal.reopened(T[3])
    view = view_of(deal)
    assert (view.status, view.win, view.churn) == (DealStatus.OPEN, None, None)
    assert view.transitions[-1] == Transition(NB, "churned", "lead", T[3])
    assert Anomaly.REOPENED_AFTER_CHURN in view.anomalies


def test_deleted_is_final() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.won(T[1])
    deal.deleted(T[2])
    deal.reopened(T[3])
    view = view_of(deal)
    assert view.status is DealStatus.DELETED
    assert Anomaly.EVENTS_AFTER_DELETE in view.anomalies


def test_events_before_created_fill_in_and_created_only_fills_gaps() -> None:
    deal = Deal()
    deal.owner(T[0], "bob")  # the CRM's clock put this before the creation
    deal.stage(T[1], "demo")
    deal.created(T[2], stage="lead", owner="ann", amount="500 EUR")
    view = view_of(deal)
    assert (view.owner, view.stage, view.amount) == ("bob", "demo", money("500 EUR"))
    assert view.pipeline == NB
    assert view.created_at == T[2]
    assert view.visits == (StageVisit(NB, "demo", T[1]),)  # pipeline learnt afterwards
    assert Anomaly.EVENTS_BEFORE_CREATED in view.anomalies


def test_a_deal_without_created_has_no_creation_time() -> None:
    deal = Deal()
    deal.stage(T[0], "demo", pipeline=NB, owner="ann")
    deal.won(T[1])
    view = view_of(deal)
    assert view.created_at is None
    assert view.win == Win(T[1], "ann", None, NB)
    assert {Anomaly.NO_CREATED, Anomaly.WON_WITHOUT_AMOUNT} <= view.anomalies


def test_the_last_close_holds_without_a_reopen() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.lost(T[1])
    deal.won(T[2])
    view = view_of(deal)
    assert (view.status, view.loss) == (DealStatus.WON, None)
    assert view.win == Win(T[2], "ann", money("1000 EUR"), NB)
    deal.lost(T[3], reason="timing")
    view = view_of(deal)
    assert (view.status, view.win) == (DealStatus.LOST, None)
    assert view.loss == Loss(T[3], "timing", "ann", NB)
    assert Anomaly.IMPLICIT_REOPEN in view.anomalies


def test_repeated_closes_keep_the_first() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.won(T[1])
    deal.won(T[2], owner="bob")
    view = view_of(deal)
    assert view.win == Win(T[1], "ann", money("1000 EUR"), NB)
    assert Anomaly.REPEATED_CLOSE in view.anomalies


def test_stage_fields_on_closing_events_are_not_stages() -> None:
    deal = Deal()
    deal.created(T[0])
    deal.won(T[1], stage="won")  # the simulator, like many CRMs, says so
    deal.stage(T[2], "negotiation")  # while won: remembered for a reopen
    deal.reopened(T[3])
    view = view_of(deal)
    assert view.stage == "negotiation"
    assert [v.stage for v in view.visits] == ["lead", "negotiation"]
    assert Anomaly.STAGE_CHANGE_WHILE_CLOSED in view.anomalies


def test_a_pipeline_change_starts_a_new_visit_without_a_transition() -> None:
    deal = Deal()
    deal.created(T[0], stage="review", pipeline=NB)
    deal.stage(T[1], "review", pipeline="renewal")
    view = view_of(deal)
    assert view.visits == (
        StageVisit(NB, "review", T[0], T[1], None),
        StageVisit("renewal", "review", T[1]),
    )
    assert view.transitions == ()
    assert Anomaly.PIPELINE_CHANGED in view.anomalies


def test_tenant_is_the_first_events() -> None:
    first = Deal("d1", tenant="acme")
    first.created(T[0])
    other = Deal("d1", tenant="globex")
    other.won(T[1], event_id="x")
    view = fold(DealHistory.of("d1", [*first.written, *other.written]))
    assert view.tenant == "acme"
    assert Anomaly.MIXED_TENANTS in view.anomalies


def test_empty_history_is_an_open_deal_with_nothing_known() -> None:
    view = fold(DealHistory.empty("d1"))
    assert (view.status, view.stage, view.visits) == (DealStatus.OPEN, None, ())


def test_the_expected_close_date_in_force_is_the_latest_in_event_time() -> None:
    deal = Deal()
    deal.close_date(T[3], date(2026, 6, 30))  # sorts after the creation, arrives first
    deal.created(T[0], closes_on=date(2026, 3, 31))  # only fills what is unknown
    deal.stage(T[1], "demo")
    view = view_of(deal)
    assert view.expected_close_date == date(2026, 6, 30)
    assert view.visits == (StageVisit(NB, "lead", T[0], T[1], "demo"), StageVisit(NB, "demo", T[1]))
    assert view.transitions == (Transition(NB, "lead", "demo", T[1]),)  # a date is not a move
    assert view.anomalies == frozenset()


def test_a_creation_after_another_event_does_not_override_its_close_date() -> None:
    deal = Deal()
    deal.created(T[2], closes_on=date(2026, 3, 31))
    deal.close_date(T[1], date(2026, 5, 1))  # the CRM's clock put it before the creation
    assert view_of(deal).expected_close_date == date(2026, 5, 1)
    only_created = Deal()
    only_created.created(T[0], closes_on=date(2026, 3, 31))
    assert view_of(only_created).expected_close_date == date(2026, 3, 31)
    assert view_of(Deal()).expected_close_date is None
