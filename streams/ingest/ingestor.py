"""One call from raw message to `DealEvent` or `Rejection`: the stream and replay share it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from streams.domain.events import DealEvent
from streams.ingest.decode import SizeLimits, decode
from streams.ingest.message import RawMessage
from streams.ingest.rejection import Rejection
from streams.ingest.schema import event_schema
from streams.ingest.validate import EventValidator
from streams.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def size_limits(settings: Settings) -> SizeLimits:
    """The size limits of DEALPULSE_MAX_MESSAGE_BYTES, _MAX_KEY_BYTES and _MAX_HEADERS_BYTES."""
    return SizeLimits(
        value_bytes=settings.max_message_bytes,
        key_bytes=settings.max_key_bytes,
        headers_bytes=settings.max_headers_bytes,
    )


class Ingestor:
    def __init__(
        self, settings: Settings, clock: Clock = utc_now, *, check_currencies: bool = True
    ) -> None:
        """`check_currencies=False` accepts any currency the schema allows: for a bridge,
        which cannot know the rates a worker has loaded since it started."""
        self._limits = size_limits(settings)
        self._validator = EventValidator(
            event_schema(),
            max_amount=settings.max_amount,
            max_future_skew=settings.max_future_skew,
            currencies=(
                frozenset(settings.currency_rates) | {settings.reporting_currency}
                if check_currencies
                else None
            ),
        )
        self._clock = clock

    @property
    def limits(self) -> SizeLimits:
        """The size limits it checks; a dead letter's copy is cut to them."""
        return self._limits

    def accept_currencies(self, currencies: frozenset[str]) -> None:
        """The currencies with a rate changed (loaded on the control plane)."""
        self._validator.accept_currencies(currencies)

    def ingest(self, message: RawMessage, *, check_key: bool = True) -> DealEvent | Rejection:
        decoded = decode(message, self._limits)
        if isinstance(decoded, Rejection):
            return decoded
        return self._validator.validate(decoded, message.key, self._clock(), check_key=check_key)
