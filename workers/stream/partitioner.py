"""Kafka's default partitioner, with each key hashed once.

aiokafka's ``murmur2`` is pure Python, a loop per four bytes of the key, and it runs for every
keyed record the worker sends: three or more per item (the repartitioned item, then each event
to ``stories.latest`` and ``stories.events`` under one story key), while the keys themselves
repeat (every version of a story, both outputs of one event). The partition is the one
aiokafka's ``DefaultPartitioner`` (and Kafka's Java client) picks for the key, so a story
stays in the partition its consumers know.

The repartition topic is the exception: its records go to the partition of the story
state's layout (:func:`layout_partition`), whatever the topic has grown to since the start.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

from aiokafka.partitioner import murmur2


# The keys that repeat do so within minutes (both outputs of an event, a story's versions):
# a few thousand recent keys are enough, and the cache stays under ~3 MB.
@lru_cache(maxsize=16384)
def _positive_murmur2(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def partition_for(
    key: bytes | bytearray | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """``DefaultPartitioner()(key, all_partitions, available)``: the producer's partitioner."""
    if key is None:
        return random.choice(available or all_partitions)  # noqa: S311 - spreads unkeyed records
    # bytes() returns a bytes key itself and copies a bytearray, which is unhashable.
    return all_partitions[_positive_murmur2(bytes(key)) % len(all_partitions)]


def layout_partition(key: bytes, partitions: int) -> int:
    """The partition of the story state's layout (``WIRE_PARTITIONS``) for a bucket key.

    What the default partitioner picks while the repartition topic has ``partitions``
    partitions; a topic grown by hand while the worker runs gets no record in its new
    partitions, which have no changelog partition (and no state) behind them.
    """
    return _positive_murmur2(key) % partitions
