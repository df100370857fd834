"""`histogram_quantile` against PromQL's rules (promql/quantile.go), and against promtool itself."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from streams.board.quantile import histogram_quantile

INF = math.inf

CASES: list[tuple[float, dict[float, float], float]] = [
    # interpolated linearly inside the bucket the rank falls in; the first starts at 0
    (0.5, {10.0: 4, INF: 4}, 5.0),
    (0.75, {10.0: 2, 20.0: 4, INF: 4}, 15.0),
    (0.5, {10.0: 2, 20.0: 4, INF: 4}, 10.0),  # a rank on a bound ends that bucket
    (0.5, {3600.0: 0, 86400.0: 1, 259200.0: 3, INF: 3}, 86400 + (259200 - 86400) * 0.25),
    (0.5, {604800.0: 1, 1209600.0: 2, 2592000.0: 3, INF: 3}, 907200.0),
    # a rank in +Inf answers the largest finite bound
    (0.5, {1.0: 0, 2.0: 0, INF: 4}, 2.0),
    (0.99, {10.0: 1, 20.0: 1, INF: 10}, 20.0),
    (1.0, {10.0: 1, 20.0: 2, INF: 2}, 20.0),
    # counts that go down are raised to the running maximum
    (0.5, {10.0: 3, 20.0: 2, INF: 4}, 10 * 2 / 3),
    # a first bound at or below zero is answered as it is
    (0.25, {0.0: 2, 10.0: 4, INF: 4}, 0.0),
    # out of range quantiles, as PromQL
    (-0.1, {10.0: 1, INF: 1}, -INF),
    (1.1, {10.0: 1, INF: 1}, INF),
]


@pytest.mark.parametrize(("quantile", "buckets", "expected"), CASES)
def test_quantile(quantile: float, buckets: dict[float, float], expected: float) -> None:
    assert histogram_quantile(quantile, buckets) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("quantile", "buckets"),
    [
        (0.5, {}),  # no histogram at all
        (0.5, {10.0: 0, 20.0: 0, INF: 0}),  # no observation
        (0.5, {10.0: 1, 20.0: 2}),  # no +Inf bucket
        (0.5, {INF: 3}),  # fewer than two buckets
        (0.0, {10.0: 0, 20.0: 2, INF: 2}),  # 0/0 in the first bucket
        (math.nan, {10.0: 1, INF: 1}),
    ],
)
def test_where_promql_answers_nan_this_answers_none(
    quantile: float, buckets: dict[float, float]
) -> None:
    assert histogram_quantile(quantile, buckets) is None


def test_promql_answers_the_same(tmp_path: Path) -> None:
    """Every case through Prometheus' own evaluator: `promtool test rules`."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed for this check (Debian: apt-get install prometheus)")
    series = [
        {"series": f'h_bucket{{case="{case}",le="{_go(bound)}"}}', "values": _go(count)}
        for case, (_, buckets, _) in enumerate(CASES)
        for bound, count in buckets.items()
    ]
    checks = [
        {
            "expr": f'histogram_quantile({quantile}, h_bucket{{case="{case}"}})',
            "eval_time": "0m",
            "exp_samples": [{"labels": f'{{case="{case}"}}', "value": expected}],
        }
        for case, (quantile, buckets, _) in enumerate(CASES)
        if (expected := histogram_quantile(quantile, buckets)) is not None
    ]
    test_file = tmp_path / "quantile_test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {"tests": [{"interval": "1m", "input_series": series, "promql_expr_test": checks}]}
        )
    )
    result = subprocess.run(
        [promtool, "test", "rules", str(test_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _go(number: float) -> str:
    """A float as PromQL reads it: `+Inf`, `-Inf`, or the shortest exact decimal."""
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return json.dumps(number)
