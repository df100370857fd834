"""Reading a partition's changelog back: the deals a new owner restores from.

The changelog is compacted, so a read from its start finds about one record per
deal (plus what compaction has not reached yet): restore time grows with the
number of deals, not with the number of events.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.settings import Settings

FETCH_TIMEOUT_MS = 1000


async def read_changelog(settings: Settings, topic: str, partition: int) -> dict[bytes, bytes]:
    """The last record of every key in `topic`'s `partition`, up to its end offset now (a
    deal's, in a changelog; a key whose last record is a tombstone is left out)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.kafka_client_options(),
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        # An explicit seek: `seek_to_beginning` right after `assign` could lose to the
        # assignment's own reset and leave the position at the end (seen here).
        consumer.seek(tp, (await consumer.beginning_offsets([tp]))[tp])
        records: dict[bytes, bytes] = {}
        while end and await consumer.position(tp) < end:
            fetched = await consumer.getmany(tp, timeout_ms=FETCH_TIMEOUT_MS)
            for record in fetched.get(tp, []):
                if record.offset >= end or record.key is None:
                    continue
                if record.value is None:  # a tombstone removes the key (a compacted topic's rule)
                    records.pop(record.key, None)
                else:
                    records[record.key] = record.value
        return records
    finally:
        await consumer.stop()
