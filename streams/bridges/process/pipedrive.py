"""`dealpulse bridge pipedrive`: Pipedrive's webhooks v2 in, canonical events out.

Basic auth (the user and password given when the webhook was created), then
the pure `streams.bridges.pipedrive`; one webhook is one deal change.
"""

from __future__ import annotations

from streams.bridges.mapping_file import SourceMapping
from streams.bridges.pipedrive import map_pipedrive
from streams.bridges.process.http_server import (
    SignedRequest,
    WebhookSource,
)
from streams.bridges.process.output import (
    Letter,
    Translation,
)
from streams.bridges.process.webhook_bridge import run_webhook_bridge
from streams.bridges.refusal import Refusal
from streams.bridges.signatures import Denial, check_basic_auth
from streams.bridges.source_values import decode_source
from streams.errors import ConfigurationError
from streams.settings import Settings

WEBHOOK_PATH = "/webhooks/pipedrive"
SOURCE = "pipedrive"


class PipedriveSource(WebhookSource):
    path = WEBHOOK_PATH

    def __init__(self, mapping: SourceMapping, username: str, password: str) -> None:
        self._mapping = mapping
        self._username = username
        self._password = password

    def authenticate(self, request: SignedRequest) -> Denial | None:
        return check_basic_auth(
            request.headers.get("Authorization"), self._username, self._password
        )

    async def translate(self, body: bytes) -> Translation | Refusal:
        webhook = decode_source(body)
        if isinstance(webhook, Refusal):
            return webhook
        outcome = map_pipedrive(webhook, self._mapping)
        if isinstance(outcome, Refusal):
            meta = webhook.get("meta")
            entity_id = meta.get("entity_id") if isinstance(meta, dict) else None
            key = str(entity_id).encode() if isinstance(entity_id, int | str) else None
            return Translation((), (Letter(value=body, refusal=outcome, key=key),))
        return Translation(outcome, ())


async def run_pipedrive_bridge(settings: Settings, mapping: SourceMapping) -> None:
    """Serve Pipedrive's webhooks until SIGINT or SIGTERM."""
    if settings.pipedrive_username is None or settings.pipedrive_password is None:
        raise ConfigurationError(
            "set DEALPULSE_PIPEDRIVE_USERNAME and DEALPULSE_PIPEDRIVE_PASSWORD "
            "(the webhook's basic auth)"
        )
    source = PipedriveSource(
        mapping, settings.pipedrive_username, settings.pipedrive_password.get_secret_value()
    )
    await run_webhook_bridge(settings, source, SOURCE, settings.bridge_pipedrive_port)
