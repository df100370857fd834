"""The business body reads exactly as prometheus_client writes the same samples."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from streams.exposition.text import go_float, header, label_text
from tests.support.fresh_render import Fixed, fresh_body, parsed
from tests.support.served import EXPORT_WINDOWS, NOW, fold_of, scrape_of, won_deal

DEALS = (
    won_deal("d1", NOW - timedelta(hours=1), "100.50"),
    won_deal("d2", NOW - timedelta(days=1), "0.000001"),
    won_deal("d3", NOW - timedelta(days=9), "123456789012.5"),
)


def test_the_served_body_equals_generate_latest_of_a_fresh_render() -> None:
    served = scrape_of(*DEALS)
    fold, contexts = fold_of(*DEALS, rebuilt=True)
    ctx = contexts.current()
    fresh = fresh_body(dict(fold.aggregates(ctx).items()), ctx, EXPORT_WINDOWS, 1000)
    assert parsed(served.body) == parsed(fresh)
    assert sum(len(samples) for *_, samples in parsed(fresh)) > 50
    assert served.text.count("# HELP") == fresh.decode().count("# HELP")


def test_label_values_are_escaped_like_prometheus_client() -> None:
    family = GaugeMetricFamily("dealpulse_x", "help with \\ and\nnewline", labels=["seller"])
    written = header(family.name, "gauge", family.documentation)
    for value in ('quote "q"', "back\\slash", "new\nline", "plain", "ünï"):
        family.add_metric([value], 1.5)
        written += f"dealpulse_x{label_text((('seller', value),))} {go_float(1.5)}\n"
    registry = CollectorRegistry()
    registry.register(Fixed([family]))
    assert written.encode() == generate_latest(registry)


def test_counters_are_refused() -> None:
    with pytest.raises(ValueError, match="only gauges and histograms"):
        header("dealpulse_c", "counter", "a counter")
