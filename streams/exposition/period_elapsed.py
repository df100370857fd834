"""`dealpulse_period_elapsed_ratio`: how much of the current month and quarter has gone by.

Pace compares attainment with the fraction of the period elapsed. Prometheus'
`time()` is UTC and the server's clock; the periods are calendar periods in the
window timezone and "now" is the worker's clock (`DEALPULSE_CLOCK` in tests).
So the worker exports the fraction beside the forecast, from the same
`forecast.periods`, and the rules only divide.

The fraction is (now - the period's start) / (its end - its start), both
instants of local midnight converted to UTC, so a month with a DST change is
an hour shorter or longer and its fraction still runs evenly from 0 to 1.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from streams.domain.windows import window_start_instant
from streams.exposition.catalogue import PERIOD_ELAPSED
from streams.exposition.forecast import GRANULARITY_LABEL, WINDOW_LABEL, Period, periods
from streams.exposition.text import go_float, header, label_text

CURRENT_WINDOW = "current"


def elapsed_ratio(period: Period, now: datetime, timezone: tzinfo) -> float:
    """The fraction of `period` before `now`: in [0, 1) while `now` is in it."""
    starts = window_start_instant(period.start, timezone)
    ends = window_start_instant(period.end, timezone)
    return (now - starts) / (ends - starts)


def elapsed_ratios(now: datetime, timezone: tzinfo) -> dict[str, float]:
    """The elapsed fraction of the current period, by granularity (month, quarter)."""
    return {
        period.granularity: elapsed_ratio(period, now, timezone)
        for period in periods(now, timezone)
        if period.window == CURRENT_WINDOW
    }


def render_elapsed(now: datetime, timezone: tzinfo) -> bytes:
    """The family in the Prometheus text format, one sample per granularity."""
    spec = PERIOD_ELAPSED
    lines = [header(spec.name, spec.kind, spec.help)]
    for granularity, ratio in sorted(elapsed_ratios(now, timezone).items()):
        labels = ((GRANULARITY_LABEL, granularity), (WINDOW_LABEL, CURRENT_WINDOW))
        lines.append(f"{spec.name}{label_text(labels)} {go_float(ratio)}\n")
    return "".join(lines).encode()
