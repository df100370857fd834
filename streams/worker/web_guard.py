"""The worker's web surface: only its documented routes, and those that show data behind auth.

Faust serves views of its own next to the app's pages: `/table/<table>/<key>/`
answered with a deal's whole history, `/router/` and `/` with the app's
layout. The Faust settings in `streams.worker.app` turn its views off; this
middleware (installed through Faust's `web_application_options`) answers 404
to any path that is not one of `ROUTES`, so a view added by a Faust upgrade is
not served either. `/metrics` and `/state/aggregates` take a bearer token or
HTTP basic auth when one is configured, as Prometheus exporters do;
`/state/aggregates` is served only when enabled. `/health` stays open: it
shows partitions and lag, no business data, and orchestrators probe it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from streams.settings import Settings

METRICS_PATH = "/metrics"
STATE_PATH = "/state/aggregates"
HEALTH_PATH = "/health"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Credentials:
    """What a protected route accepts: a bearer token, basic auth, or both; none: open."""

    token: str | None = None
    basic: tuple[str, str] | None = None

    @classmethod
    def of(cls, settings: Settings) -> Credentials:
        token = settings.web_auth_token
        password = settings.web_auth_password
        return cls(
            token=None if token is None else token.get_secret_value(),
            basic=(
                None
                if settings.web_auth_username is None or password is None
                else (settings.web_auth_username, password.get_secret_value())
            ),
        )

    @property
    def required(self) -> bool:
        return self.token is not None or self.basic is not None

    def accept(self, authorization: str | None) -> bool:
        """Whether an `Authorization` header carries these credentials (compared in
        constant time)."""
        if not self.required:
            return True
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and self.token is not None:
            return hmac.compare_digest(value.strip().encode(), self.token.encode())
        if scheme.lower() == "basic" and self.basic is not None:
            try:
                decoded = base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            expected = f"{self.basic[0]}:{self.basic[1]}".encode()
            return hmac.compare_digest(decoded, expected)
        return False

    def challenge(self) -> str:
        """The `WWW-Authenticate` of a 401: the schemes accepted."""
        schemes = []
        if self.token is not None:
            schemes.append('Bearer realm="dealpulse"')
        if self.basic is not None:
            schemes.append('Basic realm="dealpulse"')
        return ", ".join(schemes)


def routes(settings: Settings) -> dict[str, bool]:
    """The paths served, each with whether it needs the credentials."""
    served = {METRICS_PATH: True, HEALTH_PATH: False}
    if settings.web_state_enabled:
        served[STATE_PATH] = True
    return served


def web_guard(settings: Settings) -> Middleware:
    """The aiohttp middleware that keeps the worker's web surface to `routes`."""
    served = routes(settings)
    credentials = Credentials.of(settings)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        protected = served.get(request.path.rstrip("/") or "/")
        if protected is None:
            raise web.HTTPNotFound()
        if protected and not credentials.accept(request.headers.get("Authorization")):
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": credentials.challenge()})
        return await handler(request)

    return guard
