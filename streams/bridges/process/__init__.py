"""The bridge processes: the HTTP, Kafka and Prometheus around the pure mapping core.

- `http_server` — a webhook bridge's aiohttp server: sizes, authentication, statuses;
- `output` — canonical events and dead letters to Kafka, acknowledged before answering;
- `kafka_bridge` — the Kafka → Kafka bridges' loop: batch, map, produce, acknowledge, commit;
- `commit` — a Kafka → Kafka bridge's commit, which a rebalance may refuse;
- `metrics` — a bridge's counters on its own registry and /metrics;
- `hubspot`, `pipedrive` — `dealpulse bridge hubspot|pipedrive` (webhooks in);
- `salesforce` — `dealpulse bridge salesforce` (Kafka → Kafka).
"""
