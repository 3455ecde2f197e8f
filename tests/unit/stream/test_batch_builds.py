"""The worker's Kafka client builds its batches on a thread when there is compression to do."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import google_crc32c
import pytest
import zstandard
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.producer.message_accumulator import BatchBuilder, MessageBatch
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.record.util import calc_crc32c

from workers.settings import Settings
from workers.stream import batch_builds
from workers.stream.app import create_app
from workers.stream.batch_builds import (
    _build,
    _build_zstd,
    _take_over_zstd,
    offload_batch_builds,
    zstd_batch,
)


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


def _batch(records: list[tuple[bytes, bytes]], topic: str = "t", codec: int = 0) -> Any:
    """A drained aiokafka batch (needs a running loop for its futures)."""
    builder = BatchBuilder(1024 * 1024, codec)
    for n, (key, value) in enumerate(records):
        assert builder.append(
            key=key, value=value, timestamp=1_700_000_000_000 + n, headers=[("h", b"v")]
        )
    return MessageBatch(TopicPartition(topic, 0), builder, ttl=30, linger_time=0)


def _read(buffer: bytes | bytearray) -> tuple[DefaultRecordBatch, list[tuple[Any, ...]]]:
    batch = DefaultRecordBatch(bytes(buffer))
    assert batch.validate_crc()
    return batch, [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in batch]


class ZstdClient:
    _compression_type = "zstd"


@pytest.fixture(autouse=True)
def _aiokafkas_codec_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that takes over aiokafka's zstd codec leaves it as it found it."""
    module = batch_builds._builder_module()
    assert module is not None
    monkeypatch.setattr(module, "zstd_encode", module.zstd_encode)


def test_a_zstd_batch_is_the_plain_batch_with_its_records_compressed() -> None:
    async def build() -> None:
        plain = _batch(RECORDS).get_data_buffer()
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


def test_one_call_compresses_every_batch_of_a_request_and_a_retry_keeps_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _take_over_zstd(ZstdClient())
    calls: list[int] = []
    headers: list[int] = []
    compress = zstandard.ZstdCompressor.multi_compress_to_buffer

    def counted(self: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(data))
        return compress(self, data, *args, **kwargs)

    def header_then_frame(batch: bytes | bytearray, frame: Any) -> bytearray:
        headers.append(len(batch))
        return zstd_batch(batch, frame)

    monkeypatch.setattr(batch_builds, "_local", threading.local())  # a fresh compressor
    monkeypatch.setattr(zstandard.ZstdCompressor, "multi_compress_to_buffer", counted)
    monkeypatch.setattr(batch_builds, "zstd_batch", header_then_frame)

    async def build() -> None:
        batches = [_batch(RECORDS[n::3], f"t{n}", DefaultRecordBatch.CODEC_ZSTD) for n in range(3)]
        _build_zstd(batches)
        built = [b.get_data_buffer() for b in batches]
        for n, buffer in enumerate(built):
            read, records = _read(buffer)
            assert read.compression_type == DefaultRecordBatch.CODEC_ZSTD
            assert [r[2:4] for r in records] == RECORDS[n::3]
        _build_zstd(batches)  # a retry resends the kept buffers, compressed once
        assert all(b.get_data_buffer() is kept for b, kept in zip(batches, built, strict=True))

    asyncio.run(build())
    assert calls == [3]  # one call for the three batches, none for the retry
    # aiokafka's builder got no records back from the codec: its CRC-32C (which lets go of
    # the GIL above 5 KiB) covered the 61-byte header only.
    assert headers == [61, 61, 61]


def test_the_frames_crc_keeps_the_gil() -> None:
    """google-crc32c's C extension, not aiokafka's CRC that lets go above 5 KiB."""
    assert batch_builds._crc32c is google_crc32c.value
    assert google_crc32c.implementation == "c"
    data = bytes(range(256)) * 40
    assert google_crc32c.value(data) == calc_crc32c(data)


def test_the_codec_compresses_as_before_outside_the_builds_of_the_one_call() -> None:
    """Another client's batches, or another thread's: aiokafka's own zstd."""
    assert _take_over_zstd(ZstdClient())

    async def build() -> list[tuple[Any, ...]]:
        buffer = _batch(RECORDS, codec=DefaultRecordBatch.CODEC_ZSTD).get_data_buffer()
        read, records = _read(buffer)
        assert read.compression_type == DefaultRecordBatch.CODEC_ZSTD
        return records

    assert [r[2:4] for r in asyncio.run(build())] == RECORDS


@pytest.mark.parametrize(("compression", "taken_over"), [("zstd", True), ("gzip", False)])
def test_only_a_zstd_client_has_its_batches_compressed_in_one_call(
    compression: str, taken_over: bool
) -> None:
    """Its accumulator's codec is left as it is (tests/integration/test_batch_builds.py finds
    the batches zstd on the broker)."""
    build, codec = _offloaded(compression)
    assert (build is _build_zstd) is taken_over
    assert (
        codec
        == {"zstd": DefaultRecordBatch.CODEC_ZSTD, "gzip": DefaultRecordBatch.CODEC_GZIP}[
            compression
        ]
    )


def test_without_the_one_call_a_zstd_client_compresses_batch_by_batch(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """python-zstandard's cffi backend, or its C extension built on a system libzstd."""
    features = set(zstandard.backend_features) - {"multi_compress_to_buffer"}
    monkeypatch.setattr(zstandard, "backend_features", features)
    assert _offloaded("zstd")[0] is _build
    assert "zstd batch by batch" in caplog.text


def test_a_builder_without_the_codec_known_keeps_aiokafkas_build(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(batch_builds, "_builder_module", lambda: None)
    assert _offloaded("zstd")[0] is _build
    assert "batch builder is not the one known" in caplog.text


def _offloaded(compression: str) -> tuple[Any, int]:
    """The build a client's sender got, and its accumulator's codec."""
    builds: list[Any] = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            builds.append(fn)
            return super().submit(fn, *args, **kwargs)

    async def offload() -> tuple[Any, int]:
        client = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", compression_type=compression)
        try:
            assert offload_batch_builds(client, executor)
            await client._sender._send_produce_req(0, {})
        except Exception:  # the empty request itself cannot be sent: no broker
            pass
        finally:
            await client.stop()
        return builds[0], int(client._message_accumulator._compression_type)

    executor = Recording(max_workers=1)
    try:
        return asyncio.run(offload())
    finally:
        executor.shutdown()
