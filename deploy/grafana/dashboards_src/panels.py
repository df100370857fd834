"""Panel factories: every panel gets a unit, a Prometheus datasource and its queries.

Each factory takes the panel's title, unit and queries (`Query`: a PromQL expression and
its legend), so that a board reads as a list of what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import bargauge, common, heatmap, stat, table, timeseries
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dashboard_models
from grafana_foundation_sdk.models import heatmap as heatmap_models
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE_UID = "prometheus"
"""The uid of the Prometheus datasource (provisioned in deploy/grafana/provisioning)."""

DATASOURCE = dashboard_models.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str = ""


def _target(query: Query, ref_id: str) -> prom.Dataquery:
    target = prom.Dataquery().expr(query.expr).ref_id(ref_id).datasource(DATASOURCE)
    return target.legend_format(query.legend) if query.legend else target


def _instant_target(query: Query, ref_id: str) -> prom.Dataquery:
    return _target(query, ref_id).instant()


def _ref_id(index: int) -> str:
    return chr(ord("A") + index)


def _last_value() -> common.ReduceDataOptions:
    return common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def time_series(
    title: str, unit: str, *queries: Query, description: str = "", width: int = 12
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(width)
        .height(8)
        .legend(
            common.VizLegendOptions()
            .display_mode(common_models.LegendDisplayMode.TABLE)
            .placement(common_models.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull"])
        )
    )
    for index, query in enumerate(queries):
        panel = panel.with_target(_target(query, _ref_id(index)))
    return panel


def stat_panel(
    title: str, unit: str, *queries: Query, description: str = "", width: int = 6
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(width)
        .height(5)
        .reduce_options(_last_value())
        .graph_mode(common_models.BigValueGraphMode.AREA)
    )
    for index, query in enumerate(queries):
        panel = panel.with_target(_target(query, _ref_id(index)))
    return panel


def bar_gauge(
    title: str, unit: str, *queries: Query, description: str = "", width: int = 12
) -> bargauge.Panel:
    """Current values side by side (one bar per series), from instant queries."""
    panel = (
        bargauge.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(width)
        .height(8)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .display_mode(common_models.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(_last_value())
        .min(0)
    )
    for index, query in enumerate(queries):
        panel = panel.with_target(_instant_target(query, _ref_id(index)))
    return panel


def heatmap_panel(
    title: str, unit: str, buckets: Query, description: str = "", width: int = 12
) -> heatmap.Panel:
    """A histogram's distribution over time, from its cumulative buckets (`le`)."""
    target = _target(buckets, "A").format(PromQueryFormat.HEATMAP).legend_format("{{le}}")
    return (
        heatmap.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(width)
        .height(8)
        .calculate(False)
        .y_axis(heatmap.YAxisConfig().unit(unit))
        .cell_values(heatmap.CellValues().unit(units.Short))
        .color(
            heatmap.HeatmapColorOptions()
            .mode(heatmap_models.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .exponent(0.5)
            .steps(64)
        )
        .with_target(target)
    )


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: a query giving one value per row, its header and unit."""

    header: str
    unit: str
    expr: str


def merged_table(
    title: str, key: str, columns: list[Column], description: str = "", width: int = 8
) -> table.Panel:
    """A table with one row per value of label `key` and one column per query, sorted by
    the first column, descending. The panel's unit is the first column's."""
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .unit(columns[0].unit)
        .datasource(DATASOURCE)
        .span(width)
        .height(10)
        .sort_by([common.TableSortByFieldState().display_name(columns[0].header).desc(True)])
        .with_transformation(dashboard_models.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dashboard_models.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "indexByName": {key: 0}
                    | {f"Value #{_ref_id(i)}": i + 1 for i in range(len(columns))},
                    "renameByName": {key: key.capitalize()}
                    | {f"Value #{_ref_id(i)}": column.header for i, column in enumerate(columns)},
                },
            )
        )
    )
    for index, column in enumerate(columns):
        target = _instant_target(Query(column.expr), _ref_id(index)).format(PromQueryFormat.TABLE)
        panel = panel.with_target(target)
        panel = panel.override_by_name(
            column.header, [dashboard_models.DynamicConfigValue(id_val="unit", value=column.unit)]
        )
    return panel
