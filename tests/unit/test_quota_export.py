"""The quota families: the periods around now, in reporting currency, capped like the sellers
of the other metrics, and written as prometheus_client writes the same samples."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.domain.quota_periods import QuotaPeriod, parse_period
from streams.domain.quotas import PeriodQuotas, SellerQuota
from streams.exposition import catalogue as cat
from streams.exposition.quota_export import (
    QuotaExport,
    QuotaSamples,
    quota_samples,
    quota_windows,
    render_quotas,
)
from streams.exposition.seller_cap import OTHER_SELLER, ShownSellers, quota_sellers_kept
from tests.support.fresh_render import parsed

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)


def windows_at(now: datetime, tz: str = "UTC", export_windows: int = 2) -> dict[str, str]:
    return {
        str(period): name
        for period, name in quota_windows(now, ZoneInfo(tz), export_windows).items()
    }


def test_the_previous_current_and_next_month_and_quarter() -> None:
    assert windows_at(NOW) == {
        "2026-10": "previous",
        "2026-11": "current",
        "2026-12": "next",
        "2026-Q3": "previous",
        "2026-Q4": "current",
        "2027-Q1": "next",
    }


def test_more_exported_windows_reach_further_back() -> None:
    assert windows_at(NOW, export_windows=3) == {
        **windows_at(NOW),
        "2026-09": "previous_2",
        "2026-Q2": "previous_2",
    }


@pytest.mark.parametrize(
    ("now", "tz", "current_month", "current_quarter"),
    [
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "UTC", "2026-12", "2026-Q4"),
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "Europe/Paris", "2027-01", "2027-Q1"),
        (datetime(2027, 1, 1, 3, tzinfo=UTC), "America/New_York", "2026-12", "2026-Q4"),
    ],
)
def test_periods_follow_the_window_timezone(
    now: datetime, tz: str, current_month: str, current_quarter: str
) -> None:
    current = {period for period, name in windows_at(now, tz).items() if name == "current"}
    assert current == {current_month, current_quarter}


def period(text: str, sellers: Mapping[str, tuple[str, str | None]], **teams: str) -> PeriodQuotas:
    return PeriodQuotas(
        "acme",
        parse_period(text),
        {seller: SellerQuota(Decimal(amount), team) for seller, (amount, team) in sellers.items()},
        {team: Decimal(amount) for team, amount in teams.items()},
    )


def samples_of(
    periods: list[PeriodQuotas], shown: dict[str, ShownSellers] | None = None, cap: int = 1000
) -> QuotaSamples:
    return quota_samples(periods, quota_windows(NOW, UTC, 2), shown or {}, cap)


def by_labels(samples: QuotaSamples) -> dict[tuple[str, ...], Decimal]:
    """Each sample as (family, seller or team, team, window) for short expectations."""
    found: dict[tuple[str, ...], Decimal] = {}
    for (name, labels), value in samples.items():
        got = dict(labels)
        assert got["tenant"] == "acme"
        who = got.get("seller", got["team"])
        found[(name, who, got["team"], got["granularity"], got["window"])] = value
    return found


def test_seller_and_team_quotas_of_the_periods_around_now() -> None:
    samples = samples_of(
        [
            period("2026-11", {"alice": ("100", "emea"), "bob": ("50.5", None)}, emea="900"),
            period("2026-Q4", {"alice": ("300", "emea")}),
            period("2027-Q1", {"alice": ("310", "emea")}),
            period("2026-08", {"alice": ("1", "emea")}),  # not around now: left out
        ]
    )
    assert by_labels(samples) == {
        ("dealpulse_quota", "alice", "emea", "month", "current"): Decimal(100),
        ("dealpulse_quota", "bob", "(none)", "month", "current"): Decimal("50.5"),
        ("dealpulse_team_quota", "emea", "emea", "month", "current"): Decimal(900),
        ("dealpulse_quota", "alice", "emea", "quarter", "current"): Decimal(300),
        ("dealpulse_quota", "alice", "emea", "quarter", "next"): Decimal(310),
    }
    for _, labels in samples:
        assert [name for name, _ in labels] in (
            ["granularity", "seller", "team", "tenant", "window"],
            ["granularity", "team", "tenant", "window"],
        )


def test_collapsed_sellers_sum_their_quotas_into_other_per_team() -> None:
    shown = {"acme": ShownSellers(frozenset({"alice"}), frozenset({"bob", "carol", "dave"}))}
    sellers = {
        "alice": ("100", "emea"),
        "bob": ("10", "emea"),
        "carol": ("20.25", "emea"),
        "dave": ("5", None),
    }
    samples = samples_of([period("2026-11", sellers)], shown, cap=1)
    assert by_labels(samples) == {
        ("dealpulse_quota", "alice", "emea", "month", "current"): Decimal(100),
        ("dealpulse_quota", OTHER_SELLER, "emea", "month", "current"): Decimal("30.25"),
        ("dealpulse_quota", OTHER_SELLER, "(none)", "month", "current"): Decimal(5),
    }


@pytest.mark.parametrize(
    ("shown", "quota_sellers", "cap", "kept"),
    [
        # No series on this worker: the first sellers by id, up to the cap.
        (None, {"carol", "alice", "bob"}, 2, {"alice", "bob"}),
        (None, {"carol", "alice", "bob"}, 5, {"alice", "bob", "carol"}),
        # Under the cap there: kept sellers keep theirs, newcomers fill the free places.
        (ShownSellers(frozenset({"zed"}), frozenset()), {"zed", "bob", "amy"}, 2, {"zed", "amy"}),
        # Engaged there: exactly its kept sellers, nobody else.
        (
            ShownSellers(frozenset({"zed", "yan"}), frozenset({"amy"})),
            {"zed", "amy", "bob"},
            2,
            {"zed"},
        ),
        # A seller literally named __other__ is never kept.
        (None, {OTHER_SELLER, "amy"}, 5, {"amy"}),
    ],
)
def test_which_quota_sellers_keep_their_label(
    shown: ShownSellers | None, quota_sellers: set[str], cap: int, kept: set[str]
) -> None:
    assert quota_sellers_kept(shown, quota_sellers, cap) == kept


def test_at_most_the_cap_of_seller_labels_plus_other() -> None:
    sellers = {f"s{n:03d}": ("1", None) for n in range(50)}
    samples = samples_of([period("2026-11", sellers), period("2026-12", sellers)], cap=10)
    labels = {dict(labels)["seller"] for _, labels in samples}
    assert len(labels) == 11
    assert OTHER_SELLER in labels
    assert sum(samples.values()) == 100  # totals are exact


def test_the_text_is_what_prometheus_client_writes_for_the_same_samples() -> None:
    samples = samples_of(
        [
            period("2026-11", {'a"b\\c': ("100.125", "emea\nwest"), "bob": ("0", None)}, emea="9"),
            period("2026-Q4", {"alice": ("300", "emea")}),
        ]
    )
    ours = render_quotas(samples)
    registry = CollectorRegistry()
    registry.register(_Families(samples))
    assert parsed(ours) == parsed(generate_latest(registry))
    assert b"# HELP dealpulse_quota " in ours
    assert b"# TYPE dealpulse_team_quota gauge" in ours


def test_no_quotas_is_two_empty_families() -> None:
    assert parsed(render_quotas({})) == [
        (spec.name, "gauge", spec.help, []) for spec in cat.QUOTA_METRICS
    ]


class _Families(Collector):
    """The same samples as prometheus_client's own gauge families."""

    def __init__(self, samples: QuotaSamples) -> None:
        self._samples = samples

    def collect(self) -> Iterator[Metric]:
        for spec in cat.QUOTA_METRICS:
            names = [*spec.labels, "granularity", "window"]
            family = GaugeMetricFamily(spec.name, spec.help, labels=names)
            for (name, labels), value in self._samples.items():
                if name == spec.name:
                    values = dict(labels)
                    family.add_metric([values[label] for label in names], float(value))
            yield family


