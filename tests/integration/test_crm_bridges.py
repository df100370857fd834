"""Deal stories sent to the real bridge processes as the CRMs send them — Pipedrive and
HubSpot webhooks (signed, batched, redelivered, out of order), Salesforce change events
on a Connect source's topic (redelivered, with a gap event): a worker's numbers equal
the reference computation over the canonical events written by hand for the stories."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streams.bridges.signatures import (
    HUBSPOT_SIGNATURE_HEADER,
    HUBSPOT_TIMESTAMP_HEADER,
    hubspot_signature,
)
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.metric_context import build_context
from streams.simulator import OutboundMessage
from tests.support.bridge_process import BridgeProcess, ThreadedApp
from tests.support.bridges import PIPEDRIVE_TOML, SALESFORCE_TOML, epoch_ms, opportunity_event
from tests.support.crm_stories import (
    Source,
    Story,
    expected_events,
    hubspot_story,
    pipedrive_webhooks,
    salesforce_events,
    stories,
)
from tests.support.flow import Flow
from tests.support.hubspot import CLIENT_SECRET, HUBSPOT_TOML, TOKEN, basic_auth, crm_api_app
from tests.support.kafka_io import committed_lag, end_offsets, produce, read_topic
from tests.support.oracle import differences, worker_state
from tests.support.reference import reference
from tests.support.waiting import wait_for
from tests.support.worker_process import WorkerProcess
from tests.support.workload import CLOCK, clocked

pytestmark = pytest.mark.integration

DEALS_PER_SOURCE = 300
CONCURRENT_REQUESTS = 8
PIPEDRIVE_AUTH = ("pipedrive-hook", "hook-password-19")
SOURCES: tuple[Source, ...] = ("pipedrive", "hubspot", "salesforce")
REPO_ROOT = Path(__file__).resolve().parents[2]
SIMULATE_PIPEDRIVE = ["--deals", "200", "--format", "pipedrive", "--start", "2026-09-01"]
SIMULATE_PIPEDRIVE += ["--duplicate-pct", "2"]


def test_three_crms_through_the_bridges_equal_the_reference(flow: Flow, tmp_path: Path) -> None:
    told = stories(DEALS_PER_SOURCE, seed=1919, start=datetime(2026, 9, 1, tzinfo=UTC))
    hubspot_stories = [hubspot_story(story) for story in told]
    expected = [
        event for story in told for source in SOURCES for event in expected_events(story, source)
    ]
    webhooks = [webhook for story in told for webhook in pipedrive_webhooks(story)]
    hubspot_batches = batches([event for story in hubspot_stories for event in story.events])

    asyncio.run(ensure_topics(flow.settings()))
    (tmp_path / "pipedrive.toml").write_text(PIPEDRIVE_TOML)
    (tmp_path / "hubspot.toml").write_text(HUBSPOT_TOML)
    (tmp_path / "salesforce.toml").write_text(SALESFORCE_TOML)
    deals = {str(story.deal_id): story.api_document() for story in hubspot_stories}
    reads: list[str] = []
    env = {
        **flow.env(),
        "DEALPULSE_TOPIC_BRIDGE_DLQ": f"bridge-{flow.dlq}",
        "DEALPULSE_PIPEDRIVE_USERNAME": PIPEDRIVE_AUTH[0],
        "DEALPULSE_PIPEDRIVE_PASSWORD": PIPEDRIVE_AUTH[1],
        "DEALPULSE_HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
        "DEALPULSE_HUBSPOT_ACCESS_TOKEN": TOKEN,
    }
    with ThreadedApp(crm_api_app(deals, reads)) as crm:
        env["DEALPULSE_HUBSPOT_API_URL"] = crm.base_url
        with (
            BridgeProcess(
                "pipedrive", tmp_path / "pipedrive.toml", env, flow.state_dir
            ) as pipedrive,
            BridgeProcess("hubspot", tmp_path / "hubspot.toml", env, flow.state_dir) as hubspot,
        ):
            pipedrive_seconds = asyncio.run(post_pipedrive(pipedrive.base_url, webhooks))
            hubspot_seconds = asyncio.run(post_hubspot(hubspot.base_url, hubspot_batches))
            produced = {
                name: produced_events(bridge.scrape(), name)
                for name, bridge in (("pipedrive", pipedrive), ("hubspot", hubspot))
            }
    produced["salesforce"], salesforce_seconds = bridge_salesforce(flow, told, env, tmp_path)
    print(
        f"\npipedrive bridge: {produced['pipedrive']} events from {len(webhooks)} webhooks "
        f"(+ redeliveries) in {pipedrive_seconds:.2f} s = "
        f"{produced['pipedrive'] / pipedrive_seconds:.0f} events/s; "
        f"hubspot bridge: {produced['hubspot']} events from {len(hubspot_batches)} batches "
        f"in {hubspot_seconds:.2f} s = {produced['hubspot'] / hubspot_seconds:.0f} events/s "
        f"({len(reads)} CRM API reads); salesforce bridge: {produced['salesforce']} events "
        f"in {salesforce_seconds:.2f} s from the first record produced to the last commit = "
        f"{produced['salesforce'] / salesforce_seconds:.0f} events/s"
    )
    [gap] = read_topic(flow.kafka.bootstrap, env["DEALPULSE_TOPIC_BRIDGE_DLQ"])
    assert dict(gap.headers)["dealpulse.reason"] == b"unreplayable"
    written = sum(end_offsets(flow.kafka.bootstrap, flow.topic).values())
    assert written == sum(produced.values())
    assert written > len(expected)  # the redeliveries were produced again, to be de-duplicated

    with WorkerProcess(clocked(flow.env()), flow.state_dir) as worker:
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, flow.app_id, flow.topic) == 0,
            timeout_seconds=300,
            what="the worker to commit every offset",
        )
        _, actual = worker_state(worker.base_url)
    want = reference(expected, build_context(flow.settings(), CLOCK))
    assert len(want) > 500
    assert differences(actual, want) == []


def batches(events: list[dict[str, Any]]) -> list[bytes]:
    """HubSpot's requests: shuffled events, up to 100 a request; one event repeated inside
    a request, and one whole request delivered again (a later attempt)."""
    rng = random.Random(7)
    shuffled = list(events)
    rng.shuffle(shuffled)
    chunks = [shuffled[start : start + 99] for start in range(0, len(shuffled), 99)]
    chunks[0].append({**chunks[0][0], "attemptNumber": 1})
    chunks.append([{**event, "attemptNumber": 1} for event in chunks[1]])
    return [json.dumps(chunk).encode() for chunk in chunks]


async def post_pipedrive(base_url: str, webhooks: Sequence[dict[str, Any]]) -> float:
    """Post every webhook (shuffled, a tenth delivered twice); the seconds it took."""
    rng = random.Random(8)
    deliveries = [*webhooks, *({**w, "meta": {**w["meta"], "attempt": 2}} for w in webhooks[::10])]
    rng.shuffle(deliveries)
    bodies = [json.dumps(webhook, default=str).encode() for webhook in deliveries]
    headers = {"Authorization": basic_auth(*PIPEDRIVE_AUTH), "Content-Type": "application/json"}
    return await post_all(f"{base_url}/webhooks/pipedrive", bodies, lambda _: headers)


async def post_hubspot(base_url: str, bodies: Sequence[bytes]) -> float:
    url = f"{base_url}/webhooks/hubspot"

    def signed(body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time() * 1000))
        return {
            HUBSPOT_SIGNATURE_HEADER: hubspot_signature(
                CLIENT_SECRET, "POST", url, body, timestamp
            ),
            HUBSPOT_TIMESTAMP_HEADER: timestamp,
            "Content-Type": "application/json",
        }

    return await post_all(url, bodies, signed)


async def post_all(
    url: str, bodies: Sequence[bytes], headers_for: Callable[[bytes], dict[str, str]]
) -> float:
    """POST every body, `CONCURRENT_REQUESTS` at a time, each answered 204; the seconds."""
    queue = list(reversed(bodies))
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:

        async def poster() -> None:
            while queue:
                body = queue.pop()
                async with session.post(url, data=body, headers=headers_for(body)) as response:
                    assert response.status == 204, (response.status, await response.text())

        await asyncio.gather(*(poster() for _ in range(CONCURRENT_REQUESTS)))
    return time.perf_counter() - started


def produced_events(samples: dict[str, float], source: str) -> int:
    prefix = "dealpulse_bridge_events_total{"
    return int(
        sum(
            value
            for name, value in samples.items()
            if name.startswith(prefix) and f'source="{source}"' in name
        )
    )


REFUSED_GAP = 'dealpulse_bridge_refusals_total{reason="unreplayable",source="salesforce"}'


def salesforce_messages(told: list[Story]) -> list[OutboundMessage]:
    """The change events as the Connect source writes them (JSON, keyed by record id), a
    tenth of them twice (a connector restarted from an older offset), and one gap."""
    events = [event for story in told for event in salesforce_events(story)]
    gap = opportunity_event(
        "GAP_UPDATE", ["006Hs99999999AAAAIA"], epoch_ms("2026-09-15T12:00:00"), "gap-0001"
    )
    return [
        OutboundMessage(
            key=event["ChangeEventHeader"]["recordIds"][0].encode(),
            value=json.dumps(event, default=float).encode(),
        )
        for event in [*events, *events[::10], gap]
    ]


def bridge_salesforce(
    flow: Flow, told: list[Story], env: dict[str, str], tmp_path: Path
) -> tuple[int, float]:
    """Run the Salesforce bridge over the stories' change events until it has committed
    them all; the events it produced, and the seconds from the first record produced to
    the last offset committed (the polling of `wait_for` included)."""
    topic = f"salesforce.{flow.topic}"
    asyncio.run(ensure_topics(flow.settings(), [TopicSpec(topic, 3, 1)]))
    group = f"bridge-{flow.app_id}"
    env = {**env, "DEALPULSE_SALESFORCE_TOPIC": topic, "DEALPULSE_SALESFORCE_GROUP_ID": group}
    with BridgeProcess("salesforce", tmp_path / "salesforce.toml", env, flow.state_dir) as bridge:
        started = time.perf_counter()  # the bridge is up: produce, and wait for its commits
        produce(flow.kafka.bootstrap, topic, salesforce_messages(told))
        wait_for(
            lambda: committed_lag(flow.kafka.bootstrap, group, topic) == 0,
            timeout_seconds=120,
            what="the Salesforce bridge to commit every offset",
        )
        seconds = time.perf_counter() - started
        samples = bridge.scrape()
    assert samples[REFUSED_GAP] == 1
    return produced_events(samples, "salesforce"), seconds


def test_the_simulator_posts_pipedrive_webhooks_to_the_bridge(flow: Flow) -> None:
    env = {
        **flow.env(),
        "DEALPULSE_TOPIC_BRIDGE_DLQ": f"bridge-{flow.dlq}",
        "DEALPULSE_PIPEDRIVE_USERNAME": PIPEDRIVE_AUTH[0],
        "DEALPULSE_PIPEDRIVE_PASSWORD": PIPEDRIVE_AUTH[1],
    }
    mapping = REPO_ROOT / "deploy" / "bridges" / "simulated-pipedrive.toml"
    with BridgeProcess("pipedrive", mapping, env, flow.state_dir) as bridge:
        env["DEALPULSE_BRIDGE_PIPEDRIVE_PORT"] = str(bridge.port)
        result = subprocess.run(
            [sys.executable, "-m", "streams", "simulate", *SIMULATE_PIPEDRIVE],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        sent = int(result.stderr.split()[0])
        samples = bridge.scrape()
    assert samples['dealpulse_bridge_requests_total{source="pipedrive",status="204"}'] == sent
    assert produced_events(samples, "pipedrive") >= sent
    assert not any(name.startswith("dealpulse_bridge_refusals_total") for name in samples)
