"""10,000 good events mixed with 1,000 bad ones of 16 kinds, through a real worker."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from streams.ingest.dead_letter import ORIGIN_HEADER, REASON_HEADER, TRUNCATED_HEADER
from streams.ingest.rejection import Reason
from streams.kafka.topics import ensure_topics
from streams.simulator import InvalidKind
from tests.support.flow import Flow
from tests.support.kafka_io import committed_lag, produce, read_topic
from tests.support.mixed_batch import EXPECTED_REASON, mixed_batch
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

VALID = 10_000
INVALID = 1_000
ACCEPTED = 'dealpulse_ingest_messages_total{outcome="accepted"}'
REJECTED = 'dealpulse_ingest_messages_total{outcome="rejected"}'


def test_bad_messages_go_to_the_dlq_and_good_ones_reach_the_fold(flow: Flow) -> None:
    batch = mixed_batch(VALID, INVALID)
    asyncio.run(ensure_topics(flow.settings()))
    produce(flow.kafka.bootstrap, flow.topic, batch.shuffled)

    with WorkerProcess(flow.env(), flow.state_dir) as worker:
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=180,
            what="the worker to commit every offset",
        )
        samples = worker.scrape()
        assert worker.alive
    assert samples[ACCEPTED] == VALID
    assert samples[REJECTED] == INVALID
    assert samples["dealpulse_fold_events_total"] == VALID
    assert samples["dealpulse_fold_duplicates_total"] == 0

    letters = read_topic(flow.kafka.bootstrap, flow.dlq)
    assert len(letters) == INVALID
    reasons = Counter(dict(letter.headers)[REASON_HEADER].decode() for letter in letters)
    expected: Counter[str] = Counter(
        EXPECTED_REASON[InvalidKind(message.invalid_kind or "")].value for message in batch.invalid
    )
    assert reasons == expected
    assert len(reasons) >= 10
    for reason, count in reasons.items():
        assert samples[f'dealpulse_ingest_rejected_total{{reason="{reason}"}}'] == count
    limit = flow.settings().max_message_bytes  # an oversize value's copy is cut to it
    kept = Counter(m.value if m.value is None else m.value[:limit] for m in batch.invalid)
    assert Counter(letter.value for letter in letters) == kept
    cut = [letter for letter in letters if TRUNCATED_HEADER in dict(letter.headers)]
    assert len(cut) == sum(1 for m in batch.invalid if m.value and len(m.value) > limit) > 0
    assert all(
        dict(letter.headers)[ORIGIN_HEADER].startswith(flow.topic.encode()) for letter in letters
    )
    assert Reason.BAD_CLOUDEVENT.value in reasons
