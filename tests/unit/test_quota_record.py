"""A (tenant, period)'s quotas as one control record: keyed for compaction, read back whole,
and small enough for Kafka at thousands of sellers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from random import Random

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.quota_periods import parse_period
from streams.domain.quota_record import (
    RECORD_LIMIT_BYTES,
    QuotaRecordError,
    decode_quotas,
    encode_quotas,
    is_quota_key,
    record_key,
)
from streams.domain.quotas import PeriodQuotas, SellerQuota

DECEMBER = parse_period("2026-12")

names = st.text(min_size=1, max_size=12)
amounts = st.decimals(min_value=0, max_value=10**12, places=6, allow_nan=False)
period_quotas = st.builds(
    PeriodQuotas,
    tenant=names,
    period=st.sampled_from([DECEMBER, parse_period("2026-Q4")]),
    sellers=st.dictionaries(
        names, st.builds(SellerQuota, amounts, st.one_of(st.none(), names)), max_size=20
    ),
    teams=st.dictionaries(names, amounts, max_size=5),
)


@given(period_quotas)
def test_a_record_reads_back_as_the_quotas_it_was_made_of(quotas: PeriodQuotas) -> None:
    key, value = encode_quotas(quotas)
    assert key == record_key(quotas.tenant, str(quotas.period))
    assert is_quota_key(key)
    assert decode_quotas(key, value) == quotas
    assert decode_quotas(None, value) == quotas


def test_the_key_names_only_kind_tenant_and_period() -> None:
    """So compaction keeps exactly the newest record of each period."""
    one = PeriodQuotas("acme", DECEMBER, {"alice": SellerQuota(Decimal(1))}, {})
    other = PeriodQuotas("acme", DECEMBER, {"bob": SellerQuota(Decimal(2), "emea")}, {})
    assert encode_quotas(one)[0] == encode_quotas(other)[0] == b'["quotas","acme","2026-12"]'


def test_amounts_are_decimal_strings_and_sellers_are_grouped_by_team() -> None:
    quotas = PeriodQuotas(
        "acme",
        DECEMBER,
        {
            "alice": SellerQuota(Decimal("0.10"), "emea"),
            "bob": SellerQuota(Decimal(7)),
            "carol": SellerQuota(Decimal(5), "emea"),
        },
        {"emea": Decimal("100.5")},
    )
    assert orjson.loads(encode_quotas(quotas)[1]) == {
        "format": 1,
        "tenant": "acme",
        "period": "2026-12",
        "teams": {"emea": "100.5"},
        "sellers": {"": {"bob": "7"}, "emea": {"alice": "0.10", "carol": "5"}},
    }


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        (None, b"not json", "not a quota record"),
        (None, b"{}", "not a quota record"),
        (None, b'{"format":1,"tenant":"a","period":"2026-13","teams":{},"sellers":{}}', "2026-13"),
        (None, b'{"format":2,"tenant":"a","period":"2026-12","teams":{},"sellers":{}}', "format 2"),
        (
            None,
            b'{"format":1,"tenant":"a","period":"2026-12","teams":{"t":"-1"},"sellers":{}}',
            "negative",
        ),
        (
            None,
            b'{"format":1,"tenant":"a","period":"2026-12","teams":{"t":"NaN"},"sellers":{}}',
            "not a number",
        ),
        (
            None,
            b'{"format":1,"tenant":"a","period":"2026-12","teams":{},'
            b'"sellers":{"x":{"s":"1"},"y":{"s":"2"}}}',
            "two teams",
        ),
        (
            None,
            b'{"format":1,"tenant":"a","period":"2026-12","teams":{},"sellers":{},"more":1}',
            "not a quota record",
        ),
        (
            b'["quotas","b","2026-12"]',
            b'{"format":1,"tenant":"a","period":"2026-12","teams":{},"sellers":{}}',
            "does not name",
        ),
    ],
)
def test_anything_else_is_refused(key: bytes | None, value: bytes, said: str) -> None:
    with pytest.raises(QuotaRecordError, match=said):
        decode_quotas(key, value)


@pytest.mark.parametrize(
    ("key", "is_quotas"),
    [
        (b'["quotas","acme","2026-12"]', True),
        (b'["pipelines","acme"]', False),
        (b"[]", False),
        (b"quotas", False),
        (b"\xff", False),
        (None, False),
    ],
)
def test_other_kinds_of_control_record_are_told_apart_by_key(
    key: bytes | None, is_quotas: bool
) -> None:
    assert is_quota_key(key) == is_quotas


@pytest.mark.parametrize(
    ("seller_id", "most_bytes"),
    [
        (lambda n: f"seller-{n:05d}", 300_000),
        (lambda n: str(uuid.UUID(int=Random(n).getrandbits(128))), 560_000),
        (lambda n: f"firstname.lastname{n}@example-company.com", 620_000),
    ],
)
def test_ten_thousand_sellers_fit_in_one_record(
    seller_id: Callable[[int], str], most_bytes: int
) -> None:
    """Measured sizes (docs/metrics.md): 270 KB with short ids, 510 KB with UUIDs, 570 KB
    with e-mail addresses; 40 teams, amounts like 123456.50."""
    rng = Random(7)
    teams = [f"team-{n:02d}" for n in range(40)]
    quotas = PeriodQuotas(
        "default",
        DECEMBER,
        {
            seller_id(n): SellerQuota(
                Decimal(rng.randrange(50_000, 500_000)) + Decimal("0.50"), rng.choice(teams)
            )
            for n in range(10_000)
        },
        dict.fromkeys(teams, Decimal(1_000_000)),
    )
    key, value = encode_quotas(quotas)
    assert len(key) + len(value) < most_bytes < RECORD_LIMIT_BYTES
