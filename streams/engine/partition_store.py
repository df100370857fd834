"""`PartitionStore`: one partition's deal records in RocksDB, and the input offset they cover.

Writes are buffered (`pending`) until `write(next_offset)` puts them and the
partition's next input offset in one RocksDB `WriteBatch`: after a crash the
store holds the deals exactly as they were at some checkpoint, together with
the offset that checkpoint had reached. Records are the JSON bytes of
`streams.domain.partition_state.StoredDeal`, the same bytes the checkpoint
produces to the changelog.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, cast

import orjson
from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch

from streams.domain.partition_state import StoredDeal

DEAL_PREFIX = b"deal:"
NEXT_OFFSET_KEY = b"meta:next-offset"
"""Outside `DEAL_PREFIX`: no deal id can collide with it."""


MB = 1024 * 1024
WRITE_BUFFERS = 2


def memory_budget(rocksdb_memory_mb: int) -> dict[str, int]:
    """One store's RocksDB memory: half write buffers, half block cache."""
    budget = rocksdb_memory_mb * MB
    return {
        "write_buffer_size": budget // 2 // WRITE_BUFFERS,
        "max_write_buffer_number": WRITE_BUFFERS,
        "block_cache_size": budget // 2,
    }


def store_options(rocksdb_memory_mb: int) -> Options:
    """Options of one partition's store, bounded by `DEALPULSE_ROCKSDB_MEMORY_MB`."""
    budget = memory_budget(rocksdb_memory_mb)
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(budget["write_buffer_size"])
    options.set_max_write_buffer_number(budget["max_write_buffer_number"])
    table = BlockBasedOptions()
    table.set_block_cache(Cache(budget["block_cache_size"]))
    options.set_block_based_table_factory(table)
    return options


def _deal_id(key: object) -> str | None:
    """The deal id of a RocksDB key; None past the deal keys (keys are raw bytes here)."""
    raw = cast(bytes, key)
    return raw[len(DEAL_PREFIX) :].decode() if raw.startswith(DEAL_PREFIX) else None


def encode_record(stored: StoredDeal) -> bytes:
    return orjson.dumps(stored)


def decode_record(encoded: bytes) -> StoredDeal:
    decoded: StoredDeal = orjson.loads(encoded)
    return decoded


class PartitionStore(MutableMapping[str, StoredDeal]):
    """A `DealStore` (`streams.domain.partition_state`) over one partition's RocksDB."""

    def __init__(self, path: Path, options: Options | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._options = options if options is not None else Options(raw_mode=True)
        self._db = Rdict(str(path), self._options)
        self.pending: dict[str, bytes] = {}
        """Records written since the last `write`, encoded, by deal id."""

    @property
    def next_offset(self) -> int | None:
        """The input offset the stored deals cover up to (excluded); None for a new store."""
        encoded = self._db.get(NEXT_OFFSET_KEY)
        return None if encoded is None else int(cast(bytes, encoded))

    def write(self, next_offset: int) -> None:
        """Put the pending records and `next_offset` in one atomic batch."""
        batch = WriteBatch(raw_mode=True)
        for deal_id, encoded in self.pending.items():
            batch.put(DEAL_PREFIX + deal_id.encode(), encoded)
        batch.put(NEXT_OFFSET_KEY, str(next_offset).encode())
        self._db.write(batch)
        self.pending.clear()

    def replace_all(self, records: Iterable[tuple[bytes, bytes]], next_offset: int | None) -> None:
        """Empty the store, then hold `records` (deal id, encoded record), the last one of a
        deal winning (a changelog read from its start)."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self._db = Rdict(str(self.path), self._options)
        self.pending.clear()
        batch = WriteBatch(raw_mode=True)
        for deal_id, encoded in records:
            batch.put(DEAL_PREFIX + deal_id, encoded)
        if next_offset is not None:
            batch.put(NEXT_OFFSET_KEY, str(next_offset).encode())
        self._db.write(batch)

    def close(self) -> None:
        self._db.close()

    def __getitem__(self, deal_id: str) -> StoredDeal:
        encoded = self.pending.get(deal_id)
        if encoded is None:
            found = self._db.get(DEAL_PREFIX + deal_id.encode())
            if found is None:
                raise KeyError(deal_id)
            encoded = cast(bytes, found)
        return decode_record(encoded)

    def __setitem__(self, deal_id: str, stored: StoredDeal) -> None:
        self.pending[deal_id] = encode_record(stored)

    def __delitem__(self, deal_id: str) -> None:
        raise NotImplementedError("deal records are never deleted (a deletion is a tombstone)")

    def __iter__(self) -> Iterator[str]:
        """Every deal id, stored or pending (the stored ones from a RocksDB snapshot)."""
        seen = set(self.pending)
        yield from list(self.pending)
        for key in self._db.keys(from_key=DEAL_PREFIX):
            deal_id = _deal_id(key)
            if deal_id is None:
                break
            if deal_id not in seen:
                yield deal_id

    def records(self) -> Iterator[StoredDeal]:
        """Every stored record (pending ones first, as they were when it started), decoded."""
        seen = set(self.pending)
        for encoded in list(self.pending.values()):  # a reader may yield to the engine
            yield decode_record(encoded)
        for key, encoded in self._db.items(from_key=DEAL_PREFIX):
            deal_id = _deal_id(key)
            if deal_id is None:
                break
            if deal_id not in seen:
                yield decode_record(cast(bytes, encoded))

    def scan(
        self, after: str | None, limit: int
    ) -> tuple[list[tuple[str, StoredDeal]], str | None]:
        """Up to `limit` stored records after deal `after` (from the first without), and the
        deal to resume after (None once the last was read)."""
        start = DEAL_PREFIX if after is None else DEAL_PREFIX + after.encode() + b"\x00"
        found: list[tuple[str, StoredDeal]] = []
        for key, encoded in self._db.items(from_key=start):
            deal_id = _deal_id(key)
            if deal_id is None:
                return found, None
            found.append((deal_id, decode_record(cast(bytes, encoded))))
            if len(found) >= limit:
                return found, deal_id
        return found, None

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, deal_id: Any) -> bool:
        return isinstance(deal_id, str) and (
            deal_id in self.pending or self._db.get(DEAL_PREFIX + deal_id.encode()) is not None
        )
