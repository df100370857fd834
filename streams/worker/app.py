"""Building the Faust app from the settings: the one place Faust options are chosen."""

from __future__ import annotations

from typing import Any

import faust

from streams.settings import Settings
from streams.worker.faust_commit import deduplicate_commits

STORE_URL = "rocksdb://"  # faust uses rocksdict for this scheme when it is installed
HEARTBEATS_PER_SESSION = 5  # Kafka's advice: heartbeat at most a third of the session timeout
WRITE_BUFFERS = 2
MB = 1024 * 1024
CHANGELOG_DIRTY_RATIO = 0.1
"""Kafka compacts a changelog partition once this share of it is overwritten (its default
is 0.5): a restore from the changelog reads at most about this much more than one record
per deal, plus the open segment."""


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """Options of a table's RocksDB store (per partition), bounded by `rocksdb_memory_mb`."""
    budget = settings.rocksdb_memory_mb * MB
    return {
        "write_buffer_size": budget // 2 // WRITE_BUFFERS,
        "max_write_buffer_number": WRITE_BUFFERS,
        "block_cache_size": budget // 2,
    }


def changelog_topic_configs(settings: Settings) -> dict[str, str]:
    """Topic configs of a table's changelog, beyond Faust's `cleanup.policy=compact`."""
    return {
        "segment.bytes": str(settings.changelog_segment_mb * MB),
        "min.cleanable.dirty.ratio": str(CHANGELOG_DIRTY_RATIO),
    }


def build_app(settings: Settings) -> faust.App:
    deduplicate_commits()
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
        store=STORE_URL,
        datadir=str(settings.worker_data_dir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        producer_linger=settings.producer_linger_seconds,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.session_timeout_seconds / HEARTBEATS_PER_SESSION,
        consumer_group_instance_id=settings.consumer_group_instance_id,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        autodiscover=False,
    )


def _credentials(settings: Settings) -> Any:
    options = settings.kafka_client_options()
    ssl_context = options.get("ssl_context")
    if settings.kafka_sasl_mechanism:
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options.get("sasl_plain_password"),
            ssl_context=ssl_context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    if ssl_context is not None:
        return faust.SSLCredentials(ssl_context)
    return None
