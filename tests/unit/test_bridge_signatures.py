"""HubSpot's v3 signature and Pipedrive's basic auth, checked in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from streams.bridges.signatures import (
    check_basic_auth,
    check_hubspot,
    decoded_uri,
    hubspot_signature,
)
from tests.support.hubspot import basic_auth

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://crm-hooks.example.com/webhooks/hubspot"
BODY = b'[{"eventId":1,"subscriptionType":"deal.creation","objectId":9001}]'
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def millis(instant: datetime) -> str:
    return str(int(instant.timestamp() * 1000))


def test_the_signature_is_the_documented_hmac() -> None:
    timestamp = millis(NOW)
    expected = base64.b64encode(
        hmac.new(
            SECRET.encode(), b"POST" + URI.encode() + BODY + timestamp.encode(), hashlib.sha256
        ).digest()
    ).decode()
    assert hubspot_signature(SECRET, "POST", URI, BODY, timestamp) == expected


SIGNED_NOW = hubspot_signature(SECRET, "POST", URI, BODY, millis(NOW))

HUBSPOT_CASES: list[tuple[str, dict[str, object], tuple[int, str] | None]] = [
    ("signed now", {}, None),
    ("signed 4 minutes ago", {"sent_at": NOW - timedelta(minutes=4)}, None),
    ("replayed after 6 minutes", {"sent_at": NOW - timedelta(minutes=6)}, (400, "stale_timestamp")),
    ("from 10 minutes ahead", {"sent_at": NOW + timedelta(minutes=10)}, (400, "stale_timestamp")),
    ("another secret", {"secret": "someone-else"}, (401, "bad_signature")),
    ("body changed", {"body": BODY.replace(b"9001", b"9002")}, (401, "bad_signature")),
    ("another URI", {"uri": URI + "?x=1"}, (401, "bad_signature")),
    ("no signature", {"signature": None}, (401, "bad_signature")),
    ("no timestamp", {"timestamp": None}, (401, "bad_signature")),
    ("a timestamp not a number", {"timestamp": "2026-12-07"}, (400, "stale_timestamp")),
    ("a signature not base64", {"signature": "not base64!"}, (401, "bad_signature")),
    ("a v1 signature", {"signature": hashlib.sha256(b"x").hexdigest()}, (401, "bad_signature")),
]


@pytest.mark.parametrize(
    ("change", "denied"),
    [pytest.param(change, denied, id=name) for name, change, denied in HUBSPOT_CASES],
)
def test_hubspot_requests(change: dict[str, object], denied: tuple[int, str] | None) -> None:
    sent_at = change.get("sent_at", NOW)
    assert isinstance(sent_at, datetime)
    timestamp = change.get("timestamp", millis(sent_at))
    signing_secret = str(change.get("secret", SECRET))
    body = change.get("body", BODY)
    assert isinstance(body, bytes)
    default_signature = (
        hubspot_signature(signing_secret, "POST", URI, BODY, str(timestamp))
        if isinstance(timestamp, str)
        else SIGNED_NOW
    )
    signature = change.get("signature", default_signature)
    outcome = check_hubspot(
        secret=SECRET,
        method="POST",
        uri=str(change.get("uri", URI)),
        body=body,
        timestamp=timestamp if isinstance(timestamp, str) else None,
        signature=signature if isinstance(signature, str) else None,
        now=NOW,
    )
    assert (None if outcome is None else (outcome.status, outcome.reason)) == denied


BASIC_CASES: list[tuple[str, str | None, bool]] = [
    ("right", basic_auth("pipedrive", "s3cret:with colon"), True),
    (
        "scheme in lower case",
        basic_auth("pipedrive", "s3cret:with colon").lower()[:6]
        + basic_auth("pipedrive", "s3cret:with colon")[6:],
        True,
    ),
    ("wrong password", basic_auth("pipedrive", "guess"), False),
    ("wrong user", basic_auth("admin", "s3cret:with colon"), False),
    ("missing", None, False),
    ("a bearer token", "Bearer s3cret", False),
    ("not base64", "Basic ***", False),
    ("empty", "Basic ", False),
]


@pytest.mark.parametrize(
    ("header", "accepted"),
    [pytest.param(header, accepted, id=name) for name, header, accepted in BASIC_CASES],
)
def test_pipedrive_basic_auth(header: str | None, accepted: bool) -> None:
    outcome = check_basic_auth(header, "pipedrive", "s3cret:with colon")
    assert (outcome is None) is accepted
    if outcome is not None:
        assert outcome.status == 401


def test_a_uri_signed_with_its_reserved_characters_decoded_passes() -> None:
    received = URI + "?portal=62515%3Aeu%2C1&x=%20"
    signed_as = URI + "?portal=62515:eu,1&x=%20"
    timestamp = millis(NOW)
    signature = hubspot_signature(SECRET, "POST", signed_as, BODY, timestamp)
    outcome = check_hubspot(
        secret=SECRET,
        method="POST",
        uri=received,
        body=BODY,
        timestamp=timestamp,
        signature=signature,
        now=NOW,
    )
    assert outcome is None
    assert decoded_uri(received) == signed_as


def test_a_timestamp_of_other_unicode_digits_is_400_not_an_exception() -> None:
    timestamp = millis(NOW)[:-1] + "\u00b2"  # '²': `isdigit`, but no `int`
    outcome = check_hubspot(
        secret=SECRET,
        method="POST",
        uri=URI,
        body=BODY,
        timestamp=timestamp,
        signature=hubspot_signature(SECRET, "POST", URI, BODY, timestamp),
        now=NOW,
    )
    assert outcome is not None
    assert (outcome.status, outcome.reason) == (400, "stale_timestamp")
