"""Change data capture from a CRM's own PostgreSQL: the local database and Kafka Connect
(with Debezium's connector) the launcher runs, and the bridge process that turns
Debezium's change events into canonical ones (the mapping is `streams.bridges.debezium`)."""
