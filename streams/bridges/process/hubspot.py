"""`dealpulse bridge hubspot`: HubSpot's deal webhooks in, canonical events out.

The HTTP around the pure `streams.bridges.hubspot`: the v3 signature check, the
CRM API read a creation or a stage move needs (one per deal per request), and
dead letters for the events the mapping refuses.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from streams.bridges.canonical import CanonicalEvent
from streams.bridges.hubspot import (
    DEAL_PROPERTIES,
    HubSpotDeal,
    batch_events,
    deal_from_api,
    map_hubspot,
    needs_deal,
)
from streams.bridges.mapping_file import SourceMapping
from streams.bridges.process.http_server import (
    SignedRequest,
    WebhookSource,
)
from streams.bridges.process.output import (
    Letter,
    Translation,
)
from streams.bridges.process.webhook_bridge import run_webhook_bridge
from streams.bridges.refusal import Refusal, RefusalReason
from streams.bridges.signatures import (
    HUBSPOT_SIGNATURE_HEADER,
    HUBSPOT_TIMESTAMP_HEADER,
    Denial,
    check_hubspot,
)
from streams.bridges.source_values import decode_json
from streams.errors import ConfigurationError, CrmUnavailableError
from streams.settings import Settings

WEBHOOK_PATH = "/webhooks/hubspot"
SOURCE = "hubspot"
READS_AT_ONCE = 8
"""CRM API reads in flight per bridge: a batch of 100 creations must not burst into
HubSpot's rate limit (a 429 answers the webhook 503, and HubSpot retries it)."""


class HubSpotApi:
    """Reads deals from HubSpot's CRM API (v3 objects), with their property histories."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, token: str, timeout_seconds: float
    ) -> None:
        self._session = session
        self._in_flight = asyncio.Semaphore(READS_AT_ONCE)
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def read_deal(self, deal_id: str) -> HubSpotDeal | Refusal:
        """The deal, or a refusal when HubSpot no longer has it; `CrmUnavailableError`
        when the API does not answer as documented (the webhook is retried)."""
        if not (deal_id.isascii() and deal_id.isdigit()):
            raise ValueError(f"{deal_id!r} is not a HubSpot record id (see `deal_id_of`)")
        url = f"{self._base_url}/crm/v3/objects/deals/{deal_id}"
        properties = ",".join(DEAL_PROPERTIES)
        params = {"properties": properties, "propertiesWithHistory": properties}
        try:
            async with (
                self._in_flight,
                self._session.get(
                    url,
                    params=params,
                    headers={"Authorization": f"Bearer {self._token}"},
                    timeout=self._timeout,
                ) as response,
            ):
                if response.status == 404:
                    return Refusal(
                        RefusalReason.UNREPLAYABLE,
                        f"deal {deal_id} is no longer in HubSpot: its state cannot be read",
                    )
                if response.status != 200:
                    raise CrmUnavailableError(f"HubSpot's CRM API answered {response.status}")
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as error:
            raise CrmUnavailableError(f"HubSpot's CRM API: {error!r}") from error
        if not isinstance(document, Mapping):
            raise CrmUnavailableError("HubSpot's CRM API answered something not an object")
        return deal_from_api(document)


class HubSpotSource(WebhookSource):
    path = WEBHOOK_PATH

    def __init__(
        self,
        mapping: SourceMapping,
        api: HubSpotApi,
        client_secret: str,
        public_url: str | None = None,
    ) -> None:
        self._mapping = mapping
        self._api = api
        self._secret = client_secret
        self._public_url = public_url

    def authenticate(self, request: SignedRequest) -> Denial | None:
        return check_hubspot(
            secret=self._secret,
            method=request.method,
            uri=self._signed_uri(request.url),
            body=request.body,
            timestamp=request.headers.get(HUBSPOT_TIMESTAMP_HEADER),
            signature=request.headers.get(HUBSPOT_SIGNATURE_HEADER),
            now=request.received_at,
        )

    def _signed_uri(self, url: str) -> str:
        if self._public_url is None:
            return url
        _, question, query = url.partition("?")
        return self._public_url + (question + query if query else "")

    async def translate(self, body: bytes) -> Translation | Refusal:
        document = decode_json(body)
        if isinstance(document, Refusal):
            return document
        events = batch_events(document)
        if isinstance(events, Refusal):
            return events
        deals = await self._read_deals(events)
        produced: list[CanonicalEvent] = []
        letters: list[Letter] = []
        for event in events:
            wanted = needs_deal(event, self._mapping)
            deal = deals.get(wanted) if wanted is not None else None
            outcome = deal if isinstance(deal, Refusal) else map_hubspot(event, self._mapping, deal)
            if isinstance(outcome, Refusal):
                letters.append(_letter(event, outcome))
            else:
                produced.extend(outcome)
        return Translation(produced, letters)

    async def _read_deals(
        self, events: list[Mapping[str, Any]]
    ) -> dict[str, HubSpotDeal | Refusal]:
        wanted = {
            deal_id for event in events if (deal_id := needs_deal(event, self._mapping)) is not None
        }
        ordered = sorted(wanted)
        reads = await asyncio.gather(*(self._api.read_deal(deal_id) for deal_id in ordered))
        return dict(zip(ordered, reads, strict=True))


def _letter(event: Mapping[str, Any], refusal: Refusal) -> Letter:
    value = json.dumps(event, separators=(",", ":"), default=str).encode()
    object_id = event.get("objectId")
    key = str(object_id).encode() if isinstance(object_id, int | str) else None
    return Letter(value=value, refusal=refusal, key=key)


async def run_hubspot_bridge(settings: Settings, mapping: SourceMapping) -> None:
    """Serve HubSpot's webhooks until SIGINT or SIGTERM."""
    if settings.hubspot_client_secret is None or settings.hubspot_access_token is None:
        raise ConfigurationError(
            "set DEALPULSE_HUBSPOT_CLIENT_SECRET and DEALPULSE_HUBSPOT_ACCESS_TOKEN "
            "(the app's client secret and a token to read deals)"
        )
    async with aiohttp.ClientSession() as session:
        api = HubSpotApi(
            session,
            settings.hubspot_api_url,
            settings.hubspot_access_token.get_secret_value(),
            settings.hubspot_api_timeout_seconds,
        )
        source = HubSpotSource(
            mapping,
            api,
            settings.hubspot_client_secret.get_secret_value(),
            settings.hubspot_public_url,
        )
        await run_webhook_bridge(settings, source, SOURCE, settings.bridge_hubspot_port)
