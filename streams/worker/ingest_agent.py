"""The body of the ingest agent: every message ends in the fold or in the DLQ.

Nothing here may raise on bad input: a rejected message is written to the
dead-letter topic (awaited, so its offset is not committed before the DLQ has
it), counted by reason and logged with its origin.
"""

from __future__ import annotations

import logging
from typing import Any

from streams.ingest.dead_letter import dead_letter
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage, normalise_headers
from streams.ingest.rejection import Rejection
from streams.worker.fold_sink import EventSink
from streams.worker.ingest_metrics import IngestMetrics

log = logging.getLogger(__name__)


class IngestHandler:
    def __init__(
        self, ingestor: Ingestor, sink: EventSink, dead_letter_topic: Any, metrics: IngestMetrics
    ) -> None:
        self._ingestor = ingestor
        self._sink = sink
        self._dead_letter_topic = dead_letter_topic
        self._metrics = metrics

    async def handle(self, message: Any) -> None:
        raw = RawMessage(
            key=message.key,
            value=message.value,
            headers=normalise_headers(message.headers),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )
        outcome = self._ingestor.ingest(raw)
        if isinstance(outcome, Rejection):
            await self._reject(raw, outcome)
            return
        self._metrics.record_accepted()
        self._sink.accept(outcome, raw.partition)

    async def _reject(self, raw: RawMessage, rejection: Rejection) -> None:
        letter = dead_letter(raw, rejection)
        delivery = await self._dead_letter_topic.send(
            key=letter.key, value=letter.value, headers=list(letter.headers)
        )
        await delivery
        self._metrics.record_rejected(rejection.reason)
        log.info(
            "message rejected",
            extra={
                "reason": rejection.reason.value,
                "detail": rejection.detail,
                "topic": raw.topic,
                "partition": raw.partition,
                "offset": raw.offset,
            },
        )
