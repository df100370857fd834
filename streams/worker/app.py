"""Building the Faust app from the settings: the one place Faust options are chosen.

Faust runs the worker (lifecycle, signals, logging), the web pages and the
timers; the deal events are consumed by `DealEngine` (`streams.engine`), so
the app starts no Kafka consumer of its own (`EngineBoot`): a second member
in the engine's consumer group would take partitions it never reads.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.app import BootStrategy

from streams.settings import Settings
from streams.worker.web_guard import web_guard


class EngineBoot(BootStrategy):
    """Faust's documented way to leave out a service: here its consumer (and its tables)."""

    enable_kafka_consumer = False


class DealpulseApp(faust.App):
    BootStrategy = EngineBoot


def build_app(settings: Settings) -> faust.App:
    return DealpulseApp(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
        datadir=str(settings.worker_data_dir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        producer_linger=settings.producer_linger_seconds,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_ssl_context=settings.web_ssl_context,
        # Faust's own views are off (the table view served a deal's whole history), and
        # anything else is refused by the guard: only the worker's documented routes answer.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_metrics_enabled=False,
        web_application_options={"middlewares": [web_guard(settings)]},
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
