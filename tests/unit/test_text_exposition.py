"""The fast renderer writes exactly what prometheus_client would for the business families."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from streams.exposition.text import render
from tests.support.collector import NOW, collector_with, won_deal

Parsed = set[tuple[str, str, tuple[tuple[str, str], ...], float]]


def parsed(text: str) -> Parsed:
    return {
        (family.type, sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def business_only(registry: CollectorRegistry) -> CollectorRegistry:
    """The registry's gauges and histograms (the business families), without its counters."""
    families = [m for m in registry.collect() if m.type in ("gauge", "histogram")]

    only = CollectorRegistry()
    only.register(Fixed(families))
    return only


def test_render_equals_generate_latest_for_the_business_families() -> None:
    registry = business_only(
        collector_with(
            won_deal("d1", NOW - timedelta(hours=1), "100.50"),
            won_deal("d2", NOW - timedelta(days=1), "0.000001"),
            won_deal("d3", NOW - timedelta(days=9), "123456789012.5"),
        )
    )
    expected = generate_latest(registry).decode()
    actual = render(registry.collect()).decode()
    assert parsed(actual) == parsed(expected)
    assert len(parsed(actual)) > 50
    assert actual.count("# HELP") == expected.count("# HELP")


def test_label_values_are_escaped_like_prometheus_client() -> None:
    family = GaugeMetricFamily("dealpulse_x", "help with \\ and\nnewline", labels=["seller"])
    for value in ('quote "q"', "back\\slash", "new\nline", "plain", "ünï"):
        family.add_metric([value], 1.5)
    registry = CollectorRegistry()
    registry.register(Fixed([family]))
    assert render([family]) == generate_latest(registry)


def test_counters_are_refused() -> None:
    with pytest.raises(ValueError, match="only gauges and histograms"):
        render([CounterMetricFamily("dealpulse_c", "a counter", value=1)])
