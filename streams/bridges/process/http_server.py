"""The HTTP server of a webhook bridge: one POST route for the CRM, and /metrics.

A request goes through, in order: its size (413 past
`DEALPULSE_BRIDGE_MAX_BODY_BYTES`, unread), the source's authentication (401
for a missing or wrong signature or password, 400 for a stale HubSpot
timestamp), the body (400 when it is not the JSON the source sends), the
mapping (a source event it cannot map is a dead letter, not an error), and
Kafka: the answer (204) is sent only once Kafka has acknowledged every
record, so a failed produce or an unreachable CRM API answers 503 and the CRM
delivers the request again.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web
from aiokafka.errors import KafkaError

from streams.bridges.process.metrics import BridgeMetrics
from streams.bridges.process.output import BridgeOutput, Translation
from streams.bridges.refusal import Refusal
from streams.bridges.signatures import Denial
from streams.errors import CrmUnavailableError

log = logging.getLogger(__name__)

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a source needs to authenticate a request."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime


class WebhookSource(Protocol):
    """One CRM's side of a webhook bridge."""

    path: str

    def authenticate(self, request: SignedRequest) -> Denial | None: ...

    async def translate(self, body: bytes) -> Translation | Refusal:
        """The request's events and letters; a `Refusal` when the body as a whole is
        not what the source sends (answered 400). Raises `CrmUnavailableError`."""
        ...


def webhook_app(
    source: WebhookSource, output: BridgeOutput, metrics: BridgeMetrics, *, max_body_bytes: int
) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        response = await _answer(request, source, output, max_body_bytes)
        metrics.answered(response.status)
        return response

    app = metrics_app(metrics, client_max_size=max_body_bytes)
    app.router.add_post(source.path, receive)
    return app


def metrics_app(metrics: BridgeMetrics, *, client_max_size: int = 1024**2) -> web.Application:
    """An application serving the bridge's counters on GET /metrics."""

    async def exposition(_: web.Request) -> web.Response:
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": METRICS_CONTENT_TYPE}
        )

    app = web.Application(client_max_size=client_max_size)
    app.router.add_get("/metrics", exposition)
    return app


async def _answer(
    request: web.Request, source: WebhookSource, output: BridgeOutput, max_body_bytes: int
) -> web.Response:
    if (request.content_length or 0) > max_body_bytes:
        return _problem(413, f"the body is over {max_body_bytes} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _problem(413, f"the body is over {max_body_bytes} bytes")
    signed = SignedRequest(
        method=request.method,
        url=str(request.url),
        headers=request.headers,
        body=body,
        received_at=datetime.now(UTC),
    )
    denial = source.authenticate(signed)
    if denial is not None:
        log.warning("webhook %s refused (%s): %s", source.path, denial.reason, denial.detail)
        return _problem(denial.status, denial.detail)
    try:
        translation = await source.translate(body)
    except CrmUnavailableError as error:
        log.warning("webhook %s: %s; answered 503 for a retry", source.path, error)
        return _problem(503, "the CRM's API did not answer; deliver again later")
    if isinstance(translation, Refusal):
        return _problem(400, f"{translation.reason.value}: {translation.detail}")
    try:
        await output.deliver(translation.events, translation.letters)
    except KafkaError as error:
        log.warning("webhook %s: Kafka did not acknowledge (%s); answered 503", source.path, error)
        return _problem(503, "Kafka did not acknowledge the events; deliver again later")
    for letter in translation.letters:
        log.warning(
            "webhook %s: a source event refused (%s): %s",
            source.path,
            letter.refusal.reason.value,
            letter.refusal.detail,
        )
    return web.Response(status=204)


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response({"error": detail}, status=status)


async def serve_until_stopped(app: web.Application, host: str, port: int) -> None:
    """Serve `app` on host:port until SIGINT or SIGTERM, then close it."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.warning("bridge listening on http://%s:%d", host, port)
        await stop_signal()
    finally:
        await runner.cleanup()


async def stop_signal() -> None:
    """Return at SIGINT or SIGTERM."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopped.set)
    await stopped.wait()
