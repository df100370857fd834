"""One (tenant, period)'s quotas as a control-topic record: its key and its value, declared.

The control topic is compacted, and a load replaces whole periods, so a record
holds *all* the quotas of one tenant's period and is keyed by (tenant, period)
alone: compaction then keeps exactly the newest state of every period, and a
worker reading the topic from the start ends with the same quotas as one that
read every load as it came.

The key is the JSON array `["quotas", "<tenant>", "<period>"]`: its first element
names the kind of control record, so other kinds (pipelines, rates) can share
the topic, each read by its own agent. The value is JSON, with
sellers grouped by team so that a team's name is written once, not once per
seller: a period of 10,000 sellers is a record of a few hundred KB, under the
1 MB a Kafka message may have (docs/metrics.md gives the measured size).
Amounts are decimal strings: money is never a float.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from streams.domain.quota_periods import parse_period
from streams.domain.quotas import PeriodQuotas, SellerQuota

FORMAT_VERSION = 1
QUOTAS_KIND = "quotas"
"""The first element of a quota record's key."""
NO_TEAM = ""
"""The team key of the sellers whose quota names no team (the CSV's empty cell)."""
RECORD_LIMIT_BYTES = 990_000
"""The largest key plus value a quota record may have: Faust's producer refuses requests over
1,000,000 bytes (`producer_max_request_size`) and the broker messages over 1,048,588 by
default; the global table's changelog record is the same size as the control record."""


class PeriodQuotasRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The value of a quota record (the key names the same tenant and period)."""

    format: int
    tenant: str
    period: str
    teams: dict[str, Decimal]
    """Each team's own quota."""
    sellers: dict[str, dict[str, Decimal]]
    """Seller quotas, by the team each names (`NO_TEAM`: none), then by seller."""


class QuotaRecordError(ValueError):
    """A control record that is not a quota record of this format."""


_key_encoder = msgspec.json.Encoder()
_key_decoder = msgspec.json.Decoder(list[str])
_value_encoder = msgspec.json.Encoder(decimal_format="string")
_value_decoder = msgspec.json.Decoder(PeriodQuotasRecord)


def record_key(tenant: str, period: str) -> bytes:
    return _key_encoder.encode((QUOTAS_KIND, tenant, period))


def is_quota_key(key: bytes | None) -> bool:
    """Whether a control record's key says it holds quotas (another kind, or no key: not)."""
    if key is None:
        return False
    try:
        names = _key_decoder.decode(key)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    return bool(names) and names[0] == QUOTAS_KIND


def encode_quotas(quotas: PeriodQuotas) -> tuple[bytes, bytes]:
    """The key and value of the record holding `quotas`."""
    sellers: dict[str, dict[str, Decimal]] = {}
    for seller, quota in sorted(quotas.sellers.items()):
        sellers.setdefault(quota.team or NO_TEAM, {})[seller] = quota.amount
    record = PeriodQuotasRecord(
        format=FORMAT_VERSION,
        tenant=quotas.tenant,
        period=str(quotas.period),
        teams=dict(sorted(quotas.teams.items())),
        sellers=dict(sorted(sellers.items())),
    )
    return record_key(quotas.tenant, str(quotas.period)), _value_encoder.encode(record)


def decode_quotas(key: bytes | None, value: bytes) -> PeriodQuotas:
    """The quotas a record holds; `QuotaRecordError` when it is not a valid quota record."""
    try:
        record = _value_decoder.decode(value)
        period = parse_period(record.period)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as error:
        raise QuotaRecordError(f"not a quota record: {error}") from None
    if record.format != FORMAT_VERSION:
        raise QuotaRecordError(f"quota record format {record.format}, not {FORMAT_VERSION}")
    if key is not None and key != record_key(record.tenant, record.period):
        raise QuotaRecordError(f"key {key!r} does not name {record.tenant!r}, {record.period}")
    amounts = [*record.teams.values()]
    amounts.extend(amount for team in record.sellers.values() for amount in team.values())
    if not all(amount.is_finite() and amount >= 0 for amount in amounts):
        raise QuotaRecordError("an amount is negative or not a number")
    sellers = {
        seller: SellerQuota(amount, team or None)
        for team, members in record.sellers.items()
        for seller, amount in members.items()
    }
    if len(sellers) != sum(len(members) for members in record.sellers.values()):
        raise QuotaRecordError("a seller is in two teams")
    return PeriodQuotas(record.tenant, period, sellers, record.teams)
