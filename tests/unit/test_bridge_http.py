"""The webhook bridges over HTTP: statuses for what a CRM or an attacker sends, events
produced only once acknowledged, refusals dead-lettered and counted, and HubSpot's CRM
API read from a local server speaking its documented shape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from streams.bridges.process.http_server import webhook_app
from streams.bridges.process.hubspot import WEBHOOK_PATH as HUBSPOT_PATH
from streams.bridges.process.hubspot import HubSpotApi, HubSpotSource
from streams.bridges.process.metrics import BridgeMetrics
from streams.bridges.process.output import BridgeOutput
from streams.bridges.process.pipedrive import WEBHOOK_PATH as PIPEDRIVE_PATH
from streams.bridges.process.pipedrive import PipedriveSource
from streams.bridges.signatures import (
    HUBSPOT_SIGNATURE_HEADER,
    HUBSPOT_TIMESTAMP_HEADER,
    hubspot_signature,
)
from streams.ingest.dead_letter import REASON_HEADER
from streams.ingest.ingestor import size_limits
from streams.settings import Settings
from tests.support.bridges import (
    RecordingSender,
    pipedrive_deal,
    pipedrive_mapping,
    pipedrive_webhook,
)
from tests.support.hubspot import (
    CLIENT_SECRET,
    TOKEN,
    HubSpotDealStory,
    basic_auth,
    crm_api_app,
    hubspot_event,
    hubspot_mapping,
)

EVENTS = "crm.deal-events"
DLQ = "crm.bridge-dlq"
MAX_BODY = 64 * 1024
LETTER_LIMITS = size_limits(Settings())
DAY = "2026-11-{:02d}T09:00:00.000"


@dataclass
class Bridge:
    client: TestClient[Any, Any]
    sender: RecordingSender
    metrics: BridgeMetrics
    crm_reads: list[str]

    def counted(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


Scenario = Callable[[Bridge], Awaitable[None]]


def story() -> HubSpotDealStory:
    deal = HubSpotDealStory(9001, first_event_id=500)
    deal.create(
        DAY.format(2),
        dealstage="appointmentscheduled",
        pipeline="default",
        amount="12000",
        hubspot_owner_id="7001",
        closedate="2026-12-31T00:00:00Z",
    )
    deal.change(DAY.format(3), "dealstage", "qualifiedtobuy")
    deal.change(DAY.format(4), "amount", "14000")
    return deal


def run_hubspot(scenario: Scenario, *, kafka_fails: bool = False, crm_status: int = 200) -> None:
    async def main() -> None:
        deals = {"9001": story().api_document()}
        reads: list[str] = []
        crm_app = crm_api_app(deals, reads)
        if crm_status != 200:

            async def failing(_: aiohttp.web.Request) -> aiohttp.web.Response:
                return aiohttp.web.json_response({"status": "error"}, status=crm_status)

            crm_app = aiohttp.web.Application()
            crm_app.router.add_get("/crm/v3/objects/deals/{deal_id}", failing)
        async with TestServer(crm_app) as crm, aiohttp.ClientSession() as session:
            api = HubSpotApi(session, str(crm.make_url("")), TOKEN, timeout_seconds=5)
            source = HubSpotSource(hubspot_mapping(), api, CLIENT_SECRET)
            await _serve(source, scenario, reads, kafka_fails)

    asyncio.run(main())


def run_pipedrive(scenario: Scenario) -> None:
    source = PipedriveSource(pipedrive_mapping(), "pipedrive", "hook-password")
    asyncio.run(_serve(source, scenario, [], kafka_fails=False))


async def _serve(source: Any, scenario: Scenario, reads: list[str], kafka_fails: bool) -> None:
    sender = RecordingSender(fail=kafka_fails)
    metrics = BridgeMetrics(source.path.rsplit("/", 1)[-1], CollectorRegistry())
    output = BridgeOutput(
        sender, events_topic=EVENTS, dlq_topic=DLQ, metrics=metrics, letter_limits=LETTER_LIMITS
    )
    app = webhook_app(source, output, metrics, max_body_bytes=MAX_BODY)
    async with TestClient(TestServer(app)) as client:
        await scenario(Bridge(client, sender, metrics, reads))


async def post_hubspot(
    bridge: Bridge,
    body: bytes,
    *,
    sent_at: datetime | None = None,
    secret: str = CLIENT_SECRET,
    signature: str | None = None,
) -> aiohttp.ClientResponse:
    timestamp = str(int((sent_at or datetime.now(UTC)).timestamp() * 1000))
    url = str(bridge.client.make_url(HUBSPOT_PATH))
    signed = signature or hubspot_signature(secret, "POST", url, body, timestamp)
    return await bridge.client.post(
        HUBSPOT_PATH,
        data=body,
        headers={
            "Content-Type": "application/json",
            HUBSPOT_SIGNATURE_HEADER: signed,
            HUBSPOT_TIMESTAMP_HEADER: timestamp,
        },
    )


def batch(*events: dict[str, Any]) -> bytes:
    return json.dumps(list(events)).encode()


# --- HubSpot -------------------------------------------------------------------------


def test_a_signed_batch_is_produced_keyed_by_deal_and_answered_once_acknowledged() -> None:
    async def scenario(bridge: Bridge) -> None:
        events = story().events
        response = await post_hubspot(bridge, batch(*events, {**events[1], "attemptNumber": 1}))
        assert response.status == 204
        produced = bridge.sender.on(EVENTS)
        assert [json.loads(value or b"")["type"] for _, value, _ in produced] == [
            "deal.created",
            "deal.stage_changed",
            "deal.amount_changed",
        ]
        assert {key for key, _, _ in produced} == {b"9001"}
        assert bridge.crm_reads == ["9001"]  # one read per deal per request
        assert (
            bridge.counted("dealpulse_bridge_events_total", source="hubspot", type="deal.created")
            == 1
        )
        assert (
            bridge.counted("dealpulse_bridge_requests_total", source="hubspot", status="204") == 1
        )

    run_hubspot(scenario)


def test_a_refused_event_is_dead_lettered_with_its_reason_beside_the_good_ones() -> None:
    async def scenario(bridge: Bridge) -> None:
        at_ms = story().events[0]["occurredAt"]
        contact = hubspot_event(900, "contact.creation", 51, at_ms)
        deletion = hubspot_event(901, "deal.deletion", 9001, at_ms + 1000)
        response = await post_hubspot(bridge, batch(contact, deletion))
        assert response.status == 204
        [(key, value, headers)] = bridge.sender.on(DLQ)
        assert headers[REASON_HEADER] == b"not_a_deal"
        assert json.loads(value or b"")["eventId"] == 900
        assert key == b"51"
        assert len(bridge.sender.on(EVENTS)) == 1
        metrics = await (await bridge.client.get("/metrics")).text()
        assert (
            'dealpulse_bridge_refusals_total{reason="not_a_deal",source="hubspot"} 1.0' in metrics
        )

    run_hubspot(scenario)


def test_a_deal_gone_from_hubspot_before_its_creation_was_read_is_dead_lettered() -> None:
    async def scenario(bridge: Bridge) -> None:
        gone = hubspot_event(902, "deal.creation", 4040, story().events[0]["occurredAt"])
        assert (await post_hubspot(bridge, batch(gone))).status == 204
        [(_, _, headers)] = bridge.sender.on(DLQ)
        assert headers[REASON_HEADER] == b"unreplayable"

    run_hubspot(scenario)


def test_an_object_id_that_is_no_record_id_is_dead_lettered_unread() -> None:
    async def scenario(bridge: Bridge) -> None:
        at_ms = story().events[0]["occurredAt"]
        creation = {**hubspot_event(903, "deal.creation", 0, at_ms), "objectId": "9001/../9001"}
        assert (await post_hubspot(bridge, batch(creation))).status == 204
        assert bridge.crm_reads == []  # the bearer token reads no other path
        [(_, _, headers)] = bridge.sender.on(DLQ)
        assert headers[REASON_HEADER] == b"malformed"

    run_hubspot(scenario)


def test_event_ids_that_are_objects_or_lists_are_dead_lettered_not_a_500() -> None:
    async def scenario(bridge: Bridge) -> None:
        at_ms = story().events[0]["occurredAt"]
        odd = [
            {**hubspot_event(0, "deal.deletion", 9001, at_ms), "eventId": [904]},
            {**hubspot_event(0, "deal.deletion", 9001, at_ms), "eventId": {"id": 905}},
            {**hubspot_event(906, "deal.deletion", 9001, at_ms), "portalId": [1]},
        ]
        assert (await post_hubspot(bridge, batch(*odd))).status == 204
        reasons = [headers[REASON_HEADER] for _, _, headers in bridge.sender.on(DLQ)]
        assert reasons == [b"malformed"] * 3

    run_hubspot(scenario)


def test_a_bad_signature_is_401_and_nothing_is_produced() -> None:
    async def scenario(bridge: Bridge) -> None:
        body = batch(*story().events)
        assert (await post_hubspot(bridge, body, secret="not-the-app")).status == 401
        assert (await post_hubspot(bridge, body, signature="AAAA")).status == 401
        unsigned = await bridge.client.post(HUBSPOT_PATH, data=body)
        assert unsigned.status == 401
        assert bridge.sender.records == []
        assert bridge.crm_reads == []

    run_hubspot(scenario)


def test_a_replayed_request_older_than_five_minutes_is_400() -> None:
    async def scenario(bridge: Bridge) -> None:
        old = datetime.now(UTC) - timedelta(minutes=6)
        response = await post_hubspot(bridge, batch(*story().events), sent_at=old)
        assert response.status == 400
        assert "older than 5 minutes" in (await response.json())["error"]
        assert bridge.sender.records == []

    run_hubspot(scenario)


def test_an_oversize_body_is_413_unread() -> None:
    async def scenario(bridge: Bridge) -> None:
        response = await post_hubspot(bridge, b"[" + b" " * MAX_BODY + b"]")
        assert response.status == 413
        assert (
            bridge.counted("dealpulse_bridge_requests_total", source="hubspot", status="413") == 1
        )

    run_hubspot(scenario)


def test_malformed_json_is_400() -> None:
    async def scenario(bridge: Bridge) -> None:
        assert (await post_hubspot(bridge, b'[{"eventId": 1,')).status == 400
        assert (await post_hubspot(bridge, b'{"eventId": 1}')).status == 400
        assert (await post_hubspot(bridge, b"\xff\xfe")).status == 400
        assert bridge.sender.records == []

    run_hubspot(scenario)


def test_kafka_not_acknowledging_is_503_so_hubspot_retries() -> None:
    async def scenario(bridge: Bridge) -> None:
        assert (await post_hubspot(bridge, batch(*story().events))).status == 503
        assert (
            bridge.counted("dealpulse_bridge_events_total", source="hubspot", type="deal.created")
            == 0
        )

    run_hubspot(scenario, kafka_fails=True)


def test_the_crm_api_failing_is_503_so_hubspot_retries() -> None:
    async def scenario(bridge: Bridge) -> None:
        assert (await post_hubspot(bridge, batch(*story().events))).status == 503
        assert bridge.sender.records == []

    run_hubspot(scenario, crm_status=502)


# --- Pipedrive -----------------------------------------------------------------------


def pipedrive_body(delivery_id: str = "7d1c9a3e-0001", entity: str = "deal") -> bytes:
    webhook = pipedrive_webhook(
        "create", delivery_id, "2026-11-20T10:15:30.250Z", pipedrive_deal(), entity=entity
    )
    return json.dumps(webhook, default=str).encode()


def test_pipedrive_with_the_right_basic_auth_is_produced() -> None:
    async def scenario(bridge: Bridge) -> None:
        response = await bridge.client.post(
            PIPEDRIVE_PATH,
            data=pipedrive_body(),
            headers={"Authorization": basic_auth("pipedrive", "hook-password")},
        )
        assert response.status == 204
        [(key, value, _)] = bridge.sender.on(EVENTS)
        assert key == b"4711"
        assert json.loads(value or b"")["type"] == "deal.created"

    run_pipedrive(scenario)


def test_pipedrive_statuses_for_what_is_not_a_good_webhook() -> None:
    async def scenario(bridge: Bridge) -> None:
        good_auth = {"Authorization": basic_auth("pipedrive", "hook-password")}
        cases = [
            ({"Authorization": basic_auth("pipedrive", "guess")}, pipedrive_body(), 401),
            ({}, pipedrive_body(), 401),
            (good_auth, b'{"meta": ', 400),
            (good_auth, b"[1, 2]", 400),
            (good_auth, b"{" + b" " * MAX_BODY + b"}", 413),
            (good_auth, pipedrive_body(entity="person"), 204),
        ]
        statuses = [
            (await bridge.client.post(PIPEDRIVE_PATH, data=body, headers=headers)).status
            for headers, body, _ in cases
        ]
        assert statuses == [status for _, _, status in cases]
        assert bridge.sender.on(EVENTS) == []
        [(_, _, headers)] = bridge.sender.on(DLQ)
        assert headers[REASON_HEADER] == b"not_a_deal"

    run_pipedrive(scenario)
