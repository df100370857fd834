"""Sales quotas: per seller (and optionally per team), per month or quarter, in reporting currency.

The unit of a quota change is one tenant's period: a load replaces every quota
of each (tenant, period) it names and leaves the other periods as they were, so
`PeriodQuotas` holds the whole of one (tenant, period) and the newest one is
the state. A seller's quota may name the seller's team (its `team` label); a
team's own quota is separate and says nothing about which sellers are in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from streams.domain.quota_periods import QuotaPeriod


@dataclass(frozen=True, slots=True)
class SellerQuota:
    amount: Decimal
    team: str | None = None


@dataclass(frozen=True, slots=True)
class PeriodQuotas:
    """Every quota of one tenant in one period: what a load of that period replaces."""

    tenant: str
    period: QuotaPeriod
    sellers: Mapping[str, SellerQuota]
    teams: Mapping[str, Decimal]

    @property
    def rows(self) -> int:
        return len(self.sellers) + len(self.teams)
