"""The table's store: Faust's RocksDB store, written without RocksDB's write-ahead log.

The changelog topic is the table's log. RocksDB's WAL repeated it, at a write system call per
put on the event loop: two per item (the bucket's state, then the changelog offset Faust
records once the broker has the record; BENCHMARKS.md, round 14, measures the cost). Kafka
Streams runs its RocksDB stores the same way.

What a crash costs: the writes RocksDB had not flushed yet, and only on this disk. Faust
restores each partition from the changelog past the offset its database last recorded
(``set_persisted_offset``, written into that same database after the record's state). Flushes
keep the order of the writes, so a database that survives a crash holds every write up to
some point: if it has a record's offset, it has the record's state, and whatever came later
is replayed from the changelog. A clean stop and a revoked partition flush first, so they
cost no replay.
"""

from __future__ import annotations

from typing import Any

import rocksdict
from faust import stores
from faust.stores.rocksdb import Store

# The scheme Faust's store registry knows this store by; ``WIRE_STORE=rocksdb://`` selects it.
SCHEME = "wire-rocksdb"
_ROCKSDB = "rocksdb://"


class ChangelogBackedStore(Store):
    """Faust's RocksDB store whose puts skip RocksDB's write-ahead log (see the module)."""

    def _open_for_partition(self, partition: int) -> Any:
        db = super()._open_for_partition(partition)
        db.set_write_options(_without_wal())
        return db

    def revoke_partitions(self, table: Any, tps: Any) -> None:
        """Flush a partition's database before Faust lets go of it."""
        for tp in tps:
            db = self._dbs.get(tp.partition) if tp.topic in table.changelog_topic.topics else None
            if db is not None:
                db.flush()
        super().revoke_partitions(table, tps)

    async def stop(self) -> None:
        """Flush every database, so that the next start has nothing to replay."""
        for db in self._dbs.values():
            db.flush()
        await super().stop()


def _without_wal() -> rocksdict.WriteOptions:
    options = rocksdict.WriteOptions()
    # A property in rocksdict's extension, where its stub declares a method.
    options.disable_wal = True  # type: ignore[assignment,method-assign]
    return options


def faust_store_url(store: str) -> str:
    """The store URL Faust gets for ``WIRE_STORE``: this store for RocksDB, others as given."""
    if store.startswith(_ROCKSDB):
        return f"{SCHEME}://{store[len(_ROCKSDB) :]}"
    return store


def flush_partition(table: Any, partition: int) -> None:
    """Flush the partition's database (a no-op for the memory store): what RocksDB may have
    done by itself at any moment. For the fault the reliability suite injects."""
    db_for = getattr(table.data, "_db_for_partition", None)
    if db_for is not None:
        db_for(partition).flush()


stores.STORES.aliases.setdefault(SCHEME, f"{__name__}:{ChangelogBackedStore.__name__}")
