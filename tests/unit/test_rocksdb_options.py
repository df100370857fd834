"""A partition store's RocksDB memory comes from the settings; the changelog's topic configs too."""

from __future__ import annotations

from pathlib import Path

from streams.engine.partition_store import MB, PartitionStore, memory_budget, store_options
from streams.kafka.topics import CHANGELOG_DIRTY_RATIO, changelog_configs, required_topics
from streams.settings import Settings


def test_the_budget_is_split_between_write_buffers_and_the_block_cache() -> None:
    options = memory_budget(32)

    buffers = options["write_buffer_size"] * options["max_write_buffer_number"]
    assert buffers == 16 * MB
    assert options["block_cache_size"] == 16 * MB


def test_a_store_opens_with_them_and_keeps_deals_with_their_offset(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "p0", store_options(8))
    store["d1"] = {"partition": 0, "history": {"v": 1, "deal": "d1", "events": []}}
    assert store.next_offset is None
    store.write(42)
    store.close()
    reopened = PartitionStore(tmp_path / "p0", store_options(8))
    assert reopened.next_offset == 42
    assert list(reopened) == ["d1"]
    assert reopened["d1"]["history"]["deal"] == "d1"
    reopened.close()


def test_the_changelog_is_created_compacted_with_small_segments() -> None:
    settings = Settings(changelog_segment_mb=4)
    name = f"{settings.app_id}-deals-changelog"
    (changelog,) = [spec for spec in required_topics(settings) if spec.name == name]
    assert dict(changelog.configs) == dict(changelog_configs(settings))
    assert dict(changelog_configs(settings)) == {
        "cleanup.policy": "compact",
        "segment.bytes": str(4 * MB),
        "min.cleanable.dirty.ratio": str(CHANGELOG_DIRTY_RATIO),
    }
