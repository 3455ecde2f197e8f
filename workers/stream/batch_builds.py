"""Record batches built and compressed on a worker thread, not on the event loop.

The worker runs on one Python thread, and at saturation about an eighth of its time went to
aiokafka compressing record batches (BENCHMARKS.md, rounds 3 and 4): aiokafka builds each
batch, compression included, in its sender task on the event loop, just before the produce
request. The codecs release the GIL while they compress, so the same work on a thread of its
own overlaps with the agents instead of stopping them.

How: aiokafka's sender drains the batches ready for a broker and hands them to
``Sender._send_produce_req``, whose request reads each batch's buffer
(``MessageBatch.get_data_buffer()``, built once and then kept). The wrapper installed here
builds those buffers on the thread first, then calls the original, which finds them built.
Nothing else changes: the same batches go in the same request, in the same order, with one
request in flight per broker; retries resend the kept buffer, and a build that raises fails
the sender as it did before. A client without those internals is left as it is, with a
warning; ``pyproject.toml`` holds aiokafka to the minor line this was read against, and
``tests/integration/test_batch_builds.py`` checks it on that line.

**zstd, one call per request.** A request carries a batch per partition (14-16 in the
worker), and each compression that lets go of the GIL must take it back from the busy event
loop, which holds it for up to the switch interval (5 ms): a request's build took 17-55 ms
of wall time for 5 ms of CPU, and records waited that long for the next request
(BENCHMARKS.md, round 13). So with zstd the client builds its batches uncompressed (a copy),
and the thread compresses the records of all of them in one call to python-zstandard
(``multi_compress_to_buffer``, one GIL release), then writes each batch's header for the
compressed records: the codec bits of its attributes, its length and its CRC-32C, as
aiokafka's own builder would. The frames are standard zstd at Kafka's default level (3).

Safe because a drained batch is out of the accumulator: ``send()`` appends only to batches
still queued there. aiokafka's batch API (``create_batch``/``send_batch``), where the caller
holds the batch and could append while it is built, is used by neither Faust nor this
worker. Faust's ``producer_threaded`` mode has a producer class of its own, not wrapped here
(the worker does not use it).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import zstandard
from aiokafka.producer.message_accumulator import MessageBatch
from aiokafka.record.default_records import DefaultRecordBase
from aiokafka.record.util import calc_crc32c

log = logging.getLogger(__name__)

# One thread: a broker takes one produce request from this client at a time, and with a few
# brokers the builds still queue behind the agents' CPU, not behind each other.
_BUILDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wire-batch-build")

SendProduceRequest = Callable[[int, dict[Any, Any]], Coroutine[Any, Any, None]]
BuildBatches = Callable[[Iterable[Any]], None]

# Record batch format v2 (magic 2), as aiokafka's builder lays it out: the int32 length
# (of what follows it) after the int64 base offset, the CRC-32C of everything from the
# int16 attributes on, the codec in the attributes' low bits, and the records after the header.
_LENGTH_AT = DefaultRecordBase.AFTER_LEN_OFFSET - 4
_CRC_AT = DefaultRecordBase.CRC_OFFSET
_ATTRIBUTES_AT = DefaultRecordBase.ATTRIBUTES_OFFSET
_HEADER_SIZE = DefaultRecordBase.HEADER_STRUCT.size
_CODEC_MASK = DefaultRecordBase.CODEC_MASK
_ZSTD = DefaultRecordBase.CODEC_ZSTD
ZSTD_LEVEL = 3  # aiokafka's when its caller names none, and Kafka's default (KIP-390)
ONE_CALL_FEATURE = "multi_compress_to_buffer"  # in zstandard.backend_features when it has it

_local = threading.local()


def _build(batches: Iterable[Any]) -> None:
    """aiokafka's own build: each batch compressed, if at all, by the client's codec."""
    for batch in batches:
        batch.get_data_buffer()


def _compressor() -> zstandard.ZstdCompressor:
    """This thread's compressor: python-zstandard's compressors are not thread-safe. (Its
    ``multi_compress_to_buffer`` sets up a zstd context per call, i.e. one per request.)"""
    found: zstandard.ZstdCompressor | None = getattr(_local, "compressor", None)
    if found is None:
        found = _local.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return found


def _build_zstd(batches: Iterable[Any]) -> None:
    """Build uncompressed batches, compress all their records in one call, keep the results.

    A batch built before (a retry resends it) already carries the codec bits: left as it is.
    """
    plain: list[tuple[Any, bytes | bytearray]] = []
    for batch in batches:
        buffer = batch.get_data_buffer()
        if buffer[_ATTRIBUTES_AT + 1] & _CODEC_MASK == 0:
            plain.append((batch, buffer))
    if not plain:
        return
    frames = _compressor().multi_compress_to_buffer(
        [memoryview(buffer)[_HEADER_SIZE:] for _, buffer in plain]
    )
    for index, (batch, buffer) in enumerate(plain):
        # MessageBatch keeps its built buffer on its BatchBuilder: the request and every
        # retry read it there.
        batch._builder._buffer = zstd_batch(buffer, frames[index])


def zstd_batch(plain: bytes | bytearray, frame: Any) -> bytearray:
    """An uncompressed v2 record batch with its records replaced by their zstd ``frame``."""
    out = bytearray(plain[:_HEADER_SIZE])
    out += frame
    (attributes,) = struct.unpack_from(">h", out, _ATTRIBUTES_AT)
    struct.pack_into(">h", out, _ATTRIBUTES_AT, attributes | _ZSTD)
    struct.pack_into(">i", out, _LENGTH_AT, len(out) - DefaultRecordBase.AFTER_LEN_OFFSET)
    struct.pack_into(">I", out, _CRC_AT, calc_crc32c(memoryview(out)[_ATTRIBUTES_AT:]))
    return out


def _take_over_zstd(client: Any) -> bool:
    """Switch a zstd client's accumulator to uncompressed batches, for :func:`_build_zstd`.

    False, and nothing changed, if the client does not compress zstd, its accumulator is not
    the one this knows, or this python-zstandard cannot compress many inputs in one call
    (only its C extension can, and only built with its own copy of libzstd).
    """
    accumulator: Any = getattr(client, "_message_accumulator", None)
    if getattr(client, "_compression_type", None) != "zstd":
        return False
    if ONE_CALL_FEATURE not in getattr(zstandard, "backend_features", ()):
        log.warning("this python-zstandard has no multi_compress_to_buffer: zstd batch by batch")
        return False
    if getattr(accumulator, "_compression_type", None) != _ZSTD:
        log.warning("this aiokafka's accumulator is not the one known: zstd batch by batch")
        return False
    accumulator._compression_type = 0
    return True


def offload_batch_builds(client: Any, executor: ThreadPoolExecutor = _BUILDER) -> bool:
    """Make an ``AIOKafkaProducer`` build (and compress) its batches on ``executor``.

    A zstd client has its batches compressed together, one call per request. Returns False,
    and leaves the client as it is, if its sender is not the one this knows.
    """
    sender = getattr(client, "_sender", None)
    send: SendProduceRequest | None = getattr(sender, "_send_produce_req", None)
    if sender is None or send is None or not hasattr(MessageBatch, "get_data_buffer"):
        log.warning(
            "this aiokafka has no Sender._send_produce_req or MessageBatch.get_data_buffer: "
            "batches stay on the loop"
        )
        return False
    build: BuildBatches = _build_zstd if _take_over_zstd(client) else _build

    async def built_then_sent(node_id: int, batches: dict[Any, Any]) -> None:
        await asyncio.get_running_loop().run_in_executor(executor, build, batches.values())
        await send(node_id, batches)

    sender._send_produce_req = built_then_sent
    return True


def install(producer: Any, compression_type: str | None) -> None:
    """Offload the builds of every aiokafka client Faust's ``producer`` creates.

    Without compression a build is a copy: not worth a thread hop.
    """
    if compression_type is None:
        return
    new_producer = producer._new_producer

    def new_producer_with_offloaded_builds(*args: Any, **kwargs: Any) -> Any:
        client = new_producer(*args, **kwargs)
        offload_batch_builds(client)
        return client

    producer._new_producer = new_producer_with_offloaded_builds
