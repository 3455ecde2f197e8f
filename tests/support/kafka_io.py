"""Produce raw items and read topics back, with plain aiokafka clients (no Faust)."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from unittest import mock

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

# Topics the tests create hold items of the worker's maximum size.
DEFAULT_TOPIC_CONFIGS = {"max.message.bytes": "16777216"}


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()


def create_topic(
    bootstrap: str, name: str, partitions: int, configs: dict[str, str] | None = None
) -> None:
    """Create a topic; ``configs`` replaces the default (a 16 MiB ``max.message.bytes``)."""
    topic_configs = DEFAULT_TOPIC_CONFIGS if configs is None else configs

    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(name, partitions, 1, topic_configs=dict(topic_configs))]
            )
            deadline = time.monotonic() + 30
            while name not in await admin.list_topics():
                assert time.monotonic() < deadline, f"topic {name} never appeared"
                await asyncio.sleep(0.1)
        finally:
            await admin.close()

    asyncio.run(go())


def topic_configs(bootstrap: str, topic: str, names: Sequence[str]) -> dict[str, str]:
    """The current values of some of a topic's configs."""

    async def go() -> dict[str, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            described = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, configs=dict.fromkeys(names))]
            )
            return {
                entry[0]: entry[1]
                for response in described
                for resource_entry in response.resources
                for entry in resource_entry[4]
                if entry[0] in names
            }
        finally:
            await admin.close()

    return asyncio.run(go())


def alter_topic_config(bootstrap: str, topic: str, configs: dict[str, str]) -> None:
    """Set a topic's configs and wait until the broker reports them.

    Kafka's (non-incremental) AlterConfigs: the topic's overrides become exactly ``configs``;
    an override not named goes back to the broker's default.
    """

    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)
            for response in await admin.alter_configs([resource]):
                for error_code, error_message, _type, name in response.resources:
                    assert error_code == 0, f"altering {name}: {error_code} {error_message}"
            deadline = time.monotonic() + 30
            while True:
                described = await admin.describe_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)]
                )
                current = {
                    entry[0]: entry[1]
                    for response in described
                    for resource_entry in response.resources
                    for entry in resource_entry[4]
                }
                if all(current.get(k) == v for k, v in configs.items()):
                    return
                assert time.monotonic() < deadline, f"{topic} still has {current}"
                await asyncio.sleep(0.1)
        finally:
            await admin.close()

    asyncio.run(go())


def produce(
    bootstrap: str,
    topic: str,
    values: Sequence[bytes],
    partitions: int | None = None,
    keys: Sequence[bytes | None] | None = None,
    *,
    timestamp_ms: int | None = None,
    headers: Sequence[Sequence[tuple[str, bytes]]] | None = None,
    partition: int | None = None,
) -> None:
    """Send values in order; with ``partitions``, value i goes to partition i % partitions,
    with ``partition``, every value to that one (else the producer's partitioner picks).

    ``timestamp_ms`` sets every record's Kafka timestamp (default: the producer's clock);
    ``headers[i]`` are value i's headers.
    """

    async def go() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            max_request_size=16 * 1024 * 1024,
        )
        await producer.start()
        try:
            pending = []
            for index, value in enumerate(values):
                to = index % partitions if partitions else partition
                key = keys[index] if keys else None
                pending.append(
                    await producer.send(
                        topic,
                        value=value,
                        key=key,
                        partition=to,
                        timestamp_ms=timestamp_ms,
                        headers=list(headers[index]) if headers else None,
                    )
                )
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    asyncio.run(go())


def read_all(
    bootstrap: str,
    topic: str,
    until: Callable[[list[Record]], bool] | None = None,
    timeout: float = 60.0,
) -> list[Record]:
    """Read a topic from the beginning: until ``until(records)`` holds, or to its current end."""

    async def go() -> list[Record]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=32 * 1024 * 1024,
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + timeout
            partitions = None
            while not partitions:
                partitions = consumer.partitions_for_topic(topic)
                if not partitions:
                    await consumer._client.force_metadata_update()
                    assert time.monotonic() < deadline, f"topic {topic} not found"
                    await asyncio.sleep(0.1)
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            records: list[Record] = []
            while True:
                if until is None:
                    ends = await consumer.end_offsets(tps)
                    positions = [await consumer.position(tp) for tp in tps]
                    if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                        return records
                elif until(records):
                    return records
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"timed out reading {topic}: {len(records)} records so far"
                    )
                batch = await consumer.getmany(timeout_ms=200)
                for tp_records in batch.values():
                    records.extend(
                        Record(
                            r.topic,
                            r.partition,
                            r.offset,
                            r.key,
                            r.value,
                            r.timestamp,
                            tuple(r.headers),
                        )
                        for r in tp_records
                    )
        finally:
            await consumer.stop()

    return asyncio.run(go())


