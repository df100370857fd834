"""The body of the ingest agent: every message ends in the fold or in the DLQ.

Nothing here may raise: a rejected message is written to the dead-letter topic
(awaited, so its offset is not committed before the DLQ has it), counted by
reason and logged with its origin. An unexpected exception (a bug) rejects the
message as `internal_error` instead of stopping the partition; a DLQ that cannot
be written after retries is logged, and the message stays in its own topic.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from streams.ingest.dead_letter import dead_letter
from streams.ingest.ingestor import Ingestor
from streams.ingest.message import RawMessage, normalise_headers
from streams.ingest.rejection import Reason, Rejection
from streams.worker.engine_metrics import EngineMetrics
from streams.worker.event_sink import EventSink
from streams.worker.ingest_metrics import IngestMetrics

log = logging.getLogger(__name__)
DEAD_LETTER_ATTEMPTS = 5
DEAD_LETTER_BACKOFF_SECONDS = 0.5


class IngestHandler:
    def __init__(
        self,
        ingestor: Ingestor,
        sink: EventSink,
        dead_letter_topic: Any,
        metrics: IngestMetrics,
        engine: EngineMetrics | None = None,
    ) -> None:
        self._ingestor = ingestor
        self._sink = sink
        self._dead_letter_topic = dead_letter_topic
        self._metrics = metrics
        self._engine = engine

    async def handle(self, message: Any) -> None:
        raw = RawMessage(
            key=message.key,
            value=message.value,
            headers=normalise_headers(message.headers),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )
        try:
            outcome = self._ingestor.ingest(raw)
            if not isinstance(outcome, Rejection):
                self._sink.accept(outcome, raw.partition)
                self._metrics.record_accepted()
                if self._engine is not None:
                    self._engine.observe_fold(
                        raw.partition, outcome.occurred_at, message.timestamp, datetime.now(UTC)
                    )
                return
        except Exception as error:  # a bug must not stop the partition
            log.exception("ingest failed", extra={"origin": raw.origin})
            outcome = Rejection(Reason.INTERNAL_ERROR, f"{type(error).__name__}: {error}")
        await self._reject(raw, outcome)

    async def _reject(self, raw: RawMessage, rejection: Rejection) -> None:
        letter = dead_letter(raw, rejection)
        for attempt in range(DEAD_LETTER_ATTEMPTS):
            try:
                delivery = await self._dead_letter_topic.send(
                    key=letter.key, value=letter.value, headers=list(letter.headers)
                )
                await delivery
                break
            except Exception:  # noqa: BLE001 - any send failure: retry, then log and go on
                self._metrics.dead_letter_failures.inc()
                await asyncio.sleep(DEAD_LETTER_BACKOFF_SECONDS * 2**attempt)
        else:
            log.error(
                "dead letter not written; the message stays in its topic",
                extra={"origin": raw.origin, "reason": rejection.reason.value},
            )
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
