"""The worker's web guard: only documented routes, and credentials where data is shown.

Run through aiohttp's own test server with the middleware as the worker installs
it, in front of handlers that stand for every route Faust or the app may add.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from streams.settings import Settings
from streams.worker.web_guard import Credentials, web_guard

PATHS = [
    "/metrics",
    "/metrics/",
    "/health",
    "/state/aggregates",
    "/",
    "/table/deals/d1/",
    "/router/",
]


def statuses(settings: Settings, headers: Mapping[str, str] | None = None) -> dict[str, int]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def run() -> dict[str, int]:
        app = web.Application(middlewares=[web_guard(settings)])
        for path in PATHS:
            app.router.add_get(path, ok)
        async with TestClient(TestServer(app)) as client:
            found = {}
            for path in PATHS:
                response = await client.get(path, headers=headers or {})
                found[path] = response.status
            return found

    return asyncio.run(run())


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_by_default_only_metrics_and_health_answer() -> None:
    assert statuses(Settings()) == {
        "/metrics": 200,
        "/metrics/": 200,
        "/health": 200,
        "/state/aggregates": 404,
        "/": 404,
        "/table/deals/d1/": 404,
        "/router/": 404,
    }


def test_a_token_closes_metrics_and_state_but_not_health() -> None:
    settings = Settings(web_auth_token=SecretStr("s3cret"), web_state_enabled=True)
    refused = statuses(settings)
    assert (refused["/metrics"], refused["/state/aggregates"], refused["/health"]) == (
        401,
        401,
        200,
    )
    wrong = statuses(settings, {"Authorization": "Bearer nope"})
    assert wrong["/metrics"] == 401
    allowed = statuses(settings, {"Authorization": "Bearer s3cret"})
    assert (allowed["/metrics"], allowed["/state/aggregates"]) == (200, 200)
    assert allowed["/table/deals/d1/"] == 404


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (basic("prometheus", "pa:ss"), 200),
        (basic("prometheus", "wrong"), 401),
        ("Basic not-base64!", 401),
        ("Bearer pa:ss", 401),
        ("", 401),
    ],
)
def test_basic_auth(authorization: str, expected: int) -> None:
    settings = Settings(web_auth_username="prometheus", web_auth_password=SecretStr("pa:ss"))
    assert statuses(settings, {"Authorization": authorization})["/metrics"] == expected


def test_a_refusal_names_the_schemes_accepted() -> None:
    both = Credentials(token="t", basic=("u", "p"))
    assert both.challenge() == 'Bearer realm="dealpulse", Basic realm="dealpulse"'
    assert not Credentials().required


def test_half_configured_security_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="_PASSWORD together"):
        Settings(web_auth_username="prometheus")
    certificate = tmp_path / "cert.pem"
    certificate.write_text("")
    with pytest.raises(ValueError, match="_KEYFILE together"):
        Settings(web_tls_certfile=certificate)
