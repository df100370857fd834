"""The deal-event firehose: one batched consumer, per-partition RocksDB stores, a changelog."""
