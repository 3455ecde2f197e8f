"""Batches built on a worker thread reach the broker whole, in order, and compressed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tests.support.kafka_io import create_topic, stored_batches
from workers.stream import batch_builds
from workers.stream.batch_builds import offload_batch_builds

pytestmark = pytest.mark.integration

COUNT = 400
PARTITIONS = 3


class RecordingExecutor(ThreadPoolExecutor):
    """Remembers every batch whose buffer was built on its thread."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="test-batch-build")
        self.built: dict[int, Any] = {}  # by id, holding each batch so no id is reused

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        batches = list(args[0])

        def build_and_record() -> None:
            fn(batches)
            self.built.update((id(b), b) for b in batches if b._builder._buffer is not None)

        return super().submit(build_and_record)


def test_records_of_batches_built_on_a_thread_arrive_whole_in_order_and_compressed(
    kafka_bootstrap: str,
) -> None:
    topic = f"batch-builds-{uuid.uuid4().hex[:12]}"
    create_topic(kafka_bootstrap, topic, PARTITIONS)
    executor = RecordingExecutor()
    # Values like a wire item's: Cyrillic text, a few KB, different from each other.
    values = [
        f"{n:05d} {'Заглавие на новината, обновена. ' * (40 + n % 60)}".encode()
        for n in range(COUNT)
    ]

    async def produce() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, acks="all", compression_type="zstd", linger_ms=5
        )
        assert offload_batch_builds(producer, executor)
        await producer.start()
        try:
            futures = [
                await producer.send(topic, value=v, key=v[:5], partition=n % PARTITIONS)
                for n, v in enumerate(values)
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    try:
        asyncio.run(produce())
    finally:
        executor.shutdown()
    records, batches = stored_batches(kafka_bootstrap, topic)
    assert len(executor.built) == len(batches)  # every batch the broker holds, built there
    assert {b.codec for b in batches} == {"zstd"}
    assert sum(b.size for b in batches) < sum(map(len, values)) / 2
    for partition in range(PARTITIONS):
        arrived = [
            r.value for r in sorted(records, key=lambda r: r.offset) if r.partition == partition
        ]
        assert arrived == values[partition::PARTITIONS]


class FailingExecutor(ThreadPoolExecutor):
    """Every build raises, as a codec that breaks would."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="test-batch-build")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def broken() -> None:
            raise RuntimeError("codec broke")

        return super().submit(broken)


class BrokenCompressor:
    def multi_compress_to_buffer(self, data: Any) -> Any:
        raise RuntimeError("zstd broke")


@pytest.mark.parametrize("where", ["before the builds", "after the builds, compressing"])
def test_a_build_that_raises_fails_every_record_instead_of_losing_it(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """What the delivery proof (delivery.py) turns into a stop without a commit. A batch whose
    records were kept for the one call holds a header only until it gets its frame: a failed
    call must send none of them."""
    topic = f"batch-builds-{uuid.uuid4().hex[:12]}"
    create_topic(kafka_bootstrap, topic, PARTITIONS)
    if where == "before the builds":
        executor: ThreadPoolExecutor = FailingExecutor()
    else:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-batch-build")
        monkeypatch.setattr(batch_builds, "_compressor", BrokenCompressor)

    async def produce() -> list[Any]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, compression_type="zstd")
        assert offload_batch_builds(producer, executor)
        await producer.start()
        try:
            futures = [
                await producer.send(topic, value=b"x" * 100, partition=n % PARTITIONS)
                for n in range(30)
            ]
            return await asyncio.gather(*futures, return_exceptions=True)
        finally:
            await producer.stop()

    try:
        outcomes = asyncio.run(produce())
    finally:
        executor.shutdown()
    assert outcomes
    # The sender's own failure, not a broker's answer (a header-only batch sent would come
    # back as the broker's UnknownError): nothing was sent.
    assert all(type(o) is KafkaError for o in outcomes), outcomes
    records, _ = stored_batches(kafka_bootstrap, topic)
    assert records == []
