"""The board as a rich renderable: a header, the open pipeline, the funnel, the sellers.

Formatting only: every number comes computed in the `BoardSnapshot`. A ratio
without a denominator shows as "—", never as 0 %, so "no deal closed" does not
read as "every deal lost".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from streams.board.model import BoardSnapshot, Funnel, PipelineRow, SellerRow, StageConversion
from streams.exposition.seller_cap import OTHER_SELLER

NOTHING = "—"
OTHER_SELLERS = "other sellers"
BOX = box.SIMPLE
"""Rules under the headings and above the totals, no column lines: 80 columns hold the board."""


@dataclass(frozen=True, slots=True)
class Frame:
    """What one frame shows besides the numbers: where they come from and what went wrong."""

    url: str
    currency: str
    seller_rows: int | None = None
    """Show only the first sellers (a live board is as tall as its terminal); the totals
    still count every seller."""
    problem: str | None = None
    """The last scrape's failure, while the board shows the one before."""


def render_board(snapshot: BoardSnapshot, frame: Frame) -> RenderableType:
    return Group(
        _header(snapshot, frame),
        _pipelines(snapshot),
        _funnels(snapshot.funnels),
        _sellers(snapshot, frame.seller_rows),
    )


def render_problem(frame: Frame) -> RenderableType:
    """A frame with no board yet: only the header and what failed."""
    return Group(Text(f"dealpulse top · {frame.url}", style="bold"), _problem_line(frame, None))


def money(amount: float) -> str:
    return f"{amount:,.0f}"


def percent(share: float | None, digits: int = 1) -> str:
    return NOTHING if share is None else f"{share:.{digits}%}"


def duration(seconds: float | None) -> str:
    """Days and hours (hours and minutes under a day): a sales cycle's useful precision."""
    if seconds is None:
        return NOTHING
    minutes = round(seconds / 60)
    if minutes < 24 * 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(round(minutes / 60), 24)
    return f"{days}d {hours}h"


def seller_name(seller: str) -> str:
    return OTHER_SELLERS if seller == OTHER_SELLER else seller


def _header(snapshot: BoardSnapshot, frame: Frame) -> RenderableType:
    windows = (
        f"today {_date(snapshot.today)} · month from {_date(snapshot.month_start)}"
        f" · newest event {_instant(snapshot.newest_event_at)}"
    )
    details = [f"scraped {_instant(snapshot.scraped_at)}", f"amounts in {frame.currency}"]
    if len(snapshot.tenants) > 1:
        details.append(f"{len(snapshot.tenants)} tenants summed")
    lines: list[RenderableType] = [
        Text(f"dealpulse top · {frame.url}", style="bold"),
        Text(windows),
        Text(" · ".join(details), style="dim"),
    ]
    if snapshot.sellers_folded:
        lines.append(
            Text(
                "sellers beyond the worker's DEALPULSE_MAX_SELLERS_PER_TENANT are summed as "
                f"“{OTHER_SELLERS}” ({snapshot.sellers_folded})",
                style="yellow",
            )
        )
    if frame.problem is not None:
        lines.append(_problem_line(frame, snapshot.scraped_at))
    return Group(*lines)


def _problem_line(frame: Frame, shown_at: datetime | None) -> Text:
    since = "" if shown_at is None else f"; showing the board scraped {_instant(shown_at)}"
    return Text(f"scrape failed: {frame.problem}{since}", style="bold red")


def _pipelines(snapshot: BoardSnapshot) -> Table:
    table = _table("Open pipeline now", ("pipeline", "open\ndeals", "value", "weighted"))
    for row in snapshot.pipelines:
        table.add_row(*_pipeline_cells(row))
    _footer(table, _pipeline_cells(snapshot.pipeline_totals))
    return table


def _pipeline_cells(row: PipelineRow) -> tuple[Text, ...]:
    return _cells(
        row.pipeline, f"{row.open_deals:,}", money(row.open_value), money(row.weighted_value)
    )


def _funnels(funnels: tuple[Funnel, ...]) -> Table:
    """One row per pipeline, its stages first to last: each stage's name over its share."""
    table = Table(
        title="Stage conversion this month: advanced ÷ entered",
        title_justify="left",
        show_header=False,
        box=BOX,
    )
    table.add_column("pipeline", style="bold", no_wrap=True)
    for _ in range(max((len(funnel.stages) for funnel in funnels), default=0)):
        table.add_column(no_wrap=True)
    for funnel in funnels:
        table.add_row(Text(funnel.pipeline), *(_stage_cell(stage) for stage in funnel.stages))
    return table


def _stage_cell(stage: StageConversion) -> Text:
    share = f"{percent(stage.conversion, digits=0)} · {stage.advanced}/{stage.entered}"
    return Text.assemble((stage.stage, "bold"), "\n", share)


def _sellers(snapshot: BoardSnapshot, limit: int | None) -> Table:
    table = _table(
        "Sellers: won revenue today and this month, the rest this month",
        (
            "seller",
            "today",
            "this\nmonth",
            "deals\nwon",
            "win\nrate",
            "avg\nticket",
            "median\ncycle",
            "churn",
        ),
    )
    shown = snapshot.sellers if limit is None else snapshot.sellers[:limit]
    for row in shown:
        table.add_row(*_seller_cells(row))
    if len(shown) < len(snapshot.sellers):
        table.add_row(Text(f"… {len(snapshot.sellers) - len(shown):,} more", style="dim"))
    _footer(table, _seller_cells(snapshot.seller_totals))
    return table


def _table(title: str, headings: tuple[str, ...]) -> Table:
    """A table of a name column, then numbers; the totals in its footer.

    No cell wraps, so a narrow terminal never cuts a number: the headings come in
    two short lines instead, and the seller table holds in 80 columns.
    """
    table = Table(
        title=title,
        title_justify="left",
        box=BOX,
        show_footer=True,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column(headings[0], no_wrap=True)
    for heading in headings[1:]:
        table.add_column(heading, justify="right", no_wrap=True)
    return table


def _footer(table: Table, totals: tuple[Text, ...]) -> None:
    for column, total in zip(table.columns, totals, strict=True):
        column.footer = total


def _seller_cells(row: SellerRow) -> tuple[Text, ...]:
    return _cells(
        seller_name(row.seller),
        money(row.won_revenue_today),
        money(row.won_revenue_month),
        f"{row.deals_won:,}",
        percent(row.win_rate),
        NOTHING if row.average_ticket is None else money(row.average_ticket),
        duration(row.median_cycle_seconds),
        percent(row.churn_rate),
    )


def _cells(*values: str) -> tuple[Text, ...]:
    """Plain text: a seller or stage named like rich markup ("[bold]") shows as it is."""
    return tuple(Text(value) for value in values)


def _date(day: date | None) -> str:
    return NOTHING if day is None else day.isoformat()


def _instant(moment: datetime | None) -> str:
    return NOTHING if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")
