"""The worker's quota table: the agent's step, and the quotas a scrape reads from it."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from streams.domain.quota_periods import parse_period
from streams.domain.quota_record import decode_quotas, encode_quotas, record_key
from streams.domain.quotas import PeriodQuotas, SellerQuota
from streams.worker.quota_table import QuotaTable

NOVEMBER = PeriodQuotas(
    "acme", parse_period("2026-11"), {"alice": SellerQuota(Decimal(100), "emea")}, {}
)
DECEMBER = PeriodQuotas("acme", parse_period("2026-12"), {}, {"emea": Decimal(900)})


def held(*records: tuple[bytes | None, bytes | None]) -> tuple[dict[bytes, bytes], QuotaTable]:
    table: dict[bytes, bytes] = {}
    quotas = QuotaTable(table)
    for key, value in records:
        quotas.hold(key, value, "control[0]@1")
    return table, quotas


def test_a_record_replaces_its_period_and_no_other() -> None:
    november_again = PeriodQuotas(
        "acme", parse_period("2026-11"), {"bob": SellerQuota(Decimal(5))}, {}
    )
    _, quotas = held(
        encode_quotas(NOVEMBER), encode_quotas(DECEMBER), encode_quotas(november_again)
    )
    assert sorted(quotas.current(), key=lambda q: str(q.period)) == [november_again, DECEMBER]


def test_a_tombstone_removes_its_period() -> None:
    table, quotas = held(
        encode_quotas(NOVEMBER), encode_quotas(DECEMBER), (record_key("acme", "2026-11"), None)
    )
    assert quotas.current() == (DECEMBER,)
    assert list(table) == [encode_quotas(DECEMBER)[0]]


def test_other_kinds_of_record_are_left_to_their_agents() -> None:
    table, _ = held((b'["pipelines","acme"]', b"{}"), (None, b"{}"), (b"\xff", None))
    assert table == {}


def test_a_bad_record_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    key, _ = encode_quotas(NOVEMBER)
    with caplog.at_level(logging.WARNING):
        table, _ = held(encode_quotas(DECEMBER), (key, b'{"format":1}'))
    assert list(table) == [encode_quotas(DECEMBER)[0]]
    (record,) = caplog.records
    assert record.getMessage() == "quota record skipped"
    assert record.__dict__["at"] == "control[0]@1"


def test_a_record_is_decoded_once_until_it_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.worker import quota_table

    decoded: list[bytes] = []
    original = decode_quotas

    def counting(key: bytes | None, value: bytes) -> PeriodQuotas:
        decoded.append(value)
        return original(key, value)

    table, quotas = held(encode_quotas(NOVEMBER))
    monkeypatch.setattr(quota_table, "decode_quotas", counting)
    for _ in range(3):
        assert quotas.current() == (NOVEMBER,)
    assert len(decoded) == 1
    key, value = encode_quotas(DECEMBER)
    table[key] = value  # as the changelog brings it on a worker whose agent did not
    assert sorted(quotas.current(), key=lambda q: str(q.period)) == [NOVEMBER, DECEMBER]
    assert len(decoded) == 2
