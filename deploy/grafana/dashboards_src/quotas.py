"""The "Quotas and forecast" row of the Sales overview board: this month's quota attainment
against pace, forecast against quota, slipped deals and sales velocity.

Quotas are per month or quarter, not per day or week, so these panels fix the month rather
than follow the board's `granularity` variable. They read the recording rules of
deploy/prometheus/rules/recording.yml, which aggregate the quota families with `max` (every
worker exports them all) and the forecast families with `sum` (each its own partitions).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, timeseries
from grafana_foundation_sdk.models import units

from deploy.grafana.dashboards_src import promql as q
from deploy.grafana.dashboards_src.panels import Query, bar_gauge, time_series

SELLER_PERIOD_LEVEL = "tenant_seller_granularity_window"
TEAM_PERIOD_LEVEL = "tenant_team_granularity_window"
PERIOD_LEVEL = "granularity_window"
THIS_MONTH = (q.granularity("month"), q.CURRENT)


def quota_panels(currency_unit: str) -> list[timeseries.Panel | bargauge.Panel]:
    """The row's panels, money in `currency_unit`."""
    attainment = q.select(
        q.recorded(SELLER_PERIOD_LEVEL, "dealpulse_quota_attainment", "ratio"),
        q.TENANT,
        q.SELLERS,
        *THIS_MONTH,
    )
    elapsed = q.select(
        q.recorded(PERIOD_LEVEL, "dealpulse_period_elapsed_ratio", "max"), *THIS_MONTH
    )
    team = (q.TENANT, *THIS_MONTH)
    return [
        time_series(
            "Quota attainment per seller against pace",
            units.PercentUnit,
            Query(attainment, "{{seller}}"),
            Query(f"max({elapsed})", "pace (month elapsed)"),
            description="Won revenue this month / the seller's quota. A seller on the "
            "pace line has won the share of the quota the elapsed part of the month asks "
            "(the month by the workers' clock, in their window timezone).",
        ),
        time_series(
            "Forecast against quota per team",
            currency_unit,
            Query(
                q.select(q.recorded(TEAM_PERIOD_LEVEL, "dealpulse_forecast_revenue"), *team),
                "{{team}} forecast",
            ),
            Query(
                q.select(q.recorded(TEAM_PERIOD_LEVEL, "dealpulse_team_quota", "max"), *team),
                "{{team}} quota",
            ),
            description="This month's forecast of each team (won so far + open deals "
            "expected to close this month, weighted by stage) and its quota (the team's "
            "own, else the sum of its sellers').",
        ),
        bar_gauge(
            "Slipped deals, by seller",
            units.Short,
            Query(
                q.select("tenant_seller:dealpulse_slipped_deals:sum", q.TENANT, q.SELLERS),
                "{{seller}}",
            ),
            description="Open deals whose expected close date has passed, by owner.",
        ),
        time_series(
            "Sales velocity, by pipeline",
            currency_unit,
            Query(
                q.select("tenant_pipeline:dealpulse_sales_velocity:per_day", q.TENANT, q.PIPELINES),
                "{{pipeline}}",
            ),
            description="Revenue per day the open pipeline moves at: open deals x win rate "
            "x average ticket / average sales cycle in days, of this month.",
        ),
    ]
