"""`dealpulse_period_elapsed_ratio`: the fraction of the current month and quarter elapsed,
by the worker's clock in the window timezone (DST and quarter boundaries included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.exposition import catalogue as cat
from streams.exposition.period_elapsed import elapsed_ratios, render_elapsed

PARIS = ZoneInfo("Europe/Paris")


def test_the_first_instant_of_a_period_is_zero() -> None:
    assert elapsed_ratios(datetime(2026, 10, 1, tzinfo=UTC), UTC) == {
        "month": 0.0,
        "quarter": 0.0,
    }


def test_half_of_a_thirty_day_month() -> None:
    ratios = elapsed_ratios(datetime(2026, 11, 16, tzinfo=UTC), UTC)
    assert ratios["month"] == pytest.approx(0.5)
    # 2026-Q4: 92 days, 46 of them before 16 November
    assert ratios["quarter"] == pytest.approx(46 / 92)


def test_the_last_instant_of_a_quarter_is_just_under_one_and_the_next_starts_at_zero() -> None:
    end = datetime(2027, 1, 1, tzinfo=UTC)
    before = elapsed_ratios(end - timedelta(microseconds=1), UTC)
    assert 0.999 < before["quarter"] < 1.0
    assert 0.999 < before["month"] < 1.0
    assert elapsed_ratios(end, UTC) == {"month": 0.0, "quarter": 0.0}


def test_the_period_starts_at_local_midnight() -> None:
    """22:30 UTC on 30 September is 00:30 on 1 October in Paris: a new month and quarter
    (October there has 745 hours: the clocks go back on the 25th)."""
    now = datetime(2026, 9, 30, 22, 30, tzinfo=UTC)
    assert elapsed_ratios(now, UTC)["quarter"] > 0.99
    ratios = elapsed_ratios(now, PARIS)
    assert ratios["month"] == pytest.approx(0.5 / (31 * 24 + 1))
    assert ratios["quarter"] == pytest.approx(0.5 / (92 * 24 + 1))


def test_a_month_with_a_dst_change_is_an_hour_shorter_and_runs_evenly() -> None:
    """March 2026 in Paris has 743 hours (clocks go forward on the 29th)."""
    hours = 743
    start = datetime(2026, 2, 28, 23, tzinfo=UTC)  # 1 March, local midnight
    for elapsed_hours in (0, 1, 371, 700, hours - 1):
        now = start + timedelta(hours=elapsed_hours)
        assert elapsed_ratios(now, PARIS)["month"] == pytest.approx(elapsed_hours / hours)
    assert elapsed_ratios(start + timedelta(hours=hours), PARIS)["month"] == 0.0


def test_the_family_reads_as_prometheus_parses_it() -> None:
    body = render_elapsed(datetime(2026, 11, 16, tzinfo=UTC), UTC).decode()
    (family,) = text_string_to_metric_families(body)
    assert family.name == cat.PERIOD_ELAPSED.name
    assert family.type == "gauge"
    assert {
        (sample.labels["granularity"], sample.labels["window"]): sample.value
        for sample in family.samples
    } == {("month", "current"): 0.5, ("quarter", "current"): pytest.approx(0.5)}
