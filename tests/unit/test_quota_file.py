"""The quota file: read whole, or refused whole with every problem's line and reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.errors import FileProblem, QuotaFileError
from streams.domain.events import DEFAULT_TENANT
from streams.domain.quota_file import Refusal, parse_quotas, read_quota_file
from streams.domain.quota_periods import parse_period
from streams.domain.quotas import PeriodQuotas, SellerQuota
from streams.errors import ConfigurationError


def problems(text: str | bytes) -> list[tuple[int | None, str]]:
    """(line, reason) of each problem of a refused file."""
    content = text.encode() if isinstance(text, str) else text
    with pytest.raises(QuotaFileError) as refused:
        parse_quotas(content)
    return [(problem.line, problem.reason) for problem in refused.value.problems]


def quotas(text: str) -> dict[tuple[str, str], PeriodQuotas]:
    return {(q.tenant, str(q.period)): q for q in parse_quotas(text.encode())}


def test_a_file_reads_into_one_entry_per_tenant_and_period() -> None:
    read = quotas(
        "period,amount,seller,team,tenant\n"
        "2026-12,120000,alice,emea,\n"
        "2026-12,80000.50,bob,,\n"
        "2026-12,900000,,emea,\n"
        "2026-Q4,300000,alice,emea,\n"
        "2026-12,42,carol,,acme\n"
    )
    assert read == {
        (DEFAULT_TENANT, "2026-12"): PeriodQuotas(
            DEFAULT_TENANT,
            parse_period("2026-12"),
            {
                "alice": SellerQuota(Decimal(120000), "emea"),
                "bob": SellerQuota(Decimal("80000.50"), None),
            },
            {"emea": Decimal(900000)},
        ),
        (DEFAULT_TENANT, "2026-Q4"): PeriodQuotas(
            DEFAULT_TENANT,
            parse_period("2026-Q4"),
            {"alice": SellerQuota(Decimal(300000), "emea")},
            {},
        ),
        ("acme", "2026-12"): PeriodQuotas(
            "acme", parse_period("2026-12"), {"carol": SellerQuota(Decimal(42), None)}, {}
        ),
    }
    assert isinstance(read[(DEFAULT_TENANT, "2026-12")].sellers["bob"].amount, Decimal)


@pytest.mark.parametrize(
    "text",
    [
        "seller,amount,period\nalice,100,2026-12\n",  # any order, no team or tenant column
        " Period , AMOUNT ,Seller\n2026-12, 100 , alice \n",  # names and cells trimmed
        "\ufeffperiod,amount,seller\r\n2026-12,100,alice\r\n",  # a BOM and CRLF (Excel)
        "period,amount,seller\n\n2026-12,100,alice\n\n,,\n",  # blank lines skipped
        'period,amount,seller\n"2026-12","100","alice"\n',  # quoted cells
        "period,amount,seller,tenant\n2026-12,100,alice,\n",  # empty tenant: the default
        "period,amount,seller,tenant\n2026-12,1E+2,alice,default\n",  # an exponent
    ],
)
def test_the_format_is_forgiving_where_it_is_unambiguous(text: str) -> None:
    assert quotas(text) == {
        (DEFAULT_TENANT, "2026-12"): PeriodQuotas(
            DEFAULT_TENANT, parse_period("2026-12"), {"alice": SellerQuota(Decimal(100))}, {}
        )
    }


def test_a_seller_may_hold_a_comma_in_quotes() -> None:
    read = quotas('period,amount,seller\n2026-12,5,"Doe, Jane"\n')
    assert set(read[(DEFAULT_TENANT, "2026-12")].sellers) == {"Doe, Jane"}


def test_a_seller_and_a_team_of_the_same_name_are_two_quotas() -> None:
    read = quotas("period,amount,seller,team\n2026-12,5,emea,\n2026-12,9,,emea\n")
    entry = read[(DEFAULT_TENANT, "2026-12")]
    assert entry.sellers == {"emea": SellerQuota(Decimal(5))}
    assert entry.teams == {"emea": Decimal(9)}


HEADER = "period,amount,seller,team,tenant\n"
REFUSED = [
    # (file, every problem as (line, reason))
    (b"", [(1, Refusal.NO_ROWS)]),
    (HEADER, [(1, Refusal.NO_ROWS)]),
    (b"period,amount,seller\n2026-12,\xff100,alice\n", [(2, Refusal.NOT_TEXT)]),
    (HEADER + '2026-12,100,"alice\n', [(2, Refusal.NOT_CSV)]),
    ("period,amount,seller,region\n2026-12,1,a,x\n", [(1, Refusal.UNKNOWN_COLUMN)]),
    ("period,amount\n2026-12,1\n", [(1, Refusal.MISSING_COLUMN)]),
    ("period,amount,seller,team,team\n", [(1, Refusal.DUPLICATE_COLUMN)]),
    ("amount,seller\n1,a\n", [(1, Refusal.MISSING_COLUMN)]),
    (HEADER + "2026-12,1,000,alice,,\n", [(2, Refusal.CELL_COUNT)]),
    (HEADER + "2026-12,1,alice\n", [(2, Refusal.CELL_COUNT)]),
    (HEADER + "2026-13,1,alice,,\n", [(2, Refusal.BAD_PERIOD)]),
    (HEADER + "2026-Q5,1,alice,,\n", [(2, Refusal.BAD_PERIOD)]),
    (HEADER + "December,1,alice,,\n", [(2, Refusal.BAD_PERIOD)]),
    (HEADER + ",1,alice,,\n", [(2, Refusal.BAD_PERIOD)]),
    (HEADER + "2026-12,ten,alice,,\n", [(2, Refusal.BAD_AMOUNT)]),
    (HEADER + "2026-12,,alice,,\n", [(2, Refusal.BAD_AMOUNT)]),
    (HEADER + "2026-12,NaN,alice,,\n", [(2, Refusal.BAD_AMOUNT)]),
    (HEADER + "2026-12,Infinity,alice,,\n", [(2, Refusal.BAD_AMOUNT)]),
    (HEADER + "2026-12,$100,alice,,\n", [(2, Refusal.BAD_AMOUNT)]),
    (HEADER + "2026-12,-0.01,alice,,\n", [(2, Refusal.NEGATIVE_AMOUNT)]),
    (HEADER + "2026-12,1E+13,alice,,\n", [(2, Refusal.AMOUNT_TOO_LARGE)]),
    (HEADER + "2026-12,1,,,acme\n", [(2, Refusal.NO_SELLER_OR_TEAM)]),
    (HEADER + "2026-12,1,alice,,\n2026-12,2,alice,emea,\n", [(3, Refusal.DUPLICATE_ROW)]),
    (HEADER + "2026-12,1,,emea,\n2026-12,2,,emea,\n", [(3, Refusal.DUPLICATE_ROW)]),
    (HEADER + "2026-q4,1,a,,\n2026-Q4,2,a,,default\n", [(3, Refusal.DUPLICATE_ROW)]),
    (
        HEADER
        + "2026-12,1,alice,,\n"
        + "2026-13,-5,,,\n"  # three problems on one line
        + "2026-12,1,bob,,\n"
        + "\n"
        + "2026-12,x,carol,,\n"
        + "2026-12,3,bob,,\n",
        [
            (3, Refusal.BAD_PERIOD),
            (3, Refusal.NEGATIVE_AMOUNT),
            (3, Refusal.NO_SELLER_OR_TEAM),
            (6, Refusal.BAD_AMOUNT),
            (7, Refusal.DUPLICATE_ROW),
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), REFUSED)
def test_every_problem_is_found_with_its_line(
    text: str | bytes, expected: list[tuple[int, Refusal]]
) -> None:
    assert problems(text) == expected


def test_every_reason_is_exercised_above() -> None:
    exercised = {reason for _, found in REFUSED for _, reason in found}
    assert exercised == set(Refusal)


def test_a_line_is_where_its_row_starts_even_after_a_quoted_line_end() -> None:
    text = HEADER + '2026-12,1,"alice\nsmith",,\n2026-12,-1,bob,,\n'
    assert problems(text) == [(4, Refusal.NEGATIVE_AMOUNT)]


def test_a_refusal_says_in_one_line_what_and_how_many() -> None:
    with pytest.raises(QuotaFileError) as refused:
        parse_quotas((HEADER + "2026-13,1,a,,\n2026-14,-1,b,,\n").encode(), source="q.csv")
    error = refused.value
    assert isinstance(error, ConfigurationError)  # the CLI's one line, exit code 1
    assert str(error) == (
        "q.csv refused, nothing loaded: 3 problems on 2 lines (bad_period 2, negative_amount 1)"
    )
    assert "\n" not in str(error)
    assert error.problems[0] == FileProblem(
        2, Refusal.BAD_PERIOD, "'2026-13': no month number 13 in a year"
    )
    assert str(error.problems[1]) == ("line 3: bad_period: '2026-14': no month number 14 in a year")


def test_the_largest_amount_is_a_setting() -> None:
    text = (HEADER + "2026-12,500,alice,,\n").encode()
    with pytest.raises(QuotaFileError):
        parse_quotas(text, max_amount=Decimal(499))
    assert parse_quotas(text, max_amount=Decimal(500))


def test_a_file_is_read_from_its_path_and_named_by_it(tmp_path: Path) -> None:
    path = tmp_path / "quotas.csv"
    path.write_text("period,amount,seller\n2026-12,x,alice\n")
    with pytest.raises(QuotaFileError, match=r"^quotas\.csv refused"):
        read_quota_file(path)


# Property: any set of good rows reads back as itself; one bad row anywhere refuses all.
names = st.text(st.sampled_from('abcxyz-_ .é,"'), min_size=1, max_size=8).filter(
    lambda name: name.strip() == name
)
rows = st.lists(
    st.tuples(
        st.sampled_from(["2026-11", "2026-12", "2026-Q4", "2027-Q1"]),
        st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False),
        names,
        st.one_of(st.just(""), names),
        st.sampled_from(["", "acme", "globex"]),
        st.booleans(),  # a team quota rather than a seller's
    ),
    min_size=1,
    max_size=30,
    unique_by=lambda row: (row[4] or DEFAULT_TENANT, row[5], row[2], row[0]),
)


def csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def written(chosen: list[tuple[str, Decimal, str, str, str, bool]]) -> list[str]:
    lines = ["tenant,team,seller,amount,period"]
    for period, amount, name, team, tenant, is_team in chosen:
        seller, team = ("", name) if is_team else (name, team)
        cells = (tenant, team, seller, str(amount), period)
        lines.append(",".join(csv_cell(cell) for cell in cells))
    return lines


@settings(max_examples=200)
@given(chosen=rows, bad_at=st.integers(0, 30), bad=st.sampled_from(["2026-13", "-1", "1,5"]))
def test_good_rows_read_back_and_one_bad_row_refuses_them_all(
    chosen: list[tuple[str, Decimal, str, str, str, bool]], bad_at: int, bad: str
) -> None:
    lines = written(chosen)
    read = parse_quotas("\n".join(lines).encode())
    expected: dict[tuple[str, str, str, str], Decimal] = {}
    for period, amount, name, team, tenant, is_team in chosen:
        what = ("team", name) if is_team else ("seller", name)
        expected[(tenant or DEFAULT_TENANT, period, *what)] = amount
        found = next(
            q for q in read if (q.tenant, str(q.period)) == (tenant or DEFAULT_TENANT, period)
        )
        if not is_team:
            assert found.sellers[name].team == (team or None)
    assert {
        (q.tenant, str(q.period), kind, name): amount
        for q in read
        for kind, entries in (
            ("seller", {s: quota.amount for s, quota in q.sellers.items()}),
            ("team", q.teams),
        )
        for name, amount in entries.items()
    } == expected

    at = 1 + bad_at % len(chosen)
    cells = {
        "2026-13": "acme,,x,1,2026-13",
        "-1": "acme,,x,-1,2026-12",
        "1,5": "acme,,x,1,5,2026-12",
    }
    lines.insert(at, cells[bad])
    with pytest.raises(QuotaFileError) as refused:
        parse_quotas("\n".join(lines).encode())
    assert [problem.line for problem in refused.value.problems] == [at + 1]
