"""Every bad message the simulator makes is refused by ingest for the intended reason."""

from __future__ import annotations

from collections import Counter

from streams.domain.events import DealEvent
from streams.ingest.message import RawMessage
from streams.ingest.rejection import Rejection
from streams.simulator import INVALID_KINDS, InvalidKind
from tests.support.ingest import make_ingestor
from tests.support.mixed_batch import EXPECTED_REASON, mixed_batch


def test_every_invalid_kind_has_an_expected_reason() -> None:
    assert set(EXPECTED_REASON) == set(INVALID_KINDS)


def test_ingest_accepts_the_valid_and_rejects_each_kind_for_its_reason() -> None:
    batch = mixed_batch(valid_count=600, invalid_count=160)
    ingestor = make_ingestor()
    for message in batch.valid:
        raw = RawMessage(key=message.key, value=message.value, headers=message.headers)
        assert isinstance(ingestor.ingest(raw), DealEvent)
    reasons: Counter[str] = Counter()
    for message in batch.invalid:
        raw = RawMessage(key=message.key, value=message.value, headers=message.headers)
        outcome = ingestor.ingest(raw)
        assert isinstance(outcome, Rejection), message.invalid_kind
        assert message.invalid_kind is not None
        assert outcome.reason is EXPECTED_REASON[InvalidKind(message.invalid_kind)], outcome
        reasons[outcome.reason] += 1
    assert len(reasons) >= 10
