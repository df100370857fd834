"""Board "Sales overview": the five numbers sales teams watch, live.

Variables: tenant (one), pipeline and seller (several, or all), granularity (the window the
panels over time show: day, week or month) and stage (the time-in-stage panels). Every
windowed query reads the current window (`window="current"`) of its granularity; the
leaderboards fix theirs (today, this week, this month), and so does the quota row (this
month: `quotas.py`).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, table
from grafana_foundation_sdk.models import dashboard as dashboard_models
from grafana_foundation_sdk.models import units

from deploy.grafana.dashboards_src import promql as q
from deploy.grafana.dashboards_src.panels import (
    DATASOURCE,
    Column,
    Query,
    bar_gauge,
    heatmap_panel,
    merged_table,
    stat_panel,
    time_series,
)
from deploy.grafana.dashboards_src.quotas import quota_panels
from streams.exposition import catalogue as cat

UID = "dealpulse-sales-overview"
CURRENCY_UNIT = "currencyUSD"
"""Grafana unit of money: the reporting currency (DEALPULSE_REPORTING_CURRENCY, USD by
default). Change it to match, e.g. "currencyEUR", and regenerate."""

_SELLER_FILTERS = (q.TENANT, q.PIPELINES, q.SELLERS)
_PIPELINE_FILTERS = (q.TENANT, q.PIPELINES)
_CHOSEN = (q.granularity("$granularity"), q.CURRENT)


def _seller_sum(metric: str, *matchers: str) -> str:
    """A per-seller sum recorded by recording.yml, filtered by the dashboard's variables."""
    return q.select(q.recorded(q.SELLER_LEVEL, metric), *_SELLER_FILTERS, *matchers)


def _stage_sum(metric: str, *matchers: str) -> str:
    return q.select(q.recorded(q.STAGE_LEVEL, metric), *_PIPELINE_FILTERS, *matchers)


def _leaderboard(title: str, granularity: q.Granularity) -> table.Panel:
    window = (q.granularity(granularity), q.CURRENT)
    revenue = _seller_sum(cat.WON_REVENUE.name, *window)
    won = _seller_sum(cat.DEALS_WON.name, *window)
    closed = _seller_sum(cat.DEALS_CLOSED.name, *window)
    by_seller = ["seller"]
    return merged_table(
        title,
        "seller",
        [
            Column("Won revenue", CURRENCY_UNIT, q.sum_by(by_seller, revenue)),
            Column("Deals won", units.Short, q.sum_by(by_seller, won)),
            Column("Win rate", units.PercentUnit, q.ratio(won, closed, by_seller)),
            Column("Average ticket", CURRENCY_UNIT, q.ratio(revenue, won, by_seller)),
        ],
        description=f"Sellers of the selected pipelines, by won revenue, in the current "
        f"{granularity}. Win rate and average ticket sum across the pipelines first.",
    )


def _variables() -> list[dashboard.QueryVariable | dashboard.CustomVariable]:
    deal_series = '{__name__=~"dealpulse_open_deals|dealpulse_deals_closed"'
    return [
        dashboard.QueryVariable("tenant")
        .label("Tenant")
        .datasource(DATASOURCE)
        .query(f"label_values({deal_series}}}, tenant)")
        .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC),
        _multi(
            dashboard.QueryVariable("pipeline")
            .label("Pipeline")
            .datasource(DATASOURCE)
            .query(f'label_values({deal_series}, tenant="$tenant"}}, pipeline)')
        ),
        _multi(
            dashboard.QueryVariable("seller")
            .label("Seller")
            .datasource(DATASOURCE)
            .query(
                f"label_values({q.select(cat.DEALS_CLOSED.name, q.TENANT, q.PIPELINES)}, seller)"
            )
        ),
        dashboard.CustomVariable("granularity")
        .label("Window")
        .values("day,week,month")
        .current(dashboard_models.VariableOption(selected=True, text="day", value="day")),
        _multi(
            dashboard.QueryVariable("stage")
            .label("Stage")
            .datasource(DATASOURCE)
            .query(
                f"label_values({q.select(cat.TIME_IN_STAGE.count, q.TENANT, q.PIPELINES)}, stage)"
            )
        ),
    ]


def _multi(variable: dashboard.QueryVariable) -> dashboard.QueryVariable:
    return (
        variable.multi(True)
        .include_all(True)
        .all_value(".*")
        .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC)
        .current(dashboard_models.VariableOption(selected=True, text="All", value="$__all"))
    )


