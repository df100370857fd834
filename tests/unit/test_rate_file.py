"""The currency rate file: read whole into exact decimals, or refused whole with every
problem's line and reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.errors import FileProblem, RateFileError
from streams.domain.rate_file import RateRefusal, parse_rates, read_rate_file
from streams.errors import ConfigurationError

R = RateRefusal


def rates(text: str, reporting_currency: str = "USD") -> dict[str, Decimal]:
    return parse_rates(text.encode(), reporting_currency=reporting_currency)


def problems(text: str | bytes, reporting_currency: str = "USD") -> list[tuple[int | None, str]]:
    content = text.encode() if isinstance(text, str) else text
    with pytest.raises(RateFileError) as refused:
        parse_rates(content, reporting_currency=reporting_currency)
    return [(problem.line, problem.reason) for problem in refused.value.problems]


def test_rates_read_as_exact_decimals() -> None:
    read = rates("currency,rate\nEUR,1.10\nJPY,0.0067\nUSD,1\n")
    assert read == {"EUR": Decimal("1.10"), "JPY": Decimal("0.0067"), "USD": Decimal(1)}
    assert all(isinstance(rate, Decimal) for rate in read.values())
    assert str(read["EUR"]) == "1.10"  # as written, never through a float
    assert str(read["JPY"]) == "0.0067"


@pytest.mark.parametrize(
    "text",
    [
        "rate,currency\n1.1,EUR\n",  # any order
        " Currency , RATE \n EUR , 1.1 \n",  # names and cells trimmed
        "\ufeffcurrency,rate\r\nEUR,1.1\r\n",  # a BOM and CRLF (Excel)
        "currency,rate\n\nEUR,1.1\n\n,\n",  # blank lines skipped
        'currency,rate\n"EUR","1.1"\n',  # quoted cells
        "currency,rate\nEUR,11E-1\n",  # an exponent
    ],
)
def test_the_format_is_forgiving_where_it_is_unambiguous(text: str) -> None:
    assert rates(text) == {"EUR": Decimal("1.1")}


HEADER = "currency,rate\n"
REFUSED = [
    # (file, every problem as (line, reason))
    (b"", [(1, R.NO_ROWS)]),
    (HEADER, [(1, R.NO_ROWS)]),
    (b"currency,rate\nEUR,1.1\nGBP,\xff1.2\n", [(3, R.NOT_TEXT)]),
    (HEADER + 'EUR,"1.1\n', [(2, R.NOT_CSV)]),
    ("currency,rate,source\nEUR,1.1,ecb\n", [(1, R.UNKNOWN_COLUMN)]),
    ("currency\nEUR\n", [(1, R.MISSING_COLUMN)]),
    ("rate\n1.1\n", [(1, R.MISSING_COLUMN)]),
    ("currency,rate,rate\nEUR,1,1\n", [(1, R.DUPLICATE_COLUMN)]),
    (HEADER + "EUR,1,10\n", [(2, R.CELL_COUNT)]),
    (HEADER + "EUR\n", [(2, R.CELL_COUNT)]),
    (HEADER + "eur,1.1\n", [(2, R.BAD_CURRENCY)]),
    (HEADER + "EURO,1.1\n", [(2, R.BAD_CURRENCY)]),
    (HEADER + "E1R,1.1\n", [(2, R.BAD_CURRENCY)]),
    (HEADER + ",1.1\n", [(2, R.BAD_CURRENCY)]),
    (HEADER + "EUR,one\n", [(2, R.BAD_RATE)]),
    (HEADER + "EUR,\n", [(2, R.BAD_RATE)]),
    (HEADER + "EUR,NaN\n", [(2, R.BAD_RATE)]),
    (HEADER + "EUR,Infinity\n", [(2, R.BAD_RATE)]),
    (HEADER + "EUR,0\n", [(2, R.RATE_NOT_POSITIVE)]),
    (HEADER + "EUR,-1.1\n", [(2, R.RATE_NOT_POSITIVE)]),
    (HEADER + "EUR,1." + "0" * 50 + "1\n", [(2, R.RATE_OUT_OF_RANGE)]),
    (HEADER + "EUR,1e12\n", [(2, R.RATE_OUT_OF_RANGE)]),
    (HEADER + "EUR,1e-12\n", [(2, R.RATE_OUT_OF_RANGE)]),
    (HEADER + "USD,1.01\n", [(2, R.REPORTING_CURRENCY_RATE)]),
    (HEADER + "EUR,1.1\nGBP,1.2\nEUR,1.1\n", [(4, R.DUPLICATE_CURRENCY)]),
    (
        HEADER + "eur,-1\nEUR,x\nGBP,0\n",
        [(2, R.BAD_CURRENCY), (2, R.RATE_NOT_POSITIVE), (3, R.BAD_RATE), (4, R.RATE_NOT_POSITIVE)],
    ),
]


@pytest.mark.parametrize(("text", "expected"), REFUSED)
def test_every_problem_is_found_with_its_line(
    text: str | bytes, expected: list[tuple[int, RateRefusal]]
) -> None:
    assert problems(text) == expected


def test_every_reason_is_exercised_above() -> None:
    exercised = {reason for _, found in REFUSED for _, reason in found}
    assert exercised == set(RateRefusal)


@pytest.mark.parametrize("rate", ["1", "1.0", "1.000"])
def test_the_reporting_currency_may_be_listed_at_exactly_one(rate: str) -> None:
    assert rates(f"{HEADER}EUR,{rate}\n", reporting_currency="EUR") == {"EUR": Decimal(rate)}


def test_the_reporting_currency_is_the_settings() -> None:
    assert problems(f"{HEADER}EUR,1.08\nUSD,1\n", reporting_currency="EUR") == [
        (2, R.REPORTING_CURRENCY_RATE)
    ]


def test_one_bad_row_refuses_the_whole_file_and_says_so_in_one_line() -> None:
    text = HEADER + "EUR,1.1\nGBP,1.27\nJPY,0,0067\nCAD,0.73\nGBP,1.28\n"
    with pytest.raises(RateFileError) as refused:
        parse_rates(text.encode(), reporting_currency="USD", source="rates.csv")
    error = refused.value
    assert isinstance(error, ConfigurationError)
    assert str(error) == (
        "rates.csv refused, nothing loaded: 2 problems on 2 lines "
        "(cell_count 1, duplicate_currency 1)"
    )
    assert error.problems == (
        FileProblem(
            4,
            R.CELL_COUNT,
            "3 cells where the header has 2 (a comma in a rate? write 1.10, not 1,10)",
        ),
        FileProblem(6, R.DUPLICATE_CURRENCY, "GBP is on line 3 too"),
    )


def test_a_currency_in_lower_case_is_told_how_to_write_it() -> None:
    with pytest.raises(RateFileError) as refused:
        rates(HEADER + "jpy,0.0067\n")
    assert (
        str(refused.value.problems[0]) == "line 2: bad_currency: 'jpy': write it in upper case, JPY"
    )


def test_a_file_is_read_from_its_path_and_named_by_it(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(HEADER + "EUR,x\n")
    with pytest.raises(RateFileError, match=r"^rates\.csv refused"):
        read_rate_file(path, reporting_currency="USD")


# Property: any set of good rows reads back exactly; one bad row anywhere refuses them all.
good_rates = st.dictionaries(
    st.text(st.sampled_from("ABCDEFGHJKLMNPQRSTVWXYZ"), min_size=3, max_size=3).filter(
        lambda code: code != "USD"
    ),
    st.decimals(min_value=Decimal("1E-12"), max_value=10**6, allow_nan=False, places=8),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200)
@given(chosen=good_rates, bad_at=st.integers(0, 40), bad=st.sampled_from(["EU,1", "EUR,0", "X"]))
def test_good_rows_read_back_and_one_bad_row_refuses_them_all(
    chosen: dict[str, Decimal], bad_at: int, bad: str
) -> None:
    lines = ["rate,currency", *(f"{rate},{currency}" for currency, rate in chosen.items())]
    read = parse_rates("\n".join(lines).encode(), reporting_currency="USD")
    assert read == chosen
    assert [str(read[currency]) for currency in chosen] == [str(rate) for rate in chosen.values()]

    at = 1 + bad_at % len(chosen)
    lines.insert(at, ",".join(reversed(bad.split(","))))
    with pytest.raises(RateFileError) as refused:
        parse_rates("\n".join(lines).encode(), reporting_currency="USD")
    assert [problem.line for problem in refused.value.problems] == [at + 1]
