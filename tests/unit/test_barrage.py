"""Each kind of the hostile barrage gets the reason written for it (`tests/support/barrage.py`)."""

from __future__ import annotations

import json

import pytest

from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage
from streams.ingest.rejection import Rejection
from streams.settings import Settings
from tests.support.barrage import KINDS, Kind
from tests.support.workload import CLOCK, simulated

TEMPLATES = [message for message in simulated(400, seed=5) if message.invalid_kind is None]


def test_the_barrage_has_more_than_fifty_kinds() -> None:
    assert len(KINDS) >= 50
    assert len({kind.name for kind in KINDS}) == len(KINDS)


@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
def test_each_kind_is_refused_with_its_reason(kind: Kind) -> None:
    ingestor = Ingestor(Settings(clock=CLOCK), clock=lambda: CLOCK)
    template = TEMPLATES[0]
    bad = kind.make(template, json.loads(template.value))
    outcome = ingestor.ingest(RawMessage(key=bad.key, value=bad.value, headers=bad.headers))
    assert isinstance(outcome, Rejection), outcome
    assert outcome.reason is kind.reason, outcome.detail
