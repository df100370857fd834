"""Bridges: turn what a CRM emits into canonical v1 deal events.

Each bridge runs as its own process (`dealpulse bridge SOURCE ...`) and write
to the events topic; the workers do not change. This package is the pure core
they share, with no Kafka, HTTP or Prometheus in it:

- `mapping_file` — the per-source TOML file: CRM pipeline and stage ids to
  dealpulse names, and which CRM stages mean won and lost;
- `refusal` — why a source event yields no canonical event (a dead letter, never
  an exception);
- `source_values` — reading ids, money, instants and dates out of a CRM's JSON;
- `canonical` — the canonical event a bridge writes, and its deterministic `event_id`;
- `pipedrive` — Pipedrive webhooks v2 to canonical events;
- `salesforce` — Salesforce `OpportunityChangeEvent` (Change Data Capture) to
  canonical events;
- `hubspot` — HubSpot deal webhooks (and the CRM API's read of a deal) to
  canonical events;
- `signatures` — HubSpot's v3 request signature and Pipedrive's basic auth;
- `debezium` — Debezium's PostgreSQL change events of an Odoo-style `crm_lead` to
  canonical events.

The processes around this core are in `streams.bridges.process` (the webhook
bridges and Salesforce's) and `streams.cdc` (Debezium's, with the local
PostgreSQL and Kafka Connect launchers).
"""
