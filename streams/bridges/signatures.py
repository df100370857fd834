"""Is a webhook request really from the CRM? HubSpot's v3 signature, Pipedrive's basic auth.

HubSpot ("Validating requests", v3,
https://developers.hubspot.com/docs/api/webhooks/validating-requests, read
2026-12-07): `X-HubSpot-Signature-v3` is the base64 of an HMAC-SHA256, keyed
with the app's client secret, of the UTF-8 string method + URI + body +
timestamp, where the timestamp is the `X-HubSpot-Request-Timestamp` header
(epoch milliseconds) and a request older than 5 minutes is to be rejected. The
URI is the full one HubSpot called (`https://host/path?query`), so the bridge is
told its public URL when a proxy stands in front of it. The guide has the
receiver decode a fixed set of percent-encoded characters (`:/?@!$'()*,;`) in
the URI before signing it; the check accepts the URI as received or so decoded.

Pipedrive signs nothing: a webhook is protected by HTTP basic auth, the user
and password given when the webhook is created.

Both compare in constant time (`hmac.compare_digest`). Each check returns
`None` when the request passes, else a `Denial`: which HTTP status to answer
and why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

HUBSPOT_SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
HUBSPOT_TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
HUBSPOT_MAX_AGE = timedelta(minutes=5)
"""HubSpot's documented window: reject a request whose timestamp is older."""
HUBSPOT_MAX_AHEAD = timedelta(minutes=5)
"""A timestamp this far in the future is no more plausible than one as old."""
_DECODED_IN_URI = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a request is turned away: 401 for who sent it, 400 for when."""

    status: Literal[400, 401]
    reason: Literal["bad_signature", "stale_timestamp", "bad_credentials"]
    detail: str


def hubspot_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The v3 signature HubSpot sends for this request."""
    signed = method.encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def check_hubspot(
    *,
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
) -> Denial | None:
    """`None` when the request is signed by HubSpot within its 5-minute window."""
    if not signature or not timestamp:
        return Denial(401, "bad_signature", f"{HUBSPOT_SIGNATURE_HEADER} or timestamp missing")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 16:
        return Denial(400, "stale_timestamp", f"{HUBSPOT_TIMESTAMP_HEADER}: not epoch ms")
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return Denial(401, "bad_signature", f"{HUBSPOT_SIGNATURE_HEADER}: not base64")
    matches = [
        hmac.compare_digest(
            given, base64.b64decode(hubspot_signature(secret, method, signed, body, timestamp))
        )
        for signed in dict.fromkeys((uri, decoded_uri(uri)))
    ]
    if not any(matches):
        return Denial(401, "bad_signature", "the signature does not match the request")
    sent_at_ms = int(timestamp)
    now_ms = int(now.timestamp() * 1000)
    if now_ms - sent_at_ms > HUBSPOT_MAX_AGE / timedelta(milliseconds=1):
        return Denial(400, "stale_timestamp", "the request is older than 5 minutes (a replay?)")
    if sent_at_ms - now_ms > HUBSPOT_MAX_AHEAD / timedelta(milliseconds=1):
        return Denial(400, "stale_timestamp", "the request's timestamp is in the future")
    return None


def decoded_uri(uri: str) -> str:
    """`uri` with the characters HubSpot's guide lists decoded (`%3A` as `:`, ...)."""
    return _DECODED_IN_URI.sub(lambda match: chr(int(match.group(1), 16)), uri)


def check_basic_auth(authorization: str | None, username: str, password: str) -> Denial | None:
    """`None` when `Authorization: Basic ...` names this user and password."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return Denial(401, "bad_credentials", "basic authentication required")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return Denial(401, "bad_credentials", "Authorization: not base64")
    expected = f"{username}:{password}".encode()
    if not hmac.compare_digest(given, expected):
        return Denial(401, "bad_credentials", "wrong user or password")
    return None
