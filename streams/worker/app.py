"""Building the Faust app from the settings: the one place Faust options are chosen.

Faust runs the worker (lifecycle, signals, logging), the web pages, the timers
and the control plane (agents and global tables); the deal events are consumed
by `DealEngine` (`streams.engine`) in the consumer group `DEALPULSE_APP_ID`.

Faust names its consumer group and the changelog topics of its tables after its
app id (`<app id>-<table>-changelog`), so the app id given to Faust is the
engine's with `-control` after it (`control_app_id`): Faust's consumer then
joins a group of its own and never takes the engine's partitions (the two
clients speak different assignment protocols and would not share a group anyway),
the engine's group keeps its committed offsets, and no Faust changelog can
collide with the engine's `<app id>-deals-changelog`.
"""

from __future__ import annotations

from typing import Any

import faust

from streams.settings import Settings
from streams.worker.web_guard import web_guard

CONTROL_SUFFIX = "-control"


def control_app_id(settings: Settings) -> str:
    """Faust's app id: its consumer group, and the prefix of its tables' changelog topics."""
    return f"{settings.app_id}{CONTROL_SUFFIX}"


def build_app(settings: Settings) -> faust.App:
    return faust.App(
        control_app_id(settings),
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
        datadir=str(settings.worker_data_dir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_disable_leader=True,  # no `<app id>-__assignor-__leader` topic: nothing uses it
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.session_timeout_seconds / 5,
        consumer_group_instance_id=settings.consumer_group_instance_id,
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
