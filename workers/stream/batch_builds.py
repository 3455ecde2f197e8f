"""Record batches built and compressed on a worker thread, not on the event loop.

The worker runs on one Python thread, and at saturation about an eighth of its time went to
aiokafka compressing record batches (BENCHMARKS.md, rounds 3 and 4): aiokafka builds each
batch, compression included, in its sender task on the event loop, just before the produce
request. The codecs (cramjam) release the GIL while they compress, so the same work on a
thread of its own overlaps with the agents instead of stopping them.

How: aiokafka's sender drains the batches ready for a broker and hands them to
``Sender._send_produce_req``, whose request reads each batch's buffer
(``MessageBatch.get_data_buffer()``, built once and then kept). The wrapper installed here
builds those buffers on the thread first, then calls the original, which finds them built.
Nothing else changes: the same batches go in the same request, in the same order, with one
request in flight per broker; retries resend the kept buffer, and a build that raises fails
the sender as it did before. A client without those internals is left as it is, with a
warning; ``pyproject.toml`` holds aiokafka to the minor line this was read against, and
``tests/integration/test_batch_builds.py`` checks it on that line.

Safe because a drained batch is out of the accumulator: ``send()`` appends only to batches
still queued there. aiokafka's batch API (``create_batch``/``send_batch``), where the caller
holds the batch and could append while it is built, is used by neither Faust nor this
worker. Faust's ``producer_threaded`` mode has a producer class of its own, not wrapped here
(the worker does not use it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiokafka.producer.message_accumulator import MessageBatch

log = logging.getLogger(__name__)

# One thread: a broker takes one produce request from this client at a time, and with a few
# brokers the builds still queue behind the agents' CPU, not behind each other.
_BUILDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wire-batch-build")

SendProduceRequest = Callable[[int, dict[Any, Any]], Coroutine[Any, Any, None]]


def _build(batches: Iterable[Any]) -> None:
    for batch in batches:
        batch.get_data_buffer()


def offload_batch_builds(client: Any, executor: ThreadPoolExecutor = _BUILDER) -> bool:
    """Make an ``AIOKafkaProducer`` build (and compress) its batches on ``executor``.

    Returns False, and leaves the client as it is, if its sender is not the one this knows.
    """
    sender = getattr(client, "_sender", None)
    send: SendProduceRequest | None = getattr(sender, "_send_produce_req", None)
    if sender is None or send is None or not hasattr(MessageBatch, "get_data_buffer"):
        log.warning(
            "this aiokafka has no Sender._send_produce_req or MessageBatch.get_data_buffer: "
            "batches stay on the loop"
        )
        return False

    async def built_then_sent(node_id: int, batches: dict[Any, Any]) -> None:
        await asyncio.get_running_loop().run_in_executor(executor, _build, batches.values())
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
