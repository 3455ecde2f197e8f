"""A table partition's local state ahead of its changelog: dropped and rebuilt from it.

Each partition's RocksDB database records the changelog offset of the last record it holds.
When the changelog now ends before that offset, the broker lost records that it had
acknowledged (its data wiped, an unclean leader election) or the topic was deleted and
created again. The local state then holds what the changelog no longer has: no other worker
could rebuild it, and a replay would lay the changelog's records over state they never
produced. Faust stops there with a ``ConsistencyError`` traceback (exit 1, and again at every
restart: a crash loop an operator can only end by deleting the state directory by hand).

Kafka Streams wipes such a store and restores it from the changelog, and so does this module:
once recovery knows the changelog's end, the partition's database is deleted, its offset
forgotten, and recovery reads the changelog from its start. One WARNING line names the
partition and both offsets; ``wire_ingest_state_rebuilds_total`` counts the rebuilds. The
stories only the deleted state knew are not merged with their later versions: the broker
lost them first.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import shutil
from collections.abc import Callable
from typing import Any

from faust.stores.rocksdb import Store as RocksDBStore

log = logging.getLogger(__name__)

# The first offset Faust's recovery reads a partition from when it has no state (its
# "offset - 1" convention: the changelog is read from offset 0, or its earliest).
NO_STATE = -1


def install(app: Any, on_rebuild: Callable[[], None]) -> None:
    """Compare each recovered partition's persisted offset with its changelog's end.

    Faust's ``Recovery`` builds the ends (``_build_highwaters``, its last offsets) before it
    checks them against the persisted offsets, for active and for standby partitions. Like
    Faust's check, it runs only when ``recovery_consistency_check`` is on (the default).
    """
    if not app.conf.recovery_consistency_check:
        return
    recovery = app.tables.recovery
    build_highwaters = recovery._build_highwaters

    async def build_highwaters_and_compare(
        consumer: Any, tps: Any, destination: Any, title: str
    ) -> None:
        await build_highwaters(consumer, tps, destination, title)
        offsets = {"active": recovery.active_offsets, "standby": recovery.standby_offsets}
        persisted_offsets = offsets.get(title)
        if persisted_offsets is None:
            return
        ahead = [
            tp
            for tp in tps
            if persisted_offsets.get(tp) is not None
            and destination.get(tp) is not None
            and persisted_offsets[tp] > destination[tp]
        ]
        if not ahead:
            return
        # Faust writes -1 for an end it was not told, as for an empty partition: asked
        # again, an end still unknown keeps the state (Faust's own check decides).
        ends = await consumer.highwaters(*ahead)
        dropped = []
        for tp in ahead:
            if ends.get(tp) is None:
                continue
            persisted, last = persisted_offsets[tp], ends[tp] - 1
            destination[tp] = last  # the newer answer, for Faust's own check too
            if persisted <= last:
                continue
            store = recovery.tp_to_table[tp].data
            if not _drop_partition(store, tp.partition):
                continue  # not a store this module knows: Faust's own check stops the worker
            log.warning(
                "%s[%d]: the table's local state is ahead of its changelog (it holds "
                "records to offset %d; %s): the broker lost records or the topic was "
                "re-created. Dropped the local state of partition %d (%s); rebuilding it "
                "from the changelog",
                tp.topic,
                tp.partition,
                persisted,
                f"the changelog ends at {last}" if last >= 0 else "the changelog is empty",
                tp.partition,
                title,
            )
            persisted_offsets[tp] = NO_STATE
            dropped.append(tp)
            on_rebuild()
        if dropped and title == "standby":
            # Standby partitions were sought to their persisted offsets already.
            await consumer.seek_wait(dict.fromkeys(dropped, 0))

    recovery._build_highwaters = build_highwaters_and_compare


def _drop_partition(store: Any, partition: int) -> bool:
    """Close and delete a RocksDB store's database of one partition; False for other stores."""
    if not isinstance(store, RocksDBStore):
        return False
    db = store._dbs.pop(partition, None)
    if db is not None:
        db.close()
        del db
        gc.collect()  # as Faust's revoke: what still refers to it lets go of its lock
    store._key_index.clear()  # keys to partitions: some were this partition's
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(store.partition_path(partition))
    # Opened again here, empty: a database still locked fails now, by this partition's
    # name, rather than later inside Faust's recovery, which would retry it for ever.
    store._db_for_partition(partition)
    return True
