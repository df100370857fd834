"""The board over time: scrape, compute, render; one frame, or a live board until Ctrl-C.

The first scrape decides whether the board can work at all (a wrong URL, port
or credentials): it raises. After that a failed scrape is news about the
worker, not a reason to stop watching it, so the board keeps its last numbers
and says in its header what failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from time import sleep
from typing import Protocol

from rich.console import Console, RenderableType
from rich.live import Live

from streams.board.model import BoardSnapshot, Sample, board_snapshot, reads_line
from streams.board.render import Frame, render_board, render_problem
from streams.board.scrape import LineFilter, MetricsPage
from streams.domain.pipeline_config import PipelineConfig, load_pipeline_config
from streams.errors import ScrapeError
from streams.settings import Settings

Clock = Callable[[], datetime]


class Page(Protocol):
    """Where the samples come from: a `MetricsPage`, or a test's stand-in."""

    @property
    def url(self) -> str: ...

    def read(self, keep: LineFilter) -> Sequence[Sample]: ...


MIN_SELLER_ROWS = 3
"""Sellers a board fitted to a terminal shows however short the terminal is."""


def board_frame(url: str, settings: Settings, seller_rows: int | None = None) -> RenderableType:
    """One frame of the board of the worker at `url` (its /metrics), with the first
    `seller_rows` sellers (all by default).

    Raises `ScrapeError` when the page cannot be read, `ConfigurationError`
    when `settings.pipelines_file` cannot.
    """
    return Board.of(url, settings, seller_rows=seller_rows).frame()


class Board:
    """A worker's board, remembering its last good snapshot between frames."""

    def __init__(
        self,
        page: Page,
        pipelines: PipelineConfig,
        currency: str,
        *,
        seller_rows: int | None = None,
        fit_to: Console | None = None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        """`seller_rows`: show only the first sellers; `fit_to`: as many as leave the whole
        board within that console's height (a live board redraws only what fits)."""
        self._page = page
        self._pipelines = pipelines
        self._frame = Frame(url=page.url, currency=currency, seller_rows=seller_rows)
        self._fit_to = fit_to
        self._clock = clock
        self._last: BoardSnapshot | None = None

    @classmethod
    def of(
        cls,
        url: str,
        settings: Settings,
        *,
        seller_rows: int | None = None,
        fit_to: Console | None = None,
    ) -> Board:
        """The board of `url`, scraped with the settings' credentials, its funnels in the order
        of the pipeline file the worker reads."""
        return cls(
            MetricsPage.of(url, settings),
            load_pipeline_config(settings.pipelines_file),
            settings.reporting_currency,
            seller_rows=seller_rows,
            fit_to=fit_to,
        )

    def frame(self) -> RenderableType:
        """A fresh frame; `ScrapeError` when the page cannot be read."""
        samples = self._page.read(reads_line)
        self._last = board_snapshot(samples, self._pipelines, self._clock())
        return self._render(self._last, self._frame)

    def refresh(self) -> RenderableType:
        """A fresh frame, or the last one with the failure in its header."""
        try:
            return self.frame()
        except ScrapeError as error:
            failed = replace(self._frame, problem=str(error))
            if self._last is None:
                return render_problem(failed)
            return self._render(self._last, failed)

    def _render(self, snapshot: BoardSnapshot, frame: Frame) -> RenderableType:
        console = self._fit_to
        if console is not None:
            without_sellers = render_board(snapshot, replace(frame, seller_rows=0))
            used = len(console.render_lines(without_sellers, pad=False))
            room = max(console.height - used - 1, MIN_SELLER_ROWS)
            frame = replace(frame, seller_rows=min(room, frame.seller_rows or room))
        return render_board(snapshot, frame)


def watch(board: Board, first: RenderableType, interval_seconds: float, console: Console) -> None:
    """Redraw the board every `interval_seconds` until interrupted (KeyboardInterrupt)."""
    with Live(first, console=console, auto_refresh=False) as live:
        while True:
            sleep(interval_seconds)
            live.update(board.refresh(), refresh=True)
