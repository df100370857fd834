"""What every configuration file reader needs first: its text, and CSV rows with their lines."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator


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
