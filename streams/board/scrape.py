"""Reading a worker's /metrics the way Prometheus does: over HTTP(S), with its credentials.

The board asks for the same page with the same credentials as a Prometheus
scrape (`authorization` or `basic_auth`, from the `DEALPULSE_WEB_AUTH_*`
settings the worker itself reads), so what it shows is what Prometheus stores.
Every way of not getting Prometheus text back is one `ScrapeError` whose
message says what to change.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from streams.errors import ScrapeError
from streams.settings import Settings

LineFilter = Callable[[str], bool]
DEFAULT_TIMEOUT_SECONDS = 5.0
METRIC_PREFIX = "dealpulse_"

_NO_CREDENTIALS = (
    "set DEALPULSE_WEB_AUTH_TOKEN, or DEALPULSE_WEB_AUTH_USERNAME and "
    "DEALPULSE_WEB_AUTH_PASSWORD, as the worker has them"
)
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""No proxy from the environment, as a Prometheus scrape by default: the credentials go to
the worker only."""


def metrics_url(settings: Settings) -> str:
    """The /metrics of the worker these settings describe."""
    scheme = "https" if settings.web_tls_certfile is not None else "http"
    return f"{scheme}://{settings.web_host}:{settings.web_port}/metrics"


@dataclass(frozen=True, slots=True)
class MetricsPage:
    """A /metrics URL and the `Authorization` header a scrape of it sends."""

    url: str
    authorization: str | None = field(default=None, repr=False)
    credentials_from: str | None = None
    """The settings the credentials come from, for the message when they are refused."""
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def of(cls, url: str, settings: Settings) -> MetricsPage:
        """The page at `url` with the worker's credentials: the token when set, else basic
        auth, as a worker accepts either."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise ScrapeError(f"{url}: give an http:// or https:// URL of a worker's /metrics")
        token, password = settings.web_auth_token, settings.web_auth_password
        if token is not None:
            return cls(url, f"Bearer {token.get_secret_value()}", "DEALPULSE_WEB_AUTH_TOKEN")
        if settings.web_auth_username is not None and password is not None:
            pair = f"{settings.web_auth_username}:{password.get_secret_value()}"
            return cls(
                url,
                f"Basic {base64.b64encode(pair.encode()).decode()}",
                "DEALPULSE_WEB_AUTH_USERNAME and _PASSWORD",
            )
        return cls(url)

    def read(self, keep: LineFilter | None = None) -> list[Sample]:
        """The samples of the page (of the lines `keep` keeps), as Prometheus' parser reads
        them."""
        return parse_samples(self.fetch(), self.url, keep)

    def fetch(self) -> str:
        request = urllib.request.Request(self.url, headers={"Accept": "text/plain"})  # noqa: S310 - http(s) only, checked in `of`
        if self.authorization is not None:
            # Not resent if the worker redirects elsewhere.
            request.add_unredirected_header("Authorization", self.authorization)
        try:
            with _DIRECT.open(request, timeout=self.timeout_seconds) as response:
                body: bytes = response.read()
        except urllib.error.HTTPError as error:
            with error:
                raise ScrapeError(self._refusal(error.code)) from None
        except urllib.error.URLError as error:
            raise ScrapeError(f"cannot reach {self.url}: {_reason(error.reason)}") from None
        except TimeoutError:
            raise ScrapeError(
                f"{self.url} did not answer within {self.timeout_seconds:g} s"
            ) from None
        except OSError as error:  # a connection reset mid-body, for one
            raise ScrapeError(f"cannot read {self.url}: {_reason(error)}") from None
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise ScrapeError(f"{self.url} is not Prometheus text (not UTF-8)") from None

    def _refusal(self, status: int) -> str:
        answered = f"{self.url} answered {status} {_phrase(status)}"
        if status not in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            return answered
        if self.credentials_from is None:
            return f"{answered}: {_NO_CREDENTIALS}"
        return f"{answered} to the credentials of {self.credentials_from}: not the worker's"


def parse_samples(text: str, url: str, keep: LineFilter | None = None) -> list[Sample]:
    """The samples of a dealpulse worker's page, of the lines `keep` keeps; `ScrapeError`
    for any other page.

    A page without a dealpulse family is parsed whole before it is refused, so that the
    error says whether it was Prometheus text at all.
    """
    kept = text if keep is None else "\n".join(filter(keep, text.splitlines()))
    families = _families(kept, url)
    if not any(family.name.startswith(METRIC_PREFIX) for family in families):
        if keep is not None:
            _families(text, url)
        raise ScrapeError(f"{url} is not a dealpulse worker's /metrics (no {METRIC_PREFIX} metric)")
    return [sample for family in families for sample in family.samples]


def _families(text: str, url: str) -> list[Metric]:
    try:
        return list(text_string_to_metric_families(text))
    except (ValueError, IndexError, KeyError, TypeError) as error:
        # What the parser raises on lines it cannot read (an HTML page, a JSON body...).
        raise ScrapeError(f"{url} is not Prometheus text ({_shortened(str(error))})") from None


def _shortened(text: str, limit: int = 80) -> str:
    """A parser message quotes the line it failed on, which may be a whole HTML page."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _reason(reason: object) -> str:
    """`[Errno 111] Connection refused` as `Connection refused`."""
    return getattr(reason, "strerror", None) or str(reason)
