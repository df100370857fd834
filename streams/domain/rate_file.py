"""Reading a currency rate file (CSV) into rates, refusing the whole file on any bad row.

The format (docs/metrics.md, "Loading pipelines and rates"): a header row naming
the two columns, `currency` and `rate`, in either order; then one rate per row,
in units of the reporting currency per unit of the currency::

    currency,rate
    EUR,1.10
    JPY,0.0067

A currency is three upper-case letters; a rate is a positive decimal, read as
`Decimal`. The reporting currency may be listed, at exactly 1. Every row is
checked, every problem is collected with its line number, and the file is
either read whole or refused whole (`RateFileError`).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path

from streams.domain.errors import FileProblem, RateFileError
from streams.domain.money import rate_problem
from streams.domain.text_file import CsvTable, TableReasons, TextFileError, decode_text

CURRENCY = "currency"
RATE = "rate"
COLUMNS = (CURRENCY, RATE)
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")


class RateRefusal(StrEnum):
    """Why a line of a rate file was refused (docs/metrics.md lists each)."""

    NOT_TEXT = "not_text"
    NOT_CSV = "not_csv"
    NO_ROWS = "no_rows"
    UNKNOWN_COLUMN = "unknown_column"
    MISSING_COLUMN = "missing_column"
    DUPLICATE_COLUMN = "duplicate_column"
    CELL_COUNT = "cell_count"
    BAD_CURRENCY = "bad_currency"
    BAD_RATE = "bad_rate"
    RATE_NOT_POSITIVE = "rate_not_positive"
    RATE_OUT_OF_RANGE = "rate_out_of_range"
    REPORTING_CURRENCY_RATE = "reporting_currency_rate"
    DUPLICATE_CURRENCY = "duplicate_currency"


def read_rate_file(path: Path, *, reporting_currency: str) -> dict[str, Decimal]:
    """The rates of the file at `path`, by currency; `RateFileError` if refused."""
    return parse_rates(path.read_bytes(), reporting_currency=reporting_currency, source=path.name)


def parse_rates(
    content: bytes, *, reporting_currency: str, source: str = "rate file"
) -> dict[str, Decimal]:
    """The rates `content` holds, by currency; `RateFileError` with every problem if refused."""
    try:
        text = decode_text(content)
    except TextFileError as error:
        problem = FileProblem(error.line, RateRefusal.NOT_TEXT, error.detail)
        raise RateFileError(source, [problem]) from None
    reader = _Reader(reporting_currency)
    rates = reader.read(text)
    if reader.problems:
        raise RateFileError(source, reader.problems)
    return rates


_TABLE_REASONS = TableReasons.of(RateRefusal)


class _Reader(CsvTable):
    """One pass over a file: the rates it sets, and every problem, in line order."""

    def __init__(self, reporting_currency: str) -> None:
        super().__init__(
            columns=COLUMNS,
            required=COLUMNS,
            reasons=_TABLE_REASONS,
            rows_are="rate",
            comma_hint="a comma in a rate? write 1.10, not 1,10",
        )
        self.reporting_currency = reporting_currency
        self._listed_at: dict[str, int] = {}
        self._rates: dict[str, Decimal] = {}

    def read(self, text: str) -> dict[str, Decimal]:
        self.read_rows(text)
        return self._rates

    def row(self, line: int, cells: list[str]) -> None:
        currency = self._currency(line, self.cell(cells, CURRENCY))
        rate = self._rate(line, self.cell(cells, RATE))
        if currency is None or rate is None:
            return
        if currency == self.reporting_currency and rate != 1:
            detail = f"{currency} is the reporting currency: its rate is 1, not {rate}"
            self.refuse(line, RateRefusal.REPORTING_CURRENCY_RATE, detail)
            return
        first = self._listed_at.setdefault(currency, line)
        if first != line:
            detail = f"{currency} is on line {first} too"
            self.refuse(line, RateRefusal.DUPLICATE_CURRENCY, detail)
            return
        self._rates[currency] = rate

    def _currency(self, line: int, text: str) -> str | None:
        if _CURRENCY_CODE.fullmatch(text):
            return text
        if not text:
            detail = "no currency"
        elif _CURRENCY_CODE.fullmatch(text.upper()):
            detail = f"{text!r}: write it in upper case, {text.upper()}"
        else:
            detail = f"{text!r} is not a currency code of three letters (EUR, JPY)"
        self.refuse(line, RateRefusal.BAD_CURRENCY, detail)
        return None

    def _rate(self, line: int, text: str) -> Decimal | None:
        try:
            rate = Decimal(text)
        except InvalidOperation:
            rate = None
        if rate is None or not rate.is_finite():
            shown = f"{text!r} is not a decimal number" if text else "no rate"
            self.refuse(line, RateRefusal.BAD_RATE, shown)
            return None
        if rate <= 0:
            detail = f"{text} is not above zero (units of the reporting currency per unit)"
            self.refuse(line, RateRefusal.RATE_NOT_POSITIVE, detail)
            return None
        problem = rate_problem(rate)
        if problem is not None:
            self.refuse(line, RateRefusal.RATE_OUT_OF_RANGE, problem)
            return None
        return rate
