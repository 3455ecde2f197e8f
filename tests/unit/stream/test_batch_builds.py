"""The worker's Kafka client builds its batches on a thread when there is compression to do."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import zstandard
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.producer.message_accumulator import BatchBuilder, MessageBatch
from aiokafka.record.default_records import DefaultRecordBatch

from workers.settings import Settings
from workers.stream.app import create_app
from workers.stream.batch_builds import _build_zstd, offload_batch_builds, zstd_batch


@pytest.mark.parametrize(("compression", "offloaded"), [("zstd", True), ("none", False)])
def test_the_workers_client_builds_batches_on_a_thread_only_with_compression(
    tmp_path: Path, compression: str, offloaded: bool
) -> None:
    settings = Settings(compression=compression, state_dir=tmp_path)
    wire = create_app(settings)

    async def client_send_name() -> str:
        client = wire.app.producer._new_producer()
        try:
            return str(client._sender._send_produce_req.__name__)
        finally:
            await client.stop()  # never started: closes what the constructor opened

    name = asyncio.run(client_send_name())
    assert (name == "built_then_sent") is offloaded


def test_a_client_without_the_sender_it_knows_is_left_as_it_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Elsewhere:
        _sender = object()

    client = Elsewhere()
    assert not offload_batch_builds(client)
    assert not offload_batch_builds(object())
    assert client._sender is Elsewhere._sender
    assert "batches stay on the loop" in caplog.text


# --------------------------------------------------------------- zstd, one call per request

RECORDS = [
    (f"key-{n}".encode(), f"{n:04d} {'Обновена новина, второ изречение. ' * (5 + n)}".encode())
    for n in range(40)
]


def _plain_batch(records: list[tuple[bytes, bytes]], topic: str = "t") -> Any:
    """A drained, uncompressed aiokafka batch (needs a running loop for its futures)."""
    builder = BatchBuilder(1024 * 1024, 0)
    for n, (key, value) in enumerate(records):
        assert builder.append(
            key=key, value=value, timestamp=1_700_000_000_000 + n, headers=[("h", b"v")]
        )
    return MessageBatch(TopicPartition(topic, 0), builder, ttl=30, linger_time=0)


def _read(buffer: bytes | bytearray) -> tuple[DefaultRecordBatch, list[tuple[Any, ...]]]:
    batch = DefaultRecordBatch(bytes(buffer))
    assert batch.validate_crc()
    return batch, [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in batch]


def test_a_zstd_batch_is_the_plain_batch_with_its_records_compressed() -> None:
    async def build() -> None:
        plain = _plain_batch(RECORDS).get_data_buffer()
        frame = zstandard.ZstdCompressor(level=3).compress(bytes(plain[61:]))
        compressed = zstd_batch(plain, frame)

        read_plain, plain_records = _read(plain)
        read_zstd, zstd_records = _read(compressed)
        assert read_plain.compression_type == 0
        assert read_zstd.compression_type == DefaultRecordBatch.CODEC_ZSTD
        assert zstd_records == plain_records
        assert [r[2:4] for r in zstd_records] == RECORDS
        # Every other header field as aiokafka wrote it; the length is the whole batch's.
        for field in ("base_offset", "magic", "last_offset_delta", "first_timestamp",
                      "max_timestamp", "producer_id", "producer_epoch", "base_sequence",
                      "timestamp_type", "is_transactional"):  # fmt: skip
            assert getattr(read_zstd, field) == getattr(read_plain, field), field
        assert int.from_bytes(compressed[8:12], "big") == len(compressed) - 12
        assert len(compressed) < len(plain) / 3

    asyncio.run(build())


def test_one_call_compresses_every_batch_of_a_request_and_a_retry_keeps_them() -> None:
    async def build() -> None:
        batches = [_plain_batch(RECORDS[n::3], topic=f"t{n}") for n in range(3)]
        _build_zstd(batches)
        built = [b.get_data_buffer() for b in batches]
        for n, buffer in enumerate(built):
            read, records = _read(buffer)
            assert read.compression_type == DefaultRecordBatch.CODEC_ZSTD
            assert [r[2:4] for r in records] == RECORDS[n::3]
        _build_zstd(batches)  # a retry resends the kept buffers, compressed once
        assert all(b.get_data_buffer() is kept for b, kept in zip(batches, built, strict=True))

    asyncio.run(build())


@pytest.mark.parametrize(
    ("compression", "accumulator_codec"), [("zstd", 0), ("gzip", DefaultRecordBatch.CODEC_GZIP)]
)
def test_only_a_zstd_client_builds_plain_batches_for_the_one_call(
    compression: str, accumulator_codec: int
) -> None:
    """The batches come uncompressed out of the accumulator only where the build compresses
    them (tests/integration/test_batch_builds.py finds them zstd on the broker)."""

    assert _accumulator_codec_after_offload(compression) == accumulator_codec


def test_without_the_one_call_a_zstd_client_compresses_batch_by_batch(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """python-zstandard's cffi backend, or its C extension built on a system libzstd."""
    features = set(zstandard.backend_features) - {"multi_compress_to_buffer"}
    monkeypatch.setattr(zstandard, "backend_features", features)
    assert _accumulator_codec_after_offload("zstd") == DefaultRecordBatch.CODEC_ZSTD
    assert "zstd batch by batch" in caplog.text


def _accumulator_codec_after_offload(compression: str) -> int:
    async def offload() -> int:
        client = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", compression_type=compression)
        try:
            assert offload_batch_builds(client, executor)
            return int(client._message_accumulator._compression_type)
        finally:
            await client.stop()

    executor = ThreadPoolExecutor(max_workers=1)
    try:
        return asyncio.run(offload())
    finally:
        executor.shutdown()
