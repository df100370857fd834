"""The board as text: formats, the header, and a live board that outlives a failed scrape."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import timedelta

import pytest
from rich.console import Console, RenderableType

from streams.board.live import Board
from streams.board.model import Sample
from streams.board.render import duration, percent
from streams.board.scrape import LineFilter, parse_samples
from streams.domain.pipeline_config import load_pipeline_config
from streams.errors import ScrapeError
from streams.settings import DEFAULT_PIPELINES_FILE
from tests.support.served import NOW, won_deal, worker_page

PIPELINES = load_pipeline_config(DEFAULT_PIPELINES_FILE)


def text_of(renderable: RenderableType, width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    output = console.file
    assert isinstance(output, io.StringIO)
    return output.getvalue()


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "—"),
        (0, "0h 00m"),
        (42 * 60 + 20, "0h 42m"),
        (5 * 3600 + 59 * 60 + 50, "6h 00m"),
        (86_400 - 20, "1d 0h"),
        (259_200, "3d 0h"),
        (10.5 * 86_400, "10d 12h"),
        (31_536_000, "365d 0h"),
    ],
)
def test_durations_in_days_and_hours(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_a_ratio_without_denominator_is_a_dash() -> None:
    assert percent(None) == "—"
    assert percent(0.0) == "0.0%"
    assert percent(2 / 3) == "66.7%"


class Pages:
    """Stands in for a worker: answers each page in turn; a `ScrapeError` is raised."""

    url = "http://worker.test/metrics"

    def __init__(self, *pages: str | ScrapeError) -> None:
        self._pages = list(pages)

    def read(self, keep: LineFilter) -> Sequence[Sample]:
        page = self._pages.pop(0)
        if isinstance(page, ScrapeError):
            raise page
        return parse_samples(page, self.url, keep)


def board_of(
    *pages: str | ScrapeError, seller_rows: int | None = None, fit_to: Console | None = None
) -> Board:
    return Board(
        Pages(*pages),
        PIPELINES,
        "USD",
        seller_rows=seller_rows,
        fit_to=fit_to,
        clock=lambda: NOW + timedelta(seconds=3),
    )


SELLERS = worker_page(
    won_deal("d1", NOW - timedelta(hours=1), "1250", owner="ann"),
    won_deal("d2", NOW - timedelta(days=2), "300", owner="[bold]bob"),
)


def test_a_frame_shows_windows_sellers_and_totals() -> None:
    frame = text_of(board_of(SELLERS).frame())
    assert "today 2026-11-18 · month from 2026-11-01" in frame
    assert "newest event 2026-11-18 11:00:00 UTC" in frame  # d1's win, an hour before NOW
    # one cycle of 10 days: PromQL's median of the (7 d, 14 d] bucket is 10.5 days
    assert "scraped 2026-11-18 12:00:03 UTC · amounts in USD" in frame
    assert ["ann", "1,250", "1,250", "1", "100.0%", "1,250", "10d", "12h", "—"] in rows(frame)
    assert ["[bold]bob", "0", "300", "1", "100.0%", "300", "10d", "12h", "—"] in rows(frame)
    assert ["all", "sellers", "1,250", "1,550", "2", "100.0%", "775", "10d", "12h", "—"] in rows(
        frame
    )


def test_other_sellers_are_named_and_counted() -> None:
    page = worker_page(
        won_deal("d1", NOW - timedelta(hours=1), "900", owner="ann"),
        won_deal("d2", NOW - timedelta(hours=1), "100", owner="bob"),
        max_sellers_per_tenant=1,
    )
    frame = text_of(board_of(page).frame())
    assert ["other", "sellers", "100", "100", "1", "100.0%", "100", "10d", "12h", "—"] in [
        line.split() for line in frame.splitlines()
    ]
    assert "are summed as “other sellers” (1)" in frame


def test_a_failed_scrape_shows_over_the_last_board() -> None:
    board = board_of(SELLERS, ScrapeError("cannot reach http://worker.test/metrics: refused"))
    board.frame()
    frame = text_of(board.refresh())
    assert (
        "scrape failed: cannot reach http://worker.test/metrics: refused; "
        "showing the board scraped 2026-11-18 12:00:03 UTC"
    ) in frame
    assert "ann" in frame


def test_a_board_that_never_scraped_shows_only_the_failure() -> None:
    frame = text_of(board_of(ScrapeError("nothing there")).refresh())
    assert frame.splitlines() == [
        "dealpulse top · http://worker.test/metrics",
        "scrape failed: nothing there",
    ]


def test_the_first_frame_raises() -> None:
    with pytest.raises(ScrapeError, match="nothing there"):
        board_of(ScrapeError("nothing there")).frame()


def test_a_live_board_shows_the_first_sellers_and_counts_them_all() -> None:
    page = worker_page(
        *(won_deal(f"d{n}", NOW - timedelta(hours=1), f"{n}00", owner=f"s{n}") for n in range(1, 6))
    )
    frame = text_of(board_of(page, seller_rows=2).frame())
    names = {row[0] for row in rows(frame) if row}
    assert {"s5", "s4"} <= names
    assert not {"s3", "s2", "s1"} & names
    assert "… 3 more" in frame
    assert ["all", "sellers", "1,500", "1,500", "5"] in [row[:5] for row in rows(frame)]


def test_a_board_fitted_to_a_terminal_fits() -> None:
    page = worker_page(
        *(
            won_deal(f"d{n}", NOW - timedelta(hours=1), f"{n}00", owner=f"s{n}")
            for n in range(1, 61)
        )
    )
    terminal = Console(file=io.StringIO(), width=100, height=45, color_system=None)
    lines = text_of(board_of(page, fit_to=terminal).frame()).splitlines()
    assert 40 <= len(lines) < 45
    assert "… " in "\n".join(lines)
    assert ["all", "sellers", "183,000", "183,000", "60"] in [line.split()[:5] for line in lines]


def test_an_80_column_terminal_shows_every_number_whole() -> None:
    page = worker_page(
        *(
            won_deal(f"d{n}", NOW - timedelta(hours=1), f"{n}54321.50", owner=f"seller-{n:03d}")
            for n in range(1, 30)
        )
    )
    frame = text_of(board_of(page, seller_rows=3).frame(), width=80)
    assert max(len(line) for line in frame.splitlines()) <= 80
    assert ["all", "sellers", "45,075,324", "45,075,324", "29", "100.0%", "1,554,322"] in [
        row[:7] for row in rows(frame)
    ]
    assert "…" not in frame.replace("… 26 more", "")


def rows(frame: str) -> list[list[str]]:
    return [line.split() for line in frame.splitlines()]
