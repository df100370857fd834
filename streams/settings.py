"""The one settings object of dealpulse, read from `DEALPULSE_*` variables.

Built once at the entry point (the CLI, a test fixture) and passed down, so no
module reads the environment on its own. Every field is documented in
`docs/configuration.md`; a test keeps the two in step.
"""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, FilePath, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PIPELINES_FILE = Path(__file__).resolve().parents[1] / "deploy" / "pipelines.toml"
DEFAULT_ODOO_MAPPING_FILE = Path(__file__).resolve().parents[1] / "deploy" / "bridges" / "odoo.toml"
DEFAULT_RATES = {
    "USD": Decimal(1),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "CAD": Decimal("0.73"),
    "AUD": Decimal("0.66"),
}
LogLevel = Literal["debug", "info", "warn", "error"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEALPULSE_", frozen=True, extra="forbid")

    # --- Kafka: an existing cluster, or the project's local broker ---------
    kafka_bootstrap: str | None = Field(
        default=None,
        description="Bootstrap servers of an existing cluster; when set, no local broker is used.",
    )
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: FilePath | None = None
    kafka_ssl_certfile: FilePath | None = None
    kafka_ssl_keyfile: FilePath | None = None

    kafka_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a worker, the simulator or replay --topic waits for Kafka to "
        "answer when it starts, with backoff, before giving up with a one-line error "
        "(0: ask once).",
    )
    local_kafka_port: int = Field(default=9092, description="Client port of the local broker.")
    local_kafka_controller_port: int = Field(
        default=9093, description="KRaft controller port of the local broker."
    )
    local_kafka_dir: Path = Field(
        default=Path(".dealpulse/kafka"),
        description="Log directory, pid file and broker log of the local broker.",
    )
    local_kafka_heap: str = Field(default="512m", description="JVM heap of the local broker.")
    local_kafka_start_timeout_seconds: float = 90.0
    local_kafka_sasl_ssl_port: int | None = Field(
        default=None,
        description="A second listener of the local broker, SASL_SSL with SCRAM-SHA-512, on "
        "this port (with the keystore and the SCRAM users below).",
    )
    local_kafka_keystore: Path | None = Field(
        default=None, description="PKCS#12 keystore of that listener: its key and certificate."
    )
    local_kafka_keystore_password: SecretStr | None = None
    local_kafka_scram_users: SecretStr | None = Field(
        default=None,
        description="`name:password[,name:password]`: SCRAM-SHA-512 users created when the "
        "local broker's storage is formatted (its first start).",
    )

    # --- CDC: the local PostgreSQL, Kafka Connect + Debezium, the bridge ----
    local_postgres_dir: Path = Field(
        default=Path(".dealpulse/postgres"),
        description="Data directory and log of the local PostgreSQL.",
    )
    local_postgres_port: int = Field(default=5433, description="Port of the local PostgreSQL.")
    local_postgres_database: str = Field(
        default="crm",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="The local PostgreSQL's CRM database (Odoo-style tables).",
    )
    local_connect_dir: Path = Field(
        default=Path(".dealpulse/connect"),
        description="Configuration, offsets, pid file and log of the local Kafka Connect.",
    )
    local_connect_port: int = Field(default=8083, description="REST port of the local Connect.")
    local_connect_heap: str = Field(default="512m", description="JVM heap of the local Connect.")
    local_connect_start_timeout_seconds: float = 120.0
    debezium_database_host: str = Field(
        default="127.0.0.1", description="The CRM database Debezium reads (its host)."
    )
    debezium_database_port: int | None = Field(
        default=None, description="Its port; unset: DEALPULSE_LOCAL_POSTGRES_PORT."
    )
    debezium_database_name: str | None = Field(
        default=None, description="Its database; unset: DEALPULSE_LOCAL_POSTGRES_DATABASE."
    )
    debezium_database_user: str = Field(
        default="postgres", description="A user with REPLICATION and SELECT on crm_lead."
    )
    debezium_database_password: SecretStr | None = None
    debezium_topic_prefix: str = Field(
        default="crm",
        description="Debezium's `topic.prefix`: the lead changes are on PREFIX.public.crm_lead.",
    )
    debezium_mapping_file: Path = Field(
        default=DEFAULT_ODOO_MAPPING_FILE,
        description="The Debezium bridge's mapping file (stage, team and lost-reason ids).",
    )
    debezium_group_id: str = Field(
        default="dealpulse-bridge-debezium", description="The Debezium bridge's consumer group."
    )

    # --- Topics ------------------------------------------------------------
    topic_events: str = Field(default="crm.deal-events", description="The raw CRM event topic.")
    topic_dlq: str = Field(default="crm.deal-events.dlq", description="The dead-letter topic.")
    topic_control: str = Field(
        default="dealpulse.control",
        description="The control topic (compacted, one partition): what `dealpulse quotas load` "
        "publishes and every worker's Faust agent reads into its global tables.",
    )
    topic_partitions: int = Field(default=8, ge=1, description="Partitions of the event topic.")
    topic_replication_factor: int = Field(default=1, ge=1)

    topic_bridge_dlq: str = Field(
        default="crm.bridge-dlq",
        description="Where the CRM bridges write what they cannot map, with a "
        "`dealpulse.reason` header.",
    )

    # --- CRM bridges (docs/crm-bridges.md) ---------------------------------
    bridge_host: str = Field(
        default="127.0.0.1", description="Bind address of the bridges' HTTP servers."
    )
    bridge_hubspot_port: int = Field(
        default=6071, description="Port of `dealpulse bridge hubspot` (webhooks and /metrics)."
    )
    bridge_pipedrive_port: int = Field(
        default=6072, description="Port of `dealpulse bridge pipedrive` (webhooks and /metrics)."
    )
    bridge_salesforce_port: int = Field(
        default=6073, description="Port of `dealpulse bridge salesforce`'s /metrics."
    )
    bridge_debezium_port: int = Field(
        default=6074, description="Port of `dealpulse bridge debezium`'s /metrics."
    )
    bridge_batch_records: int = Field(
        default=1000,
        ge=1,
        description="The most records a Kafka → Kafka bridge (Salesforce, Debezium) maps "
        "and produces before it commits.",
    )
    bridge_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How long a Kafka → Kafka bridge waits for records in one poll.",
    )
    bridge_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Larger webhook requests are answered 413 unread.",
    )
    hubspot_client_secret: SecretStr | None = Field(
        default=None,
        description="The HubSpot app's client secret: the key of X-HubSpot-Signature-v3.",
    )
    hubspot_access_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for HubSpot's CRM API (a private app's access token), to "
        "read a created deal.",
    )
    hubspot_api_url: str = Field(
        default="https://api.hubapi.com", description="Base URL of HubSpot's CRM API."
    )
    hubspot_api_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long one CRM API read may take."
    )
    hubspot_public_url: str | None = Field(
        default=None,
        description="The webhook URL as HubSpot calls it (`https://host/path`), signed into "
        "X-HubSpot-Signature-v3; unset: the URL the request arrived at.",
    )
    pipedrive_username: str | None = Field(
        default=None, description="HTTP basic auth user of the Pipedrive webhook."
    )
    pipedrive_password: SecretStr | None = None
    salesforce_topic: str = Field(
        default="salesforce.opportunity-changes",
        description="The topic the Kafka Connect Salesforce CDC source writes "
        "OpportunityChangeEvents to.",
    )
    salesforce_group_id: str = Field(
        default="dealpulse-bridge-salesforce",
        description="Consumer group of `dealpulse bridge salesforce` (its committed offsets).",
    )

    # --- Worker ------------------------------------------------------------
    app_id: str = Field(
        default="dealpulse",
        description="Consumer group and prefix of changelog topics; changing it loses state.",
    )
    data_dir: Path | None = Field(
        default=None,
        description="Where the worker keeps RocksDB state; default .dealpulse/worker-<web_port>.",
    )
    web_host: str = Field(default="127.0.0.1", description="Bind address of /metrics.")
    web_port: int = Field(default=6066, description="Port of the worker's web server (/metrics).")
    web_auth_token: SecretStr | None = Field(
        default=None,
        description="When set, /metrics and /state/* require `Authorization: Bearer <token>` "
        "(Prometheus' `authorization` scrape setting).",
    )
    web_auth_username: str | None = Field(
        default=None,
        description="With DEALPULSE_WEB_AUTH_PASSWORD: /metrics and /state/* also accept HTTP "
        "basic auth (Prometheus' `basic_auth`).",
    )
    web_auth_password: SecretStr | None = None
    web_tls_certfile: FilePath | None = Field(
        default=None,
        description="With DEALPULSE_WEB_TLS_KEYFILE: the worker's pages are served over HTTPS "
        "with this certificate (PEM, chain included).",
    )
    web_tls_keyfile: FilePath | None = None
    web_state_enabled: bool = Field(
        default=False,
        description="Serve /state/aggregates (every aggregate as rows, for checks and "
        "benchmarks). Off by default: it is large, and behind the same authentication as "
        "/metrics.",
    )
    web_state_max_rows: int = Field(
        default=500_000,
        ge=1,
        description="/state/aggregates answers 413 above this many rows (?digest=1 still answers).",
    )
    log_level: LogLevel = "warn"

    # --- Ingest rules --------------------------------------------------------
    max_message_bytes: int = Field(
        default=65_536, ge=1024, description="Larger messages go to the DLQ as oversize."
    )
    max_key_bytes: int = Field(
        default=1024, ge=16, description="Messages with a longer key go to the DLQ as oversize."
    )
    max_headers_bytes: int = Field(
        default=16_384,
        ge=1024,
        description="Messages whose headers (names and values) are larger go to the DLQ as "
        "oversize.",
    )
    max_deal_bytes: int = Field(
        default=262_144,
        ge=16_384,
        le=524_288,
        description="The largest a deal's stored history may grow to, encoded; an event that "
        "would grow it further goes to the DLQ as deal_too_long. At most half of Kafka's "
        "default max.message.bytes (1 MB), so every changelog record fits with room to spare.",
    )
    max_future_skew: timedelta = Field(
        default=timedelta(hours=24),
        description="Events dated further ahead of the clock go to the DLQ (ISO 8601 duration).",
    )
    max_amount: Decimal = Field(
        default=Decimal("1000000000000"), description="Amounts above it go to the DLQ."
    )

    # --- Metrics ------------------------------------------------------------
    pipelines_file: Path = Field(
        default=DEFAULT_PIPELINES_FILE,
        description="Pipelines: ordered stages and win probabilities (TOML or JSON).",
    )
    reporting_currency: str = Field(
        default="USD", pattern="^[A-Z]{3}$", description="The currency every amount is reported in."
    )
    currency_rates: dict[str, Decimal] = Field(
        default_factory=lambda: dict(DEFAULT_RATES),
        description="Units of reporting currency per unit of each currency, as JSON. "
        "Events in a currency missing here go to the DLQ (unknown_currency).",
    )
    window_timezone: str = Field(
        default="UTC", description="IANA timezone of the calendar windows (day, week, month)."
    )
    session_timeout_seconds: float = Field(
        default=10.0,
        ge=6,
        le=1800,
        description="How long the group waits for a silent worker before moving its "
        "partitions (Faust's default, 60 s, kept a killed worker's partitions unserved "
        "for a minute).",
    )
    static_membership: bool = Field(
        default=True,
        description="Join the group under a fixed instance id (Kafka's static membership), "
        "so a restarted worker gets its partitions back at once instead of after the "
        "session timeout; a worker stopped for good keeps them until the session timeout.",
    )
    group_instance_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]{1,249}$",
        description="How the worker's static instance id starts (unset: the host name); "
        "a hash of its data directory and web address follows.",
    )
    producer_linger_seconds: float = Field(
        default=0.01,
        ge=0,
        description="How long the worker's producer waits to batch changelog and DLQ "
        "messages into one request (Faust's producer_linger; its default, 0, sends one "
        "request per message).",
    )
    rocksdb_memory_mb: int = Field(
        default=32,
        ge=4,
        description="Memory of the deal table's RocksDB per owned partition, in MB: half "
        "for its two write buffers, half for its block cache (Faust's defaults, 3 x 64 MB "
        "write buffers and a 2 GB cache per partition, took a worker to 2 GB).",
    )
    changelog_segment_mb: int = Field(
        default=16,
        ge=1,
        description="Segment size of the deal table's changelog topic, in MB, set when the "
        "worker creates it. Kafka compacts only closed segments, and the deal table writes "
        "a deal at every event: smaller segments leave less of the changelog uncompacted, "
        "so a worker restoring its state from it reads less.",
    )
    engine_batch_events: int = Field(
        default=5_000,
        ge=1,
        description="Messages the engine fetches per batch at most (aiokafka's max_records).",
    )
    control_catch_up_seconds: float = Field(
        default=30.0,
        gt=0,
        description="At start, how long the engine waits for the settings table to hold the "
        "pipelines and rates the control topic holds before it folds anything (then it starts "
        "anyway, and restates when they arrive).",
    )
    engine_checkpoint_seconds: float = Field(
        default=1.0,
        gt=0,
        description="A checkpoint (changelog and dead letters flushed, stores written, offsets "
        "committed) at least this often while events flow.",
    )
    engine_checkpoint_events: int = Field(
        default=20_000,
        ge=1,
        description="... and after this many messages, whichever comes first.",
    )
    engine_fault_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often a partition whose store failed (a full disk, an I/O error) "
        "tries to reopen it and write what it holds; it stops advancing meanwhile.",
    )
    fold_cache_deals: int = Field(
        default=1_000,
        ge=0,
        description="Recently folded deals kept decoded in memory, with their live replay, "
        "so their next event does not decode the stored history and replay it (0 = off). "
        "Hits depend on how soon a deal's next event follows: on the "
        "bench's million events 10,000 deals held about 100 MB and hit 15 % of the events, "
        "1,000 hit 1 % at the same throughput (docs/performance.md).",
    )
    gc_young_objects: int = Field(
        default=50_000,
        ge=0,
        description="Allocations between two collections of Python's youngest GC generation "
        "in the worker and `dealpulse replay` (the first number of gc.set_threshold; "
        "CPython's default is 700). Both allocate many short-lived objects per event; at "
        "700 the collector took about a seventh of the worker's CPU. 0 keeps the "
        "interpreter's default.",
    )
    replay_processes: int = Field(
        default=0,
        ge=0,
        description="Processes `dealpulse replay` computes in, each one the deals whose id "
        "hashes to it (their sums add up exactly); 0 = one per CPU.",
    )
    retention_days: int = Field(default=92, ge=1, description="Daily windows kept.")
    retention_weeks: int = Field(default=53, ge=1, description="ISO-week windows kept.")
    retention_months: int = Field(default=25, ge=1, description="Monthly windows kept.")
    export_windows: int = Field(
        default=2,
        ge=1,
        description="Calendar windows per granularity on /metrics: 2 = current and previous.",
    )
    max_sellers_per_tenant: int = Field(
        default=1000,
        ge=1,
        description="Sellers per tenant on /metrics; the rest are summed into seller=__other__.",
    )
    demo_plan_file: Path = Field(
        default=Path(".dealpulse/demo.json"),
        description="Where `dealpulse demo` keeps what it simulates and how many live events "
        "it has sent, so a second run continues instead of resending event ids.",
    )
    clock: datetime | None = Field(
        default=None,
        description="A fixed 'now' (RFC 3339) for tests and reproducible replays; "
        "unset means the system clock.",
    )

    def kafka_client_options(self) -> dict[str, Any]:
        """Security options in the keyword form aiokafka's clients take."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            if self.kafka_sasl_password is not None:
                options["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None,
                certfile=str(self.kafka_ssl_certfile) if self.kafka_ssl_certfile else None,
                keyfile=str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None,
            )
        return options

    @model_validator(mode="after")
    def _web_security_is_whole(self) -> Settings:
        if (self.web_auth_username is None) != (self.web_auth_password is None):
            raise ValueError("set DEALPULSE_WEB_AUTH_USERNAME and _PASSWORD together")
        if (self.web_tls_certfile is None) != (self.web_tls_keyfile is None):
            raise ValueError("set DEALPULSE_WEB_TLS_CERTFILE and _KEYFILE together")
        return self

    @property
    def web_ssl_context(self) -> ssl.SSLContext | None:
        """The worker's HTTPS context, when a certificate is configured."""
        if self.web_tls_certfile is None or self.web_tls_keyfile is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.web_tls_certfile, self.web_tls_keyfile)
        return context

    @property
    def worker_data_dir(self) -> Path:
        """One directory per worker: two workers on one host must not share RocksDB files."""
        return self.data_dir or Path(f".dealpulse/worker-{self.web_port}")

    @property
    def consumer_group_instance_id(self) -> str | None:
        """Stable across restarts of one worker and distinct between workers.

        A worker is its data directory (its RocksDB state is there; two workers
        cannot share one) at its web address: a static member gets back the
        assignment it had, and Faust's assignor refuses one made for another
        address (it crashed the worker). Kafka allows [A-Za-z0-9._-] only.
        """
        if not self.static_membership:
            return None
        name = self.group_instance_id or re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())
        identity = f"{self.worker_data_dir.resolve()}|{self.web_host}:{self.web_port}"
        return f"{name[:200] or 'worker'}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"

    @property
    def uses_local_broker(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def debezium_topic(self) -> str:
        """The topic Debezium writes the lead changes to."""
        return f"{self.debezium_topic_prefix}.public.crm_lead"

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.local_kafka_port}"
