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
worker), and every call that lets go of the GIL must take it back from the busy event loop,
which holds it for up to the switch interval (5 ms). aiokafka lets go twice per batch: its
codec while it compresses, and its CRC-32C over any buffer above 5 KiB. A request's build
took 17-55 ms of wall time for 5 ms of CPU (BENCHMARKS.md, round 13), and after the codec's
waits were gone, still 77 ms on average at saturation for the CRCs' (round 15); records
wait that long for the next request. So with zstd the thread lets go once per request:
aiokafka builds each batch as usual, but its codec, on this thread only, keeps the records
for later and hands back nothing (so the builder's CRC covers the header alone); then one
call to python-zstandard (``multi_compress_to_buffer``) compresses the records of all the
request's batches, and each batch gets its frame, its length and its CRC-32C (google-crc32c,
which keeps the GIL: about 60 µs for 400 KB), as aiokafka's own builder would. The frames are
standard zstd at Kafka's default level (3).

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
import sys
import threading
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import google_crc32c
import zstandard
from aiokafka.producer.message_accumulator import MessageBatch
from aiokafka.record.default_records import DefaultRecordBase, DefaultRecordBatchBuilder
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
_ZSTD = DefaultRecordBase.CODEC_ZSTD
ZSTD_LEVEL = 3  # aiokafka's when its caller names none, and Kafka's default (KIP-390)
ONE_CALL_FEATURE = "multi_compress_to_buffer"  # in zstandard.backend_features when it has it

# CRC-32C without letting go of the GIL; aiokafka's (which does, above 5 KiB) where
# google-crc32c has only its pure-Python fallback.
_crc32c: Callable[[bytes], int] = (
    google_crc32c.value if google_crc32c.implementation == "c" else calc_crc32c
)

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
    """Build the batches with their records kept aside, compress all those in one call, and
    give each batch its frame.

    A batch built before (a retry resends it) is whole already, and left as it is: its
    build does not reach the codec. If anything here raises, the batches built so far keep a
    header only, and none of them is sent: the exception ends aiokafka's sender, which fails
    every pending batch (tests/integration/test_batch_builds.py checks it on the broker).
    """
    kept: list[bytes | bytearray | memoryview] = []
    unfinished: list[tuple[Any, bytes | bytearray]] = []
    _local.kept_records = kept
    try:
        for batch in batches:
            before = len(kept)
            buffer = batch.get_data_buffer()
            if len(kept) > before:
                unfinished.append((batch, buffer))
    finally:
        _local.kept_records = None
    if len(kept) != len(unfinished):
        raise RuntimeError(f"{len(kept)} record sections kept for {len(unfinished)} batches")
    if not unfinished:
        return
    frames = _compressor().multi_compress_to_buffer(kept)
    for index, (batch, header) in enumerate(unfinished):
        # MessageBatch keeps its built buffer on its BatchBuilder: the request and every
        # retry read it there.
        batch._builder._buffer = zstd_batch(header, frames[index])


def zstd_batch(batch: bytes | bytearray, frame: Any) -> bytearray:
    """A v2 record batch's header with ``frame``, the zstd of its records, as its records."""
    out = bytearray(batch[:_HEADER_SIZE])
    out += frame
    (attributes,) = struct.unpack_from(">h", out, _ATTRIBUTES_AT)
    struct.pack_into(">h", out, _ATTRIBUTES_AT, attributes | _ZSTD)
    struct.pack_into(">i", out, _LENGTH_AT, len(out) - DefaultRecordBase.AFTER_LEN_OFFSET)
    # (a copy: google-crc32c reads bytes only; a few µs for a compressed batch)
    struct.pack_into(">I", out, _CRC_AT, _crc32c(bytes(memoryview(out)[_ATTRIBUTES_AT:])))
    return out


def _keep_or_compress(encode: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """aiokafka's zstd codec, except during :func:`_build_zstd` on its thread: there the
    records are kept for the request's one call, and the builder gets no bytes back.

    (aiokafka's pure-Python builder, used only without its C extension, sends a batch
    uncompressed when zstd does not make it smaller; through here such a batch goes as
    zstd, valid and a little larger.)"""

    def zstd_encode(data: bytes) -> bytes:
        kept: list[bytes | bytearray | memoryview] | None = getattr(_local, "kept_records", None)
        if kept is None:
            return encode(data)
        kept.append(data)
        return b""

    zstd_encode.keeps_records = True  # type: ignore[attr-defined]
    return zstd_encode


def _builder_module() -> ModuleType | None:
    """The module whose ``zstd_encode`` aiokafka's batch builder calls (its C extension's or
    its pure-Python one), if it has one."""
    module = sys.modules.get(DefaultRecordBatchBuilder.__module__)
    return module if callable(getattr(module, "zstd_encode", None)) else None


def _take_over_zstd(client: Any) -> bool:
    """Have a zstd client's batches built by :func:`_build_zstd`.

    False, and nothing changed, if the client does not compress zstd, its builder does not
    call the codec this knows, or this python-zstandard cannot compress many inputs in one
    call (only its C extension can, and only built with its own copy of libzstd).
    """
    if getattr(client, "_compression_type", None) != "zstd":
        return False
    if ONE_CALL_FEATURE not in getattr(zstandard, "backend_features", ()):
        log.warning("this python-zstandard has no multi_compress_to_buffer: zstd batch by batch")
        return False
    module = _builder_module()
    if module is None:
        log.warning("this aiokafka's batch builder is not the one known: zstd batch by batch")
        return False
    encode: Callable[[bytes], bytes] = getattr(module, "zstd_encode")  # noqa: B009
    if not getattr(encode, "keeps_records", False):
        setattr(module, "zstd_encode", _keep_or_compress(encode))  # noqa: B010
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