def committed_and_ends(
    bootstrap: str, group: str, topic: str
) -> dict[int, tuple[int | None, int, int]]:
    """Per partition of ``topic``: (the group's committed offset or None, log start, end)."""

    async def go() -> dict[int, tuple[int | None, int, int]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            committed = await admin.list_consumer_group_offsets(group)
            (meta,) = await admin.describe_topics([topic])
            assert meta["error_code"] == 0, f"topic {topic}: {meta}"
            tps = [TopicPartition(topic, p["partition"]) for p in meta["partitions"]]
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            result: dict[int, tuple[int | None, int, int]] = {}
            for tp in tps:
                offset = committed.get(tp)
                value = offset.offset if offset is not None and offset.offset >= 0 else None
                result[tp.partition] = (value, starts[tp], ends[tp])
            return result
        finally:
            await consumer.stop()
            await admin.close()

    return asyncio.run(go())


def delete_records_before(bootstrap: str, topic: str, partition: int, offset: int) -> None:
    """Delete a partition's records below ``offset``, as retention would (its log start moves)."""
    from aiokafka.admin import RecordsToDelete

    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_records({TopicPartition(topic, partition): RecordsToDelete(offset)})
        finally:
            await admin.close()

    asyncio.run(go())


def add_partitions(bootstrap: str, topic: str, total: int) -> None:
    """Grow ``topic`` to ``total`` partitions, as an operator scaling it out by hand would."""
    from aiokafka.admin import NewPartitions

    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_partitions({topic: NewPartitions(total_count=total)})
        finally:
            await admin.close()

    asyncio.run(go())


def list_topics(bootstrap: str) -> set[str]:
    async def go() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    return asyncio.run(go())


def delete_topic(bootstrap: str, topic: str) -> None:
    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()

    asyncio.run(go())


def commit_offset(bootstrap: str, group: str, topic: str, partition: int, offset: int) -> None:
    """Commit ``offset`` for ``group`` (whose members must all be stopped), as a client would."""

    async def go() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, partition)])
            await consumer.commit({TopicPartition(topic, partition): offset})
        finally:
            await consumer.stop()

    asyncio.run(go())


def all_committed(bootstrap: str, group: str, topics: Sequence[str]) -> bool:
    """Whether the group has committed every record of ``topics``: nothing left to redo."""
    for topic in topics:
        offsets = committed_and_ends(bootstrap, group, topic)
        if any(end > start and done != end for done, start, end in offsets.values()):
            return False
    return True


# Record batch v2 header: baseOffset int64, batchLength int32, partitionLeaderEpoch int32,
# magic int8, crc uint32, attributes int16 (its low three bits name the codec).
_BATCH_HEADER = struct.Struct(">qiibIh")
_LOG_OVERHEAD = 12  # baseOffset and batchLength: batchLength counts the bytes after them
CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


@dataclass(frozen=True)
class StoredBatch:
    """One record batch as the broker stores (and serves) it."""

    codec: str
    size: int  # bytes on the broker, header included


def stored_batches(bootstrap: str, topic: str) -> tuple[list[Record], list[StoredBatch]]:
    """A topic's records, and the batches they came in, read from the fetch responses.

    Consumers hide the batches; this looks at the bytes the broker sent before aiokafka's
    fetcher unpacks them, which is where a producer's compression shows.
    """
    from aiokafka.consumer import fetcher

    unpack = fetcher.MemoryRecords
    seen: dict[tuple[int, int], StoredBatch] = {}

    def recording(data: bytes) -> object:
        view, pos = memoryview(data), 0
        while pos + _BATCH_HEADER.size <= len(view):
            base, length, _epoch, magic, crc, attributes = _BATCH_HEADER.unpack_from(view, pos)
            end = pos + _LOG_OVERHEAD + length
            if end > len(view):
                break  # a batch cut at the fetch's size limit: the next fetch has it whole
            assert magic == 2, f"record batch format v{magic}"
            seen[(base, crc)] = StoredBatch(CODECS[attributes & 0x07], end - pos)
            pos = end
        return unpack(data)

    with mock.patch.object(fetcher, "MemoryRecords", recording):
        records = read_all(bootstrap, topic)
    return records, list(seen.values())
