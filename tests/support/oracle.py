"""The batch computation the stream is checked against, from the same messages."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from streams.domain.contributions import ContributionKey
from streams.domain.events import DealEvent
from streams.domain.metric_rows import from_rows
from streams.domain.replay import compute
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage
from streams.metric_context import build_context
from streams.settings import Settings
from streams.simulator import OutboundMessage

Snapshot = dict[ContributionKey, Decimal]


def accepted_events(
    messages: Iterable[OutboundMessage], settings: Settings, now: datetime
) -> list[DealEvent]:
    ingestor = Ingestor(settings, clock=lambda: now)
    events = []
    for message in messages:
        outcome = ingestor.ingest(
            RawMessage(key=message.key, value=message.value, headers=message.headers)
        )
        if isinstance(outcome, DealEvent):
            events.append(outcome)
    return events


def batch_result(
    messages: Iterable[OutboundMessage], settings: Settings, now: datetime
) -> Snapshot:
    ctx = build_context(settings, now)
    return compute(accepted_events(messages, settings, now), ctx)


class WorkerState(NamedTuple):
    partitions: list[int]
    """The partitions the worker owns, sorted."""
    snapshot: Snapshot
    """Their aggregates, summed by the worker."""


def worker_state(base_url: str, *, recompute: bool = False) -> WorkerState:
    """Owned partitions and aggregates of one worker (recomputed from its table if asked)."""
    query = "?recompute=1" if recompute else ""
    with urllib.request.urlopen(f"{base_url}/state/aggregates{query}", timeout=60) as response:  # noqa: S310
        body = json.loads(response.read())
    return WorkerState(sorted(body["partitions"]), from_rows(body["rows"]))


def worker_partitions(base_url: str) -> list[int]:
    """The partitions a worker owns, sorted."""
    return worker_state(base_url).partitions


def owned_once(base_urls: Iterable[str], partitions: int) -> list[WorkerState] | None:
    """Each worker's state, once the workers own all `partitions` exactly once."""
    states = [worker_state(base_url) for base_url in base_urls]
    owned = sorted(partition for state in states for partition in state.partitions)
    return states if owned == list(range(partitions)) else None


def summed(snapshots: Iterable[Snapshot]) -> Snapshot:
    total: Snapshot = {}
    for snapshot in snapshots:
        for key, value in snapshot.items():
            total[key] = total.get(key, Decimal(0)) + value
    return {key: value for key, value in total.items() if value != 0}


def differences(actual: Snapshot, expected: Snapshot, limit: int = 10) -> list[str]:
    keys = sorted(set(actual) | set(expected), key=repr)
    diffs = [
        f"{key}: stream {actual.get(key)} != batch {expected.get(key)}"
        for key in keys
        if actual.get(key) != expected.get(key)
    ]
    return diffs[:limit] + ([f"... {len(diffs) - limit} more"] if len(diffs) > limit else [])


def batch_by_partition(
    consumed: Iterable[tuple[int, OutboundMessage]], settings: Settings, now: datetime
) -> dict[int, Snapshot]:
    """The batch result of each partition, from (partition, message) pairs read back."""
    by_partition: dict[int, list[OutboundMessage]] = {}
    for partition, message in consumed:
        by_partition.setdefault(partition, []).append(message)
    return {p: batch_result(messages, settings, now) for p, messages in by_partition.items()}
