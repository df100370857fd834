"""A quantile of a cumulative histogram, interpolated as PromQL's `histogram_quantile` does.

The board must show the median a Grafana panel shows for the same buckets, so
this follows Prometheus' `bucketQuantile` (promql/quantile.go) rule for rule:
the observations are spread evenly inside the bucket the rank falls in (the
first bucket starts at 0); a rank in the `+Inf` bucket answers the largest
finite bound; counts that go down are raised to the running maximum. Where
PromQL answers NaN (no `+Inf` bucket, fewer than two buckets, no observation)
this answers None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def histogram_quantile(quantile: float, buckets: Mapping[float, float]) -> float | None:
    """The `quantile` (0 to 1) of cumulative `buckets` (upper bound: count); None for NaN."""
    if math.isnan(quantile):
        return None
    if quantile < 0:
        return -math.inf
    if quantile > 1:
        return math.inf
    bounds = sorted(buckets)
    if not bounds or bounds[-1] != math.inf or len(bounds) < 2:
        return None
    counts = _monotonic([buckets[bound] for bound in bounds])
    observations = counts[-1]
    if observations == 0:
        return None
    rank = quantile * observations
    index = next(i for i, count in enumerate([*counts[:-1], math.inf]) if count >= rank)
    if index == len(bounds) - 1:
        return bounds[-2]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, in_bucket = 0.0, bounds[index], counts[index]
    if index > 0:
        start = bounds[index - 1]
        in_bucket -= counts[index - 1]
        rank -= counts[index - 1]
    if in_bucket == 0:  # quantile 0 over an empty first bucket: 0/0, NaN in PromQL
        return None
    return start + (end - start) * (rank / in_bucket)


def _monotonic(counts: list[float]) -> list[float]:
    """Each count at least the one before: PromQL's repair of buckets scraped mid-update."""
    repaired: list[float] = []
    highest = -math.inf
    for count in counts:
        highest = max(highest, count)
        repaired.append(highest)
    return repaired
