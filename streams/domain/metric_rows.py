"""Aggregates snapshots as JSON-able rows, so workers, replays and tests can compare them.

A row is `[metric, {label: value}, granularity | null, window_start | null, value]`
with the value as a decimal string: exact, and readable by any language.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import orjson

from streams.domain.contributions import ContributionKey
from streams.domain.money import EXACT
from streams.domain.windows import Granularity, Window

Row = list[Any]
DIGEST_BITS = 256


def to_rows(snapshot: Mapping[ContributionKey, Decimal]) -> list[Row]:
    return encode_rows(sorted_items(snapshot.items()))


def sorted_items(
    items: Iterable[tuple[ContributionKey, Decimal]],
) -> list[tuple[ContributionKey, Decimal]]:
    """`items` in the order of their rows."""
    return sorted(items, key=_order)


def encode_rows(items: Iterable[tuple[ContributionKey, Decimal]]) -> list[Row]:
    return [
        [
            key.metric,
            dict(key.labels),
            key.window.granularity.value if key.window else None,
            key.window.start.isoformat() if key.window else None,
            str(value),
        ]
        for key, value in items
    ]


def _order(item: tuple[ContributionKey, Decimal]) -> tuple[str, Any, str, str]:
    key = item[0]
    window = key.window
    return (
        key.metric,
        key.labels,
        window.granularity.value if window else "",
        window.start.isoformat() if window else "",
    )


def from_rows(rows: Iterable[Row]) -> dict[ContributionKey, Decimal]:
    snapshot: dict[ContributionKey, Decimal] = {}
    for metric, label_map, granularity, start, value in rows:
        window = (
            Window(Granularity(granularity), date.fromisoformat(start)) if granularity else None
        )
        key = ContributionKey(metric, tuple(sorted(label_map.items())), window)
        snapshot[key] = Decimal(value)
    return snapshot


def rows_digest(items: Iterable[tuple[ContributionKey, Decimal]]) -> str:
    """A hex digest of a snapshot's items, shared exactly by snapshots of the same values.

    Lets a check compare a large state without moving it (the whole state as
    JSON is about 200 MB at a million events, and building it was most of a
    worker's peak memory). Each row is hashed on its own, with its value
    normalised (3 and 3.00 are the same number, and the exponent of a sum
    depends on what was added and retracted), and the hashes are summed modulo
    2**256: no sorted copy of the state is needed.
    """
    total = 0
    for key, value in items:
        window = key.window
        row = orjson.dumps(
            [
                key.metric,
                key.labels,
                window.granularity.value if window else None,
                window.start.isoformat() if window else None,
                str(value.normalize(EXACT)),
            ]
        )
        total += int.from_bytes(hashlib.blake2b(row, digest_size=DIGEST_BITS // 8).digest())
    return f"{total % 2**DIGEST_BITS:0{DIGEST_BITS // 4}x}"
