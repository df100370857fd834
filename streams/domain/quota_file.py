"""Reading a quota file (CSV) into `PeriodQuotas`, refusing the whole file on any bad row.

The format (docs/metrics.md, "Quotas"): a header row naming the columns, in
any order, from `period`, `amount`, `seller` (required), `team` and `tenant`
(optional); then one quota per row::

    period,tenant,seller,team,amount
    2026-12,,alice,emea,120000
    2026-Q4,,,emea,900000

A row with a seller is that seller's quota (its team, if given, is the
seller's team); a row with a team and no seller is the team's quota. An empty
tenant is the default one. Amounts are non-negative decimals in the reporting
currency, read as `Decimal`.

A load replaces whole periods, so a file with one bad row must load nothing:
half a period would silently drop the quotas of the rows refused. So every row
is checked, every problem is collected with its line number, and the file is
either read whole or refused whole (`QuotaFileError`). Parsing is Python's
`csv` module: quoting, embedded commas and line ends are its business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path

from streams.domain.errors import FileProblem, QuotaFileError
from streams.domain.events import DEFAULT_TENANT
from streams.domain.quota_periods import QuotaPeriod, parse_period
from streams.domain.quotas import PeriodQuotas, SellerQuota
from streams.domain.text_file import CsvTable, TableReasons, TextFileError, decode_text

PERIOD = "period"
AMOUNT = "amount"
SELLER = "seller"
TEAM = "team"
TENANT = "tenant"
REQUIRED_COLUMNS = (PERIOD, AMOUNT, SELLER)
OPTIONAL_COLUMNS = (TEAM, TENANT)
DEFAULT_MAX_AMOUNT = Decimal("1000000000000")
"""Default of the largest amount accepted (the same as `DEALPULSE_MAX_AMOUNT` for deals)."""


class Refusal(StrEnum):
    """Why a line of a quota file was refused (docs/metrics.md lists each)."""

    NOT_TEXT = "not_text"
    NOT_CSV = "not_csv"
    NO_ROWS = "no_rows"
    UNKNOWN_COLUMN = "unknown_column"
    MISSING_COLUMN = "missing_column"
    DUPLICATE_COLUMN = "duplicate_column"
    CELL_COUNT = "cell_count"
    BAD_PERIOD = "bad_period"
    BAD_AMOUNT = "bad_amount"
    NEGATIVE_AMOUNT = "negative_amount"
    AMOUNT_TOO_LARGE = "amount_too_large"
    NO_SELLER_OR_TEAM = "no_seller_or_team"
    DUPLICATE_ROW = "duplicate_row"


QuotaSlot = tuple[str, str, str, QuotaPeriod]
"""What one row sets, and a second row may not set again: tenant, `seller` or `team`, the
seller's or team's name, period."""


@dataclass
class _PeriodDraft:
    sellers: dict[str, SellerQuota] = field(default_factory=dict)
    teams: dict[str, Decimal] = field(default_factory=dict)


def read_quota_file(
    path: Path, *, max_amount: Decimal = DEFAULT_MAX_AMOUNT
) -> tuple[PeriodQuotas, ...]:
    """The quotas of the file at `path`, by (tenant, period); `QuotaFileError` if refused."""
    return parse_quotas(path.read_bytes(), source=path.name, max_amount=max_amount)


def parse_quotas(
    content: bytes, *, source: str = "quota file", max_amount: Decimal = DEFAULT_MAX_AMOUNT
) -> tuple[PeriodQuotas, ...]:
    """The quotas `content` holds, sorted by tenant and period; `QuotaFileError` if refused."""
    try:
        text = decode_text(content)
    except TextFileError as error:
        raise QuotaFileError(
            source, [FileProblem(error.line, Refusal.NOT_TEXT, error.detail)]
        ) from None
    reader = _Reader(max_amount)
    periods = reader.read(text)
    if reader.problems:
        raise QuotaFileError(source, reader.problems)
    return periods


_TABLE_REASONS = TableReasons.of(Refusal)


class _Reader(CsvTable):
    """One pass over a file: the periods it sets, and every problem, in line order."""

    def __init__(self, max_amount: Decimal) -> None:
        super().__init__(
            columns=(*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS),
            required=REQUIRED_COLUMNS,
            reasons=_TABLE_REASONS,
            rows_are="quota row",
            comma_hint="a comma in an amount? write 1000.50, not 1,000.50",
        )
        self.max_amount = max_amount
        self._set_at: dict[QuotaSlot, int] = {}
        self._drafts: dict[tuple[str, QuotaPeriod], _PeriodDraft] = {}

    def read(self, text: str) -> tuple[PeriodQuotas, ...]:
        self.read_rows(text)
        if self.problems:
            return ()
        return tuple(
            PeriodQuotas(tenant, period, draft.sellers, draft.teams)
            for (tenant, period), draft in sorted(self._drafts.items())
        )

    def row(self, line: int, cells: list[str]) -> None:
        problems_before = len(self.problems)
        period = self._period(line, self.cell(cells, PERIOD))
        amount = self._amount(line, self.cell(cells, AMOUNT))
        seller, team = self.cell(cells, SELLER), self.cell(cells, TEAM)
        tenant = self.cell(cells, TENANT) or DEFAULT_TENANT
        if not seller and not team:
            self.refuse(line, Refusal.NO_SELLER_OR_TEAM, "give a seller, or a team for its quota")
        if period is None or amount is None or len(self.problems) > problems_before:
            return
        what = (tenant, SELLER, seller, period) if seller else (tenant, TEAM, team, period)
        first = self._set_at.setdefault(what, line)
        if first != line:
            self.refuse(
                line,
                Refusal.DUPLICATE_ROW,
                f"{what[1]} {what[2]!r} of tenant {tenant!r} in {period} is on line {first} too",
            )
            return
        draft = self._drafts.setdefault((tenant, period), _PeriodDraft())
        if seller:
            draft.sellers[seller] = SellerQuota(amount, team or None)
        else:
            draft.teams[team] = amount

    def _period(self, line: int, text: str) -> QuotaPeriod | None:
        try:
            return parse_period(text)
        except ValueError as error:
            self.refuse(line, Refusal.BAD_PERIOD, str(error) if text else "no period")
            return None

    def _amount(self, line: int, text: str) -> Decimal | None:
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            shown = f"{text!r} is not a decimal number" if text else "no amount"
            self.refuse(line, Refusal.BAD_AMOUNT, shown)
            return None
        if amount < 0:
            self.refuse(line, Refusal.NEGATIVE_AMOUNT, f"{text} is below zero")
            return None
        if amount > self.max_amount:
            self.refuse(line, Refusal.AMOUNT_TOO_LARGE, f"{text} is over {self.max_amount}")
            return None
        return amount + 0  # -0 and 0 alike
