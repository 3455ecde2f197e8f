"""The worker's partitioner is Kafka's default one, key for key."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.settings import Settings
from workers.stream.app import create_app
from workers.stream.partitioner import layout_partition, partition_for


@given(st.binary(max_size=80), st.integers(min_value=1, max_value=64))
@settings(max_examples=300)
def test_a_key_goes_where_the_default_partitioner_sends_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert partition_for(key, partitions, partitions) == expected
    assert partition_for(key, partitions, partitions) == expected  # cached: the same again
    assert partition_for(bytearray(key), partitions, partitions) == expected


def test_story_keys_keep_their_partitions() -> None:
    """Pinned to what Kafka's Java client says (``Utils.toPositive(Utils.murmur2(key)) % 4``):
    consumers that read a story's partition must find it where it always was."""
    partitions = list(range(4))
    keys = [b"bta-20250815T0704Z-4c0b5a", b"bta:20250815T0704Z", b"x", b"bta:20240522T1030Z"]
    assert [partition_for(key, partitions, partitions) for key in keys] == [2, 3, 2, 1]


def test_an_unkeyed_record_goes_to_an_available_partition() -> None:
    for _ in range(50):
        assert partition_for(None, [0, 1, 2, 3], [2]) == 2
        assert partition_for(None, [0, 1, 2, 3], []) in {0, 1, 2, 3}


def test_the_workers_producer_uses_it(tmp_path: Path) -> None:
    wire = create_app(Settings(state_dir=tmp_path))

    async def client_partitioner() -> object:
        client = wire.app.producer._new_producer()
        try:
            return client._partitioner
        finally:
            await client.stop()  # never started: closes what the constructor opened

    assert asyncio.run(client_partitioner()) is partition_for


@given(st.binary(max_size=80), st.integers(min_value=1, max_value=16), st.integers(0, 48))
@settings(max_examples=300)
def test_a_bucket_keeps_its_layout_partition_when_the_topic_grows(
    key: bytes, layout: int, added: int
) -> None:
    """The repartition topic's partition is the default partitioner's over the layout's
    partitions, and stays so after partitions are added by hand."""
    partitions = list(range(layout))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert layout_partition(key, layout) == expected
    assert 0 <= expected < layout  # never one of the partitions added by hand
