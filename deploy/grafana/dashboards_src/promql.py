"""PromQL building blocks of the boards: selectors, the recording rules' names, ratios.

Every ratio sums its numerator and its denominator across workers first and divides after
(`ratio`), the same way the recording rules in deploy/prometheus/rules/recording.yml do.
Windowed business series carry `window="current"|"previous"`: the boards show the current
window of the granularity chosen in the `granularity` variable (or a fixed one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Granularity = Literal["day", "week", "month"]

# Levels of the recording rules (level:metric:operation): the labels each result keeps.
SELLER_LEVEL = "tenant_pipeline_seller_granularity_window_start_window"
PIPELINE_LEVEL = "tenant_pipeline_granularity_window_start_window"
TENANT_LEVEL = "tenant_granularity_window_start_window"
STAGE_LEVEL = "tenant_pipeline_stage_granularity_window_start_window"

# Label matchers bound to the dashboards' template variables.
TENANT = 'tenant="$tenant"'
PIPELINES = 'pipeline=~"$pipeline"'
SELLERS = 'seller=~"$seller"'
STAGES = 'stage=~"$stage"'
JOB = 'job="dealpulse"'
INSTANCES = 'instance=~"$instance"'
CURRENT = 'window="current"'
PREVIOUS = 'window="previous"'


def recorded(level: str, metric: str, operation: str = "sum") -> str:
    """The name of a recording rule."""
    return f"{level}:{metric}:{operation}"


def granularity(value: Granularity | Literal["$granularity"]) -> str:
    return f'granularity="{value}"'


def select(metric: str, *matchers: str) -> str:
    return f"{metric}{{{', '.join(matchers)}}}" if matchers else metric


def sum_by(labels: Sequence[str], expr: str) -> str:
    by = f" by ({', '.join(labels)})" if labels else ""
    return f"sum{by} ({expr})"


def ratio(numerator: str, denominator: str, by: Sequence[str] = ()) -> str:
    """sum(numerator) / sum(denominator) per `by`: 0 where the numerator has no series (zeros
    are not exported), no value where the denominator is 0."""
    summed_denominator = sum_by(by, denominator)
    return f"({sum_by(by, numerator)} or 0 * {summed_denominator}) / ({summed_denominator} > 0)"


def quantile_of_buckets(quantile: float, buckets: str, by: Sequence[str] = ()) -> str:
    """A quantile of a histogram whose buckets are summed across workers first."""
    return f"histogram_quantile({quantile}, {sum_by([*by, 'le'], buckets)})"


def rate(counter: str, window: str = "$__rate_interval") -> str:
    return f"rate({counter}[{window}])"
