"""The catalogue names every metric the core emits, with the labels it emits, and the docs."""

from __future__ import annotations

import re
from pathlib import Path

from streams.domain.replay import compute
from streams.exposition import catalogue as cat
from streams.exposition.samples import exposition_samples
from tests.support.builders import MONDAY, Deal, context, days

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _every_kind_of_deal() -> list[Deal]:
    won = Deal("won")
    won.created(MONDAY)
    won.stage(MONDAY + days(1), "demo")
    won.won(MONDAY + days(2))
    won.churned(MONDAY + days(40))
    lost = Deal("lost")
    lost.created(MONDAY, stage="mystery")
    lost.lost(MONDAY + days(3))
    still_open = Deal("open")
    still_open.created(MONDAY, stage="proposal", closes_on="2026-04-30")
    return [won, lost, still_open]


def test_names_follow_the_conventions() -> None:
    names = [spec.name for spec in cat.ALL_METRICS]
    assert len(set(names)) == len(names)
    for spec in cat.ALL_METRICS:
        assert re.fullmatch(r"dealpulse_[a-z_]+", spec.name)
        assert not spec.name.endswith("_total"), "recomputed values are gauges, not counters"
        assert spec.labels[0] == "tenant"
        assert f"Labels: {', '.join(spec.labels)}." in spec.help


def test_emitted_samples_are_catalogued_with_their_labels() -> None:
    ctx = context()
    events = [event for deal in _every_kind_of_deal() for event in deal.written]
    samples = exposition_samples(compute(events, ctx), ctx)
    by_sample = {}
    for spec in cat.ALL_METRICS:
        if spec.kind == "histogram":
            by_sample[spec.bucket] = (spec, ("le", *spec.labels))
            by_sample[spec.sum] = by_sample[spec.count] = (spec, spec.labels)
        else:
            by_sample[spec.name] = (spec, spec.labels)
    emitted = set()
    for key in samples:
        spec, label_names = by_sample[key.metric]
        assert sorted(name for name, _ in key.labels) == sorted(label_names)
        assert (key.window is not None) == spec.windowed
        emitted.add(spec.name)
    assert emitted == {spec.name for spec in cat.ALL_METRICS}


def test_the_docs_define_every_metric() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [spec.name for spec in cat.ALL_METRICS if f"`{spec.name}`" not in text]
    assert missing == []


def test_the_quota_families_follow_the_conventions_and_are_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    business = {spec.name for spec in cat.ALL_METRICS}
    for spec in cat.QUOTA_METRICS:
        assert spec.name not in business
        assert re.fullmatch(r"dealpulse_[a-z_]+", spec.name)
        assert spec.kind == "gauge"
        assert spec.labels[0] == "tenant"
        assert f"Labels: {', '.join(spec.labels)}." in spec.help
        assert f"`{spec.name}`" in text