def sales_overview() -> dashboard.Dashboard:
    revenue = _seller_sum(cat.WON_REVENUE.name, *_CHOSEN)
    won = _seller_sum(cat.DEALS_WON.name, *_CHOSEN)
    closed = _seller_sum(cat.DEALS_CLOSED.name, *_CHOSEN)
    previous = (q.granularity("$granularity"), q.PREVIOUS)
    entered = _stage_sum(cat.STAGE_ENTERED.name, *_CHOSEN)
    advanced = _stage_sum(cat.STAGE_ADVANCED.name, *_CHOSEN)
    cycle = q.select(cat.SALES_CYCLE.bucket, *_SELLER_FILTERS, *_CHOSEN)
    in_stage = (*_PIPELINE_FILTERS, q.STAGES, *_CHOSEN)
    churned = q.select(cat.DEALS_CHURNED.name, *_SELLER_FILTERS, *_CHOSEN)
    active = q.select(cat.DEALS_ACTIVE_AT_WINDOW_START.name, *_SELLER_FILTERS, *_CHOSEN)
    by_pipeline = ["pipeline"]
    by_stage = ["pipeline", "stage"]
    board = (
        dashboard.Dashboard("Sales overview")
        .uid(UID)
        .description(
            "Revenue, deals won, sales cycle, conversion, average ticket, churn and open "
            "pipeline, live from the dealpulse workers. Generated by "
            "deploy/grafana/dashboards_src: do not edit in Grafana."
        )
        .tags(["dealpulse", "sales"])
        .editable()
        .refresh("30s")
        .time("now-24h", "now")
        .timezone("browser")
        .variables(list(_variables()))
        .with_row(dashboard.Row("Sellers"))
        .with_panel(_leaderboard("Seller leaderboard: today", "day"))
        .with_panel(_leaderboard("Seller leaderboard: this week", "week"))
        .with_panel(_leaderboard("Seller leaderboard: this month", "month"))
        .with_row(dashboard.Row("Revenue"))
        .with_panel(
            stat_panel(
                "Won revenue",
                CURRENCY_UNIT,
                Query(q.sum_by([], revenue), "current $granularity"),
                Query(q.sum_by([], _seller_sum(cat.WON_REVENUE.name, *previous)), "previous"),
                description="Won revenue in the current and the previous window.",
            )
        )
        .with_panel(
            stat_panel(
                "Deals won",
                units.Short,
                Query(q.sum_by([], won), "current $granularity"),
                Query(q.sum_by([], _seller_sum(cat.DEALS_WON.name, *previous)), "previous"),
            )
        )
        .with_panel(
            time_series(
                "Won revenue over time, by pipeline",
                CURRENCY_UNIT,
                Query(q.sum_by(by_pipeline, revenue), "{{pipeline}}"),
                description="Won revenue of the current window as it grows: it starts "
                "again from zero when a new window (day, week, month) begins.",
            )
        )
        .with_row(dashboard.Row("Conversion"))
        .with_panel(
            stat_panel(
                "Win rate",
                units.PercentUnit,
                Query(q.ratio(won, closed), "current $granularity"),
                description="Deals won / deals closed (won + lost) in the current window.",
            )
        )
        .with_panel(
            time_series(
                "Win rate by pipeline",
                units.PercentUnit,
                Query(q.ratio(won, closed, by_pipeline), "{{pipeline}}"),
                width=18,
            )
        )
        .with_panel(
            bar_gauge(
                "Funnel: deals entering each stage",
                units.Short,
                Query(q.sum_by(by_stage, entered), "{{pipeline}} / {{stage}}"),
                description="Deals that entered each stage for the first time in the "
                "current window.",
            )
        )
        .with_panel(
            bar_gauge(
                "Stage conversion",
                units.PercentUnit,
                Query(q.ratio(advanced, entered, by_stage), "{{pipeline}} / {{stage}}"),
                description="Deals that advanced from the stage (to a later stage or to "
                "won) / deals that entered it, in the current window.",
            )
        )
        .with_row(dashboard.Row("Sales cycle"))
        .with_panel(
            time_series(
                "Sales cycle p50 and p90, by pipeline",
                units.Seconds,
                Query(q.quantile_of_buckets(0.5, cycle, by_pipeline), "{{pipeline}} p50"),
                Query(q.quantile_of_buckets(0.9, cycle, by_pipeline), "{{pipeline}} p90"),
                description="Created to won, for the deals won in the current window.",
            )
        )
        .with_panel(
            heatmap_panel(
                "Sales cycle distribution",
                units.Seconds,
                Query(q.sum_by(["le"], cycle)),
                description="Deals won in the current window by sales cycle.",
            )
        )
        .with_panel(
            bar_gauge(
                "Average time in stage",
                units.Seconds,
                Query(
                    q.ratio(
                        q.select(cat.TIME_IN_STAGE.sum, *in_stage),
                        q.select(cat.TIME_IN_STAGE.count, *in_stage),
                        by_stage,
                    ),
                    "{{pipeline}} / {{stage}}",
                ),
                description="Mean time deals spent in each stage they left in the current window.",
            )
        )
        .with_panel(
            heatmap_panel(
                "Time in stage distribution",
                units.Seconds,
                Query(q.sum_by(["le"], q.select(cat.TIME_IN_STAGE.bucket, *in_stage))),
                description="Stage visits that ended in the current window, by length, "
                "for the selected stages.",
            )
        )
        .with_row(dashboard.Row("Average ticket"))
        .with_panel(
            time_series(
                "Average ticket by pipeline",
                CURRENCY_UNIT,
                Query(q.ratio(revenue, won, by_pipeline), "{{pipeline}}"),
                description="Won revenue / deals won in the current window.",
            )
        )
        .with_panel(
            heatmap_panel(
                "Ticket size distribution",
                CURRENCY_UNIT,
                Query(
                    q.sum_by(["le"], q.select(cat.TICKET_SIZE.bucket, *_SELLER_FILTERS, *_CHOSEN))
                ),
                description="Deals won in the current window by amount.",
            )
        )
        .with_row(dashboard.Row("Churn and losses"))
        .with_panel(
            stat_panel(
                "Logo churn rate",
                units.PercentUnit,
                Query(q.ratio(churned, active), "current $granularity"),
                description="Customers churned in the current window / customers active "
                "at its start.",
            )
        )
        .with_panel(
            bar_gauge(
                "Customers churned, by reason",
                units.Short,
                Query(q.sum_by(["reason"], churned), "{{reason}}"),
                width=6,
            )
        )
        .with_panel(
            bar_gauge(
                "Churned revenue, by reason",
                CURRENCY_UNIT,
                Query(
                    q.sum_by(
                        ["reason"],
                        q.select(cat.CHURNED_REVENUE.name, *_SELLER_FILTERS, *_CHOSEN),
                    ),
                    "{{reason}}",
                ),
                width=6,
            )
        )
        .with_panel(
            bar_gauge(
                "Deals lost, by reason",
                units.Short,
                Query(
                    q.sum_by(
                        ["reason"], q.select(cat.DEALS_LOST.name, *_PIPELINE_FILTERS, *_CHOSEN)
                    ),
                    "{{reason}}",
                ),
                width=6,
            )
        )
        .with_row(dashboard.Row("Open pipeline"))
        .with_panel(
            stat_panel(
                "Open pipeline",
                CURRENCY_UNIT,
                Query(
                    q.sum_by([], q.select(cat.OPEN_PIPELINE_VALUE.name, *_PIPELINE_FILTERS)),
                    "open",
                ),
                Query(
                    q.sum_by(
                        [], q.select(cat.OPEN_PIPELINE_WEIGHTED_VALUE.name, *_PIPELINE_FILTERS)
                    ),
                    "weighted (forecast)",
                ),
                description="Value of the open deals now, and weighted by each stage's win "
                "probability (deploy/pipelines.toml).",
            )
        )
        .with_panel(
            bar_gauge(
                "Open pipeline value, by stage",
                CURRENCY_UNIT,
                Query(
                    q.sum_by(by_stage, q.select(cat.OPEN_PIPELINE_VALUE.name, *_PIPELINE_FILTERS)),
                    "{{pipeline}} / {{stage}}",
                ),
                width=9,
            )
        )
        .with_panel(
            time_series(
                "Weighted pipeline over time, by pipeline",
                CURRENCY_UNIT,
                Query(
                    q.sum_by(
                        by_pipeline,
                        q.select(cat.OPEN_PIPELINE_WEIGHTED_VALUE.name, *_PIPELINE_FILTERS),
                    ),
                    "{{pipeline}}",
                ),
                width=9,
            )
        )
        .with_panel(
            bar_gauge(
                "Open deals, by stage",
                units.Short,
                Query(
                    q.sum_by(by_stage, q.select(cat.OPEN_DEALS.name, *_PIPELINE_FILTERS)),
                    "{{pipeline}} / {{stage}}",
                ),
            )
        )
        .with_row(dashboard.Row("Quotas and forecast (this month)"))
    )
    for panel in quota_panels(CURRENCY_UNIT):
        board = board.with_panel(panel)
    return board
