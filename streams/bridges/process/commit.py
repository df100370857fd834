"""Committing what a Kafka → Kafka bridge consumed, once everything it gave is acknowledged."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

log = logging.getLogger(__name__)


class Committer(Protocol):
    async def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None: ...


async def commit_consumed(
    consumer: Committer, offsets: Mapping[TopicPartition, int] | None = None
) -> bool:
    """Commit `offsets` (all consumed when `None`); False when a rebalance took the
    partitions away first. The next owner then reads the batch again, and produces the
    same bytes (the event ids are the source's), which the workers de-duplicate."""
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, IllegalStateError) as error:
        log.warning("offsets not committed (the group rebalanced): %s", error)
        return False
    return True
