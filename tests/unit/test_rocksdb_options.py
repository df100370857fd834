"""The deal table's RocksDB memory and changelog segments come from the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.settings import Settings
from streams.topology import DEALS_TABLE, build_topology
from streams.worker.app import MB, rocksdb_options


def test_the_budget_is_split_between_write_buffers_and_the_block_cache() -> None:
    options = rocksdb_options(Settings(rocksdb_memory_mb=32))

    buffers = options["write_buffer_size"] * options["max_write_buffer_number"]
    assert buffers == 16 * MB
    assert options["block_cache_size"] == 16 * MB


def test_the_deal_table_opens_its_stores_with_them(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "worker", rocksdb_memory_mb=8)
    topology = build_topology(settings)
    table: Any = topology.app.tables[DEALS_TABLE]

    store_options = table.data.rocksdb_options  # Faust's RocksDB store, not opened yet

    assert store_options.write_buffer_size == 2 * MB
    assert store_options.max_write_buffer_number == 2
    assert store_options.block_cache_size == 4 * MB


def test_the_changelog_is_created_with_small_segments(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "worker", changelog_segment_mb=4)
    table: Any = build_topology(settings).app.tables[DEALS_TABLE]

    assert table.changelog_topic.config["segment.bytes"] == str(4 * MB)
    assert table.changelog_topic.config["min.cleanable.dirty.ratio"] == "0.1"
