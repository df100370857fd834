"""RFC 3339 timestamps as ingest reads them: aware, in UTC, and real dates only."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_FRACTION = re.compile(r"\.(\d+)")


def parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 to aware UTC; `None` for calendar nonsense such as February 30th, and for an
    instant UTC cannot hold (year 1 at +01:00, year 9999 at -01:00)."""
    normalised = text.upper().replace(" ", "T").replace("Z", "+00:00")
    normalised = _FRACTION.sub(lambda match: "." + match.group(1)[:6].ljust(6, "0"), normalised)
    try:
        parsed = datetime.fromisoformat(normalised)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None
