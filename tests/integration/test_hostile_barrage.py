"""Sixty kinds of bad message and one of 1 MB, mixed into good traffic, through a real worker.

Each bad message is dead-lettered once, with the reason written for its kind
(`tests/support/barrage.py`); the 1 MB one, which the broker takes but the DLQ
could not hold whole, is dead-lettered as a bounded copy with its size and
digest (issue 20, findings 4 and 9); the good events' numbers are exact.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter

import pytest

from streams.ingest.dead_letter import (
    DIGEST_HEADER,
    ORIGIN_HEADER,
    REASON_HEADER,
    TRUNCATED_HEADER,
)
from streams.ingest.rejection import Reason
from streams.kafka.topics import ensure_topics
from streams.simulator import InvalidKind, OutboundMessage
from tests.support.barrage import KINDS, barrage
from tests.support.flow import Flow
from tests.support.kafka_io import committed_lag, produce, read_topic
from tests.support.mixed_batch import EXPECTED_REASON
from tests.support.oracle import accepted_events, batch_result, differences, worker_state
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess
from tests.support.workload import CLOCK, clocked, simulated

pytestmark = pytest.mark.integration

NEAR_THE_BROKER_LIMIT = 1_040_000


def test_a_hostile_barrage_is_dead_lettered_once_each_and_good_numbers_stay_exact(
    flow: Flow,
) -> None:
    good = simulated(6_000, seed=81)
    templates = [message for message in good if message.invalid_kind is None][: len(KINDS) * 10]
    hostile = barrage(templates)
    huge_value = b'{"padding":"' + b"x" * (NEAR_THE_BROKER_LIMIT - 14) + b'"}'
    huge = OutboundMessage(key=templates[0].key, value=huge_value)
    messages = [*good, *(message for _, message in hostile), huge]
    asyncio.run(ensure_topics(flow.settings()))
    produce(flow.kafka.bootstrap, flow.topic, messages)

    with WorkerProcess(clocked(flow.env()), flow.state_dir) as worker:
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=300,
            what="the worker to commit every offset",
        )
        partitions, actual = worker_state(worker.base_url)
        samples = worker.scrape()
        assert worker.alive
    assert partitions == list(range(8))
    assert differences(actual, batch_result(messages, flow.settings(), CLOCK)) == []
    accepted = len(accepted_events(messages, flow.settings(), CLOCK))
    assert samples['dealpulse_ingest_messages_total{outcome="accepted"}'] == accepted

    letters = read_topic(flow.kafka.bootstrap, flow.dlq)
    expected: Counter[str] = Counter(kind.reason.value for kind, _ in hostile)
    expected.update(
        EXPECTED_REASON[InvalidKind(message.invalid_kind)].value
        for message in good
        if message.invalid_kind is not None
    )
    expected[Reason.OVERSIZE.value] += 1
    reasons = Counter(dict(letter.headers)[REASON_HEADER].decode() for letter in letters)
    assert reasons == expected
    assert len(letters) == len(messages) - accepted
    origins = [dict(letter.headers)[ORIGIN_HEADER] for letter in letters]
    assert len(set(origins)) == len(origins)  # none dead-lettered twice

    (cut,) = [
        letter
        for letter in letters
        if f"value {len(huge_value)}".encode() in dict(letter.headers).get(TRUNCATED_HEADER, b"")
    ]
    headers = dict(cut.headers)
    assert cut.value == huge_value[: flow.settings().max_message_bytes]
    assert headers[DIGEST_HEADER] == hashlib.sha256(huge_value).hexdigest().encode()
    assert headers[REASON_HEADER] == Reason.OVERSIZE.value.encode()
