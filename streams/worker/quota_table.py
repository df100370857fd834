"""The worker's quotas: a Faust global table that the control topic's agent fills.

Every worker holds every quota (a global table reads its whole changelog), so
each worker's /metrics shows them all, and a worker that starts later reads the
changelog from its start. The agent checks a record before it writes it: the
table only ever holds quota records that decode, keyed by (tenant, period), so
a load replaces the periods it names and no other. `current` decodes each
record once, when it changes, for the scrapes to read.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping

from streams.domain.quota_record import QuotaRecordError, decode_quotas, is_quota_key
from streams.domain.quotas import PeriodQuotas

log = logging.getLogger(__name__)


class QuotaTable:
    """The quotas of a global table (keys and values as the control records hold them)."""

    def __init__(self, table: MutableMapping[bytes, bytes]) -> None:
        self._table = table
        self._decoded: dict[bytes, tuple[bytes, PeriodQuotas | None]] = {}

    def hold(self, key: bytes | None, value: bytes | None, where: str) -> None:
        """Apply one control record: a quota record replaces its period, a tombstone removes
        it; a record of another kind is another agent's, a bad one is logged and skipped."""
        if key is None or not is_quota_key(key):
            return
        if value is None:
            if key in self._table:
                del self._table[key]
            return
        try:
            quotas = decode_quotas(key, value)
        except QuotaRecordError as error:
            log.warning("quota record skipped", extra={"at": where, "error": str(error)})
            return
        self._table[key] = value
        log.info(
            "quotas held",
            extra={"tenant": quotas.tenant, "period": str(quotas.period), "rows": quotas.rows},
        )

    def current(self) -> tuple[PeriodQuotas, ...]:
        """Every period's quotas as the table holds them now (call it on the event loop)."""
        decoded: dict[bytes, tuple[bytes, PeriodQuotas | None]] = {}
        for key, value in list(self._table.items()):
            known = self._decoded.get(key)
            if known is not None and known[0] == value:
                decoded[key] = known
                continue
            try:
                decoded[key] = (value, decode_quotas(key, value))
            except QuotaRecordError as error:  # not written by `hold`: said once, then skipped
                log.warning("quota record unreadable", extra={"key": key, "error": str(error)})
                decoded[key] = (value, None)
        self._decoded = decoded
        return tuple(quotas for _, quotas in decoded.values() if quotas is not None)
