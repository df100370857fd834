"""The end-of-replay summary: what was read, what was refused, and the headline numbers."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from streams.domain import metrics
from streams.replay_command import ReplayResult

SHOWN_MONTHS = 3
MONEY = frozenset({metrics.WON_REVENUE.name})
HEADLINES = (
    (metrics.WON_REVENUE.name, "won revenue"),
    (metrics.DEALS_WON.name, "deals won"),
    (metrics.DEALS_LOST.name, "deals lost"),
    (metrics.DEALS_CHURNED.name, "deals churned"),
)


def print_summary(result: ReplayResult, console: Console) -> None:
    counts = Table(title=f"replay (clock {result.now})", show_header=False)
    counts.add_row("messages read", str(result.messages))
    counts.add_row("accepted", str(result.accepted))
    counts.add_row("distinct events", str(result.distinct_events))
    counts.add_row("deals with state", str(result.deals))
    counts.add_row("too late (older than every retention)", str(result.too_late))
    for reason, count in sorted(result.rejected.items()):
        where = ", ".join(result.examples.get(reason, []))
        more = ", ..." if count > len(result.examples.get(reason, [])) else ""
        counts.add_row(f"rejected: {reason}", f"{count} ({where}{more})" if where else str(count))
    counts.add_row(
        "elapsed",
        f"{result.seconds:,.1f} s ({result.events_per_second:,.0f} events/s, "
        f"{result.processes} process{'es' if result.processes > 1 else ''})",
    )
    console.print(counts)

    monthly: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for metric, _labels, granularity, start, value in result.rows:
        if granularity == "month" and metric in dict(HEADLINES):
            monthly[(start, metric)] += Decimal(value)
    every_month = sorted({start for start, _ in monthly})
    months = every_month[-SHOWN_MONTHS:]
    if months:
        shown = (
            ""
            if len(every_month) <= SHOWN_MONTHS
            else f", the last {SHOWN_MONTHS} of {len(every_month)}"
        )
        table = Table(title=f"by month (all sellers and pipelines{shown})")
        table.add_column("metric")
        for month in months:
            table.add_column(month[:7], justify="right")
        for metric, label in HEADLINES:
            table.add_row(label, *(_number(metric, monthly[(month, metric)]) for month in months))
        console.print(table)


def _number(metric: str, value: Decimal) -> str:
    """Money with cents; counts as whole numbers."""
    if metric in MONEY:
        return f"{value:,.2f}"
    return f"{value:,.0f}"
