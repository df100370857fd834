"""One deal with thousands of events cannot stop its partition (issue 20, finding 1).

Before the ceiling, a deal's history grew with every event until its changelog
record passed the broker's 1 MB limit, and every worker owning it crashed.
Now an event that would grow a deal's stored history past
DEALPULSE_MAX_DEAL_BYTES goes to the DLQ as `deal_too_long`: the worker keeps
going, every record stays under the ceiling, and the numbers equal
`dealpulse replay` of the same topic under the same ceiling.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from streams.domain.metric_rows import from_rows
from streams.ingest.dead_letter import REASON_HEADER
from streams.ingest.rejection import Reason
from streams.kafka.topics import changelog_topic, ensure_topics
from streams.simulator.messages import OutboundMessage, encode_event, format_timestamp
from tests.support.flow import Flow
from tests.support.kafka_io import committed_lag, produce, read_topic
from tests.support.oracle import differences, worker_state
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess
from tests.support.workload import CLOCK, clocked, simulated

pytestmark = pytest.mark.integration

CEILING = 16_384
POISON = "deal-poison"
POISON_EVENTS = 2_000
STAGES = ("lead", "qualified", "proposal", "negotiation")
ENVELOPE = 64  # {"partition":N,"history":...} around the history


def poison_deal() -> list[OutboundMessage]:
    """A deal created, then moved between stages 2,000 times: about 250 KB of history."""
    start = CLOCK - timedelta(days=20)
    messages = []
    for index in range(POISON_EVENTS):
        at = start + timedelta(minutes=index)
        event: dict[str, str | int] = {
            "schema_version": 1,
            "event_id": f"poison-{index:05d}",
            "type": "deal.created" if index == 0 else "deal.stage_changed",
            "occurred_at": format_timestamp(at),
            "deal_id": POISON,
            "pipeline": "new-business",
            "stage": STAGES[index % len(STAGES)],
            "owner": "seller-001",
            "amount": "1000.00",
            "currency": "EUR",
        }
        messages.append(encode_event(event, at))
    return messages


def test_a_deal_past_the_ceiling_is_dead_lettered_and_the_partition_goes_on(
    flow: Flow, tmp_path: Path
) -> None:
    messages = [*simulated(3_000, seed=31), *poison_deal()]
    asyncio.run(ensure_topics(flow.settings()))
    produce(flow.kafka.bootstrap, flow.topic, messages)
    env = {**clocked(flow.env()), "DEALPULSE_MAX_DEAL_BYTES": str(CEILING)}

    with WorkerProcess(env, flow.state_dir) as worker:
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=300,
            what="the worker to commit every offset",
        )
        partitions, streamed = worker_state(worker.base_url)
        samples = worker.scrape()
        assert worker.alive
    assert partitions == list(range(8))

    letters = read_topic(flow.kafka.bootstrap, flow.dlq)
    too_long = [
        letter
        for letter in letters
        if dict(letter.headers)[REASON_HEADER] == Reason.DEAL_TOO_LONG.value.encode()
    ]
    assert {letter.key for letter in too_long} == {POISON.encode()}
    assert 0 < len(too_long) < POISON_EVENTS
    rejected = samples[f'dealpulse_ingest_rejected_total{{reason="{Reason.DEAL_TOO_LONG}"}}']
    assert rejected == len(too_long)

    records = [r for r in read_topic(flow.kafka.bootstrap, changelog_topic(flow.settings()))]
    poison_records = [r for r in records if r.key == POISON.encode()]
    assert poison_records
    assert max(len(r.value or b"") for r in records) <= CEILING + ENVELOPE

    out = tmp_path / "replay.json"
    replay = subprocess.run(
        [sys.executable, "-m", "streams", "replay", "--topic", flow.topic, "--out", str(out)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert replay.returncode == 0, replay.stderr
    replayed = json.loads(out.read_text())
    assert replayed["rejected"][Reason.DEAL_TOO_LONG.value] == len(too_long)
    assert differences(streamed, from_rows(replayed["rows"])) == []
    reasons = Counter(dict(letter.headers)[REASON_HEADER].decode() for letter in letters)
    assert sum(reasons.values()) == sum(replayed["rejected"].values())
