"""HubSpot as the bridge meets it, written from HubSpot's public field lists: webhook
events, a deal's property history, and a local server speaking the CRM API's shape."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from streams.bridges.mapping_file import SourceMapping, parse_mapping

PORTAL_ID = 62515
APP_ID = 1160452
TOKEN = "pat-na1-test-token"
CLIENT_SECRET = "3b5a-client-secret-for-tests"

HUBSPOT_TOML = """\
source = "hubspot"
tenant = "acme"
currency = "USD"
lost_reason = "closed lost in HubSpot"

[pipelines]
default = "new-business"
"75e28846-ad0d-4be2-a027-5e1da6590b98" = "renewal"

[stages]
appointmentscheduled = "lead"
qualifiedtobuy = "qualified"
presentationscheduled = "demo"
decisionmakerboughtin = "proposal"
contractsent = "negotiation"
1467652 = "upcoming"
1467653 = "in-review"

[outcomes]
won = ["closedwon", 1467655]
lost = ["closedlost", 1467656]
"""

SUBSCRIPTIONS = {
    "deal.creation": 2101,
    "deal.deletion": 2102,
    "deal.restore": 2103,
    "deal.propertyChange": 2104,
    "contact.creation": 2105,
}


def hubspot_mapping() -> SourceMapping:
    return parse_mapping(HUBSPOT_TOML, where="hubspot.toml")


def epoch_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def hubspot_event(
    event_id: int,
    kind: str,
    object_id: int,
    occurred_at_ms: int,
    property_name: str | None = None,
    property_value: str | None = None,
    *,
    attempt: int = 0,
) -> dict[str, Any]:
    """One event of a webhook batch, with the fields HubSpot's Webhooks API lists."""
    event: dict[str, Any] = {
        "eventId": event_id,
        "subscriptionId": SUBSCRIPTIONS.get(kind, 2199),
        "portalId": PORTAL_ID,
        "appId": APP_ID,
        "occurredAt": occurred_at_ms,
        "subscriptionType": kind,
        "attemptNumber": attempt,
        "objectId": object_id,
        "changeFlag": kind.split(".")[-1].upper(),
        "changeSource": "CRM_UI",
        "sourceId": "userId:7001",
    }
    if property_name is not None:
        event["propertyName"] = property_name
        event["propertyValue"] = property_value
    return event


class HubSpotDealStory:
    """One deal's life in HubSpot: the webhook events it sends, and what the CRM API
    answers about it afterwards (its properties and their histories)."""

    def __init__(self, deal_id: int, first_event_id: int) -> None:
        self.deal_id = deal_id
        self.events: list[dict[str, Any]] = []
        self._next_event_id = first_event_id
        self._versions: dict[str, list[tuple[str | None, int]]] = {}
        self._created_ms: int | None = None
        self._updated_ms: int | None = None

    def _event(
        self, kind: str, at_ms: int, name: str | None = None, value: str | None = None
    ) -> dict[str, Any]:
        event = hubspot_event(self._next_event_id, kind, self.deal_id, at_ms, name, value)
        self._next_event_id += 1
        self.events.append(event)
        return event

    def _set(self, name: str, value: str | None, at_ms: int) -> None:
        self._versions.setdefault(name, []).append((value, at_ms))
        self._updated_ms = at_ms

    def create(self, at: str, **properties: str | None) -> dict[str, Any]:
        at_ms = epoch_ms(at)
        self._created_ms = at_ms
        for name, value in properties.items():
            self._set(name, value, at_ms)
        return self._event("deal.creation", at_ms)

    def change(self, at: str, name: str, value: str | None) -> dict[str, Any]:
        at_ms = epoch_ms(at)
        self._set(name, value, at_ms)
        return self._event("deal.propertyChange", at_ms, name, value)

    def delete(self, at: str) -> dict[str, Any]:
        return self._event("deal.deletion", epoch_ms(at))

    def restore(self, at: str) -> dict[str, Any]:
        return self._event("deal.restore", epoch_ms(at))

    def api_document(self) -> dict[str, Any]:
        """GET /crm/v3/objects/deals/{id}?properties=...&propertiesWithHistory=..."""
        return {
            "id": str(self.deal_id),
            "properties": {
                "hs_object_id": str(self.deal_id),
                **{name: versions[-1][0] for name, versions in self._versions.items()},
            },
            "propertiesWithHistory": {
                name: [
                    {
                        "value": value,
                        "timestamp": _rfc3339(at_ms),
                        "sourceType": "CRM_UI",
                        "sourceId": "userId:7001",
                    }
                    for value, at_ms in reversed(versions)  # newest first, as HubSpot lists
                ]
                for name, versions in self._versions.items()
            },
            "createdAt": _rfc3339(self._created_ms or 0),
            "updatedAt": _rfc3339(self._updated_ms or 0),
            "archived": False,
        }


def _rfc3339(at_ms: int) -> str:
    instant = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def crm_api_app(deals: Mapping[str, Mapping[str, Any]], reads: list[str]) -> web.Application:
    """HubSpot's CRM API for these deals: `GET /crm/v3/objects/deals/{dealId}` with a
    bearer token; 401 without it, 404 for a deal it does not hold. Appends each read
    deal id to `reads`."""

    async def read_deal(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response(
                {
                    "status": "error",
                    "message": "Authentication credentials not found.",
                    "category": "INVALID_AUTHENTICATION",
                },
                status=401,
            )
        deal_id = request.match_info["deal_id"]
        reads.append(deal_id)
        document = deals.get(deal_id)
        if document is None:
            return web.json_response(
                {"status": "error", "message": "Object not found.", "category": "OBJECT_NOT_FOUND"},
                status=404,
            )
        wanted = request.query.get("properties", "").split(",")
        with_history = request.query.get("propertiesWithHistory", "").split(",")
        answer = dict(document)
        answer["properties"] = {
            name: value
            for name, value in document["properties"].items()
            if name in wanted or name == "hs_object_id"
        }
        answer["propertiesWithHistory"] = {
            name: versions
            for name, versions in document["propertiesWithHistory"].items()
            if name in with_history
        }
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/crm/v3/objects/deals/{deal_id}", read_deal)
    return app


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
