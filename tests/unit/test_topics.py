"""Topic creation: a topic just created may take a moment to show in the broker's metadata."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.errors import ConfigurationError
from streams.kafka import topics
from streams.kafka.topics import TopicSpec, _check_partitions

EVENTS = TopicSpec("events", 8, 1)


class SlowMetadata:
    """An admin client whose metadata lists the topic only after `hidden_for` describes."""

    def __init__(self, hidden_for: int, partitions: int = 8) -> None:
        self.hidden_for = hidden_for
        self.partitions = partitions
        self.describes = 0

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        self.describes += 1
        if self.describes <= self.hidden_for:
            return [{"topic": name, "partitions": []} for name in names]
        return [{"topic": name, "partitions": list(range(self.partitions))} for name in names]


def test_a_topic_that_shows_late_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topics, "VISIBLE_POLL_SECONDS", 0.0)
    admin = SlowMetadata(hidden_for=3)
    asyncio.run(_check_partitions(admin, [EVENTS]))
    assert admin.describes == 4


def test_a_topic_that_never_shows_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topics, "VISIBLE_WITHIN_SECONDS", 0.05)
    monkeypatch.setattr(topics, "VISIBLE_POLL_SECONDS", 0.01)
    with pytest.raises(ConfigurationError, match="does not exist and could not be created"):
        asyncio.run(_check_partitions(SlowMetadata(hidden_for=10**6), [EVENTS]))


def test_other_partition_counts_are_refused_at_once() -> None:
    admin = SlowMetadata(hidden_for=0, partitions=4)
    with pytest.raises(ConfigurationError, match="has 4 partitions"):
        asyncio.run(_check_partitions(admin, [EVENTS]))
    assert admin.describes == 1


def test_the_control_topic_has_one_partition_whatever_the_settings() -> None:
    admin = SlowMetadata(hidden_for=0, partitions=8)
    control = TopicSpec("control", 1, 1, partitions_setting=None)
    with pytest.raises(ConfigurationError, match="has 8 partitions where dealpulse needs 1"):
        asyncio.run(_check_partitions(admin, [control]))