def test_quarters_and_months_do_not_mix() -> None:
    month, quarter = parse_period("2026-10"), parse_period("2026-Q4")
    assert isinstance(month, QuotaPeriod)
    assert month.start == quarter.start
    samples = samples_of(
        [period("2026-10", {"a": ("1", None)}), period("2026-Q4", {"a": ("3", None)})]
    )
    assert by_labels(samples) == {
        ("dealpulse_quota", "a", "(none)", "month", "previous"): Decimal(1),
        ("dealpulse_quota", "a", "(none)", "quarter", "current"): Decimal(3),
    }


def test_the_export_renders_again_only_when_what_it_shows_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streams.exposition import quota_export

    renders: list[int] = []
    original = quota_export.quota_samples

    def counting(*args: Any) -> QuotaSamples:
        renders.append(1)
        return original(*args)

    monkeypatch.setattr(quota_export, "quota_samples", counting)
    export = QuotaExport(export_windows=2, max_sellers=1)
    held = (period("2026-11", {"alice": ("1", None), "bob": ("2", None)}),)
    nobody: dict[str, ShownSellers] = {}
    first = export.render(held, NOW, UTC, nobody)
    assert export.render(held, NOW, UTC, {}) is first
    assert export.render(held, NOW.replace(day=20), UTC, {}) is first  # the same periods
    assert len(renders) == 1
    export.render(tuple(held), NOW.replace(month=12), UTC, {})  # November is now previous
    assert len(renders) == 2
    collapsed = {"acme": ShownSellers(frozenset({"bob"}), frozenset({"alice"}))}
    capped = export.render(held, NOW, UTC, collapsed)
    assert len(renders) == 3
    assert b'seller="bob"' in capped
    assert b'seller="__other__"' in capped
    reloaded = (period("2026-11", {"alice": ("1", None), "bob": ("2", None)}),)  # a new load
    export.render(reloaded, NOW, UTC, collapsed)
    assert len(renders) == 4
