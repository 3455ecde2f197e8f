"""The table's store: Faust's RocksDB store, written without RocksDB's write-ahead log.

The changelog topic is the table's log. RocksDB's WAL repeated it, at a write system call per
put on the event loop: two per item (the bucket's state, then the changelog offset Faust
records once the broker has the record; BENCHMARKS.md, round 14, measures the cost). Kafka
Streams runs its RocksDB stores the same way.

What a crash costs: the writes RocksDB had not flushed yet, and only on this disk. Faust
restores each partition from the changelog past the offset its database last recorded
(``set_persisted_offset``, written into that same database after the record's state). With
atomic flush, RocksDB recovers a database without a WAL to a prefix of its writes: if it has
a record's offset, it has the record's state, and whatever came later is replayed from the
changelog. The open databases are flushed every ``WIRE_STORE_FLUSH_S``, so the replay is
short and the local state is never older than the changelog's tombstones, which compaction
keeps for a day (``delete.retention.ms``): a bucket expired since is deleted again by the
replay, not brought back. A clean stop and a revoked partition flush first, and replay
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, NoReturn

import faust
import rocksdict
from faust import stores
from faust.stores.rocksdb import RocksDBOptions, Store

from workers.stream.delivery import describe
from workers.stream.fatal import EXIT_STATE_STORE_FAILED, stop

log = logging.getLogger(__name__)

# The scheme Faust's store registry knows this store by; ``WIRE_STORE=rocksdb://`` selects it.
SCHEME = "wire-rocksdb"
_ROCKSDB = "rocksdb://"


class _AtomicFlushOptions(RocksDBOptions):
    """Faust's options plus atomic flush, under which RocksDB promises prefix recovery to a
    database written without a WAL."""

    def as_options(self) -> Any:
        options = super().as_options()
        options.set_atomic_flush(True)
        return options


class ChangelogBackedStore(Store):
    """Faust's RocksDB store whose writes skip RocksDB's write-ahead log (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # As Faust builds its own (the options it took out, read_only and driver, are gone).
        options = self.options or {}
        self.rocksdb_options = _AtomicFlushOptions(**options, use_rocksdict=self.use_rocksdict)

    # Set by WIRE_FAULT_INJECTION=fail-state-write (the reliability suite): every write fails
    # as RocksDB's do once a flush found the disk full.
    fail_writes = False

    def _open_for_partition(self, partition: int) -> Any:
        db = super()._open_for_partition(partition)
        db.set_write_options(_without_wal())
        return db

    # Each call into RocksDB below stops the worker when it fails (_stopped_by): a plain
    # try, as these run several times per item.

    def _set(self, key: bytes, value: bytes | None) -> None:
        try:
            if self.fail_writes:
                raise OSError(_INJECTED_FAILURE)
            super()._set(key, value)
        except Exception as exc:  # noqa: BLE001 - rocksdict raises plain Exception
            _stopped_by(exc, "write a bucket's state")

    def _del(self, key: bytes) -> None:
        try:
            super()._del(key)
        except Exception as exc:  # noqa: BLE001 - rocksdict raises plain Exception
            _stopped_by(exc, "delete a bucket's state")

    def _get(self, key: bytes) -> bytes | None:
        try:
            value: bytes | None = super()._get(key)
        except Exception as exc:  # noqa: BLE001 - rocksdict raises plain Exception
            _stopped_by(exc, "read a bucket's state")
        return value

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        """Written for each changelog record the broker acknowledged (in its callback)."""
        try:
            if self.fail_writes:
                raise OSError(_INJECTED_FAILURE)
            super().set_persisted_offset(tp, offset)
        except Exception as exc:  # noqa: BLE001 - rocksdict raises plain Exception
            _stopped_by(exc, "record a changelog offset")

    def apply_changelog_batch(self, batch: Any, to_key: Any, to_value: Any) -> None:
        try:
            super().apply_changelog_batch(batch, to_key, to_value)
        except Exception as exc:  # noqa: BLE001 - rocksdict raises plain Exception
            _stopped_by(exc, "write the changelog's records")

    def flush_in_background(self) -> None:
        """Start a flush of every open database, and return without waiting for it."""
        _flush(self._dbs.items(), wait=False)

    def revoke_partitions(self, table: Any, tps: Any) -> None:
        """Flush a partition's database before Faust lets go of it."""
        changelogs = table.changelog_topic.topics
        partitions = {tp.partition for tp in tps if tp.topic in changelogs}
        _flush(((p, db) for p, db in self._dbs.items() if p in partitions), wait=True)
        super().revoke_partitions(table, tps)

    async def stop(self) -> None:
        """Flush every database, so that the next start has nothing to replay."""
        try:
            _flush(self._dbs.items(), wait=True)
        finally:
            await super().stop()


_INJECTED_FAILURE = "IO error: No space left on device (WIRE_FAULT_INJECTION=fail-state-write)"


def _stopped_by(exc: Exception, action: str) -> NoReturn:
    """Stop the worker when the local store fails (a full or failing disk).

    Not the input's fault, so not a DLQ record: dead-lettered, every input would go to the
    DLQ while the disk stays full, and a state whose changelog record had already been queued
    (Faust queues it before it writes the store) would outlive its events. RocksDB, once a
    flush failed, refuses every later write. Stopped without a commit, the worker processes the
    inputs since the last commit again at the next start, from the changelog's state.
    """
    stop(
        f"the table's local store could not {action} ({describe(exc)}); stopping without "
        "committing: see to the state volume (WIRE_STATE_DIR: full, failing, or held by "
        "another process), and the inputs since the last commit will be processed again at "
        "the next start",
        EXIT_STATE_STORE_FAILED,
    )


def _flush(dbs: Iterable[tuple[int, Any]], *, wait: bool) -> None:
    """Flush each database; a failure is logged and left to the changelog (a crash's case)."""
    for partition, db in dbs:
        try:
            db.flush(wait)
        except Exception:  # the data is in the changelog; a restart replays it
            log.exception("flushing the table's database of partition %d failed", partition)


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


def install(app: faust.App, table: Any, interval_s: float) -> None:
    """Flush the table's open databases in the background every ``interval_s`` (RocksDB
    stores only; a memtable that fills up flushes by itself sooner)."""

    async def flush_table_store() -> None:
        store = table.data
        if isinstance(store, ChangelogBackedStore):
            store.flush_in_background()

    app.timer(interval_s)(flush_table_store)


def flush_partition(table: Any, partition: int) -> None:
    """Flush the partition's database (a no-op for the memory store): what RocksDB may have
    done by itself at any moment. For the fault the reliability suite injects."""
    db_for = getattr(table.data, "_db_for_partition", None)
    if db_for is not None:
        db_for(partition).flush()


stores.STORES.aliases.setdefault(SCHEME, f"{__name__}:{ChangelogBackedStore.__name__}")
