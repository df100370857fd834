"""What every configuration file reader needs first: its text, and CSV rows with their lines."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum

from streams.domain.errors import FileProblem


class TextFileError(ValueError):
    """Where a file stops being readable: the line, and why."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(detail)
        self.line = line
        self.detail = detail


def decode_text(content: bytes) -> str:
    """`content` as UTF-8 text, a leading BOM dropped; `TextFileError` at the first line
    that is not UTF-8."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        raise TextFileError(line, f"not UTF-8 text ({error.reason})") from None


def csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank row with the line it starts on; `TextFileError` where the CSV breaks.

    Parsing is Python's `csv` module: quoting, embedded commas and line ends are its business.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise TextFileError(reader.line_num or line, str(error)) from None
        if any(cell.strip() for cell in cells):
            yield line, cells
        line = reader.line_num + 1


@dataclass(frozen=True, slots=True)
class TableReasons:
    """The reasons a table's reader gives for what every CSV table can get wrong."""

    no_rows: str
    not_csv: str
    unknown_column: str
    duplicate_column: str
    missing_column: str
    cell_count: str

    @classmethod
    def of(cls, reasons: type[StrEnum]) -> TableReasons:
        """Those of a file's reasons, which name them as every table does (`NO_ROWS`, …)."""
        return cls(**{field.name: reasons[field.name.upper()] for field in fields(cls)})


class CsvTable:
    """One pass over a CSV file with a header row: its columns (any order, any case), every
    row of the header's width handed to `row`, and every problem, in line order.

    A reader subclasses it with its columns, its reasons and `row`; the file is then
    refused whole when `problems` is not empty.
    """

    def __init__(
        self,
        *,
        columns: Sequence[str],
        required: Sequence[str],
        reasons: TableReasons,
        rows_are: str,
        comma_hint: str,
    ) -> None:
        self.problems: list[FileProblem] = []
        self._known = tuple(columns)
        self._required = tuple(required)
        self._reasons = reasons
        self._rows_are = rows_are
        self._comma_hint = comma_hint
        self._columns: dict[str, int] = {}
        self._width = 0

    def refuse(self, line: int, reason: str, detail: str) -> None:
        self.problems.append(FileProblem(line, reason, detail))

    def row(self, line: int, cells: list[str]) -> None:
        """One row of the header's width (a subclass reads it)."""
        raise NotImplementedError

    def cell(self, cells: list[str], column: str) -> str:
        """The row's cell of `column`, trimmed; empty when the header has no such column."""
        index = self._columns.get(column)
        return "" if index is None else cells[index].strip()

    def read_rows(self, text: str) -> None:
        """Read the header, then hand every row to `row`; problems are collected, not raised."""
        reasons = self._reasons
        rows = csv_rows(text)
        try:
            header = next(rows, None)
            if header is None:
                detail = f"the file is empty: give a header row, then {self._rows_are}"
                self.refuse(1, reasons.no_rows, detail)
                return
            if not self._header(*header):
                return
            found = False
            for line, cells in rows:
                found = True
                if len(cells) != self._width:
                    self.refuse(
                        line,
                        reasons.cell_count,
                        f"{len(cells)} cells where the header has {self._width} "
                        f"({self._comma_hint})",
                    )
                    continue
                self.row(line, cells)
        except TextFileError as error:
            self.refuse(error.line, reasons.not_csv, error.detail)
            return
        if not found:
            self.refuse(header[0], reasons.no_rows, f"a header and no {self._rows_are}")

    def _header(self, line: int, cells: list[str]) -> bool:
        reasons = self._reasons
        for index, cell in enumerate(cells):
            name = cell.strip().lower()
            if name not in self._known:
                detail = f"{cell!r} (columns: {', '.join(self._known)})"
                self.refuse(line, reasons.unknown_column, detail)
            elif name in self._columns:
                self.refuse(line, reasons.duplicate_column, f"{name!r} twice")
            else:
                self._columns[name] = index
        for name in self._required:
            if name not in self._columns:
                self.refuse(line, reasons.missing_column, f"no {name!r} column")
        self._width = len(cells)
        return not self.problems
