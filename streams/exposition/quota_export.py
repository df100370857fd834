"""`dealpulse_quota` and `dealpulse_team_quota`: the quotas of the periods around now, as text.

Quotas come from the control plane (every worker holds all of them), not from
deal state, so they are rendered apart from the business families, after them
in the same scrape: the seller cap follows the business families' choice of
that scrape (`seller_cap.quota_sellers_kept`), so `won / quota` matches label
for label. Per granularity (month, quarter), the periods exported are those of
the other metrics' exported windows counted back from now (`current`,
`previous`, ...) and the one after (`next`), by the worker's clock in the
window timezone. A period without quotas exports nothing. The labels are those
of the forecast families (`granularity`, `window`), without the deal metrics'
`window_start`: a seller's current quota stays one series across a period's end,
as its forecast does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from decimal import Decimal

from streams.domain.contributions import MISSING, ZERO, Labels
from streams.domain.money import EXACT
from streams.domain.quota_periods import PeriodGranularity, QuotaPeriod, period_of
from streams.domain.quotas import PeriodQuotas
from streams.domain.windows import local_date
from streams.exposition.catalogue import QUOTA, QUOTA_METRICS, TEAM_QUOTA, WINDOW_LABEL
from streams.exposition.samples import window_name
from streams.exposition.seller_cap import (
    OTHER_SELLER,
    SELLER_LABEL,
    TENANT_LABEL,
    ShownSellers,
    quota_sellers_kept,
)
from streams.exposition.text import go_float, header, label_text

NEXT_WINDOW = "next"
TEAM_LABEL = "team"
GRANULARITY_LABEL = "granularity"

QuotaSamples = dict[tuple[str, Labels], Decimal]
"""Sample values by family name and labels (sorted by name, as `label_text` writes them)."""


def quota_windows(now: datetime, tz: tzinfo, export_windows: int) -> dict[QuotaPeriod, str]:
    """The periods on /metrics, each with its `window` label."""
    today = local_date(now, tz)
    windows: dict[QuotaPeriod, str] = {}
    for granularity in PeriodGranularity:
        current = period_of(today, granularity)
        windows[current.shifted(1)] = NEXT_WINDOW
        for back in range(export_windows):
            windows[current.shifted(-back)] = window_name(back)
    return windows


def quota_samples(
    periods: Iterable[PeriodQuotas],
    windows: Mapping[QuotaPeriod, str],
    shown: Mapping[str, ShownSellers],
    max_sellers: int,
) -> QuotaSamples:
    """The samples of the quotas of the periods in `windows`, the seller cap applied."""
    exported = [quotas for quotas in periods if quotas.period in windows]
    sellers_by_tenant: dict[str, set[str]] = {}
    for quotas in exported:
        sellers_by_tenant.setdefault(quotas.tenant, set()).update(quotas.sellers)
    kept = {
        tenant: quota_sellers_kept(shown.get(tenant), sellers, max_sellers)
        for tenant, sellers in sellers_by_tenant.items()
    }
    samples: QuotaSamples = {}
    for quotas in exported:
        period = quotas.period
        window = (
            (GRANULARITY_LABEL, period.granularity.value),
            (WINDOW_LABEL, windows[period]),
        )
        keeping = kept[quotas.tenant] if quotas.sellers else frozenset()
        for seller, quota in quotas.sellers.items():
            labels = _sorted(
                (TENANT_LABEL, quotas.tenant),
                (SELLER_LABEL, seller if seller in keeping else OTHER_SELLER),
                (TEAM_LABEL, quota.team or MISSING),
                *window,
            )
            _add(samples, (QUOTA.name, labels), quota.amount)
        for team, amount in quotas.teams.items():
            labels = _sorted((TENANT_LABEL, quotas.tenant), (TEAM_LABEL, team), *window)
            _add(samples, (TEAM_QUOTA.name, labels), amount)
    return samples


def render_quotas(samples: QuotaSamples) -> bytes:
    """The quota families in the Prometheus text format, samples sorted by their labels."""
    lines: list[str] = []
    for spec in QUOTA_METRICS:
        lines.append(header(spec.name, spec.kind, spec.help))
        lines.extend(
            f"{name}{label_text(labels)} {go_float(float(value))}\n"
            for (name, labels), value in sorted(samples.items())
            if name == spec.name
        )
    return "".join(lines).encode()


class QuotaExport:
    """The quota families of a worker, rendered again only when what they show changed.

    Quotas change when someone loads a file, the periods around now once a
    month, the cap's choice of sellers when the business families change it; a
    scrape otherwise reuses the last body (at 10,000 sellers in 6 periods a
    render takes about 0.2 s of a thread).
    """

    def __init__(self, export_windows: int, max_sellers: int) -> None:
        self._export_windows = export_windows
        self._max_sellers = max_sellers
        self._held: tuple[PeriodQuotas, ...] = ()
        self._inputs: tuple[object, ...] | None = None
        self._body = b""

    def render(
        self,
        held: tuple[PeriodQuotas, ...],
        now: datetime,
        tz: tzinfo,
        shown: Mapping[str, ShownSellers],
    ) -> bytes:
        """`held` is `QuotaTable.current()`, whose entries stay the same objects until their
        period is loaded again."""
        windows = quota_windows(now, tz, self._export_windows)
        inputs = (windows, dict(shown))
        same_quotas = len(held) == len(self._held) and all(
            new is old for new, old in zip(held, self._held, strict=True)
        )
        if not (same_quotas and inputs == self._inputs):
            samples = quota_samples(held, windows, shown, self._max_sellers)
            self._body = render_quotas(samples)
            self._held, self._inputs = held, inputs
        return self._body


def _sorted(*pairs: tuple[str, str]) -> Labels:
    return tuple(sorted(pairs))


def _add(samples: QuotaSamples, key: tuple[str, Labels], amount: Decimal) -> None:
    samples[key] = EXACT.add(samples.get(key, ZERO), amount)
