"""``wire-ingest produce``: send raw item files to the raw topic, in order, byte for byte.

The files of one invocation go to one partition (a random one each time), so that the worker
reads them in the order given: an original before its update gives ``story.created`` and then
``story.updated``, as the newsroom sent them."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, MessageSizeTooLargeError

from workers.replay import expand_paths
from workers.settings import Settings, load_or_report
from workers.stream.delivery import describe
from workers.stream.kafka_client import client_kwargs, unreachable
from workers.stream.topics import MAX_MESSAGE_BYTES, refuse_output

# ``produce`` and ``dlq replay``: the broker refused some records (each named on stderr).
EXIT_NOT_TAKEN = 5


class NotSentError(Exception):
    """The client refused a record before any broker saw it (too large, producer closed)."""


class MissingTopicError(LookupError):
    """The topic to produce to does not exist (the worker creates its own at start)."""


async def send_values(
    settings: Settings,
    topic: str,
    values: Iterable[tuple[bytes | None, bytes]],
    headers: Sequence[list[tuple[str, bytes]]] | None = None,
    partitions: Sequence[int | None] | None = None,
    *,
    one_partition: bool = False,
) -> list[Exception | None]:
    """Send (key, value) pairs in order with acks=all; for each, None once the broker has
    acknowledged it, or the error that kept it out.

    A value the broker refuses does not stop the others: the caller names each failure (a
    batch the broker refuses fails all of its values). ``headers[i]``, if given, are the Kafka
    headers of value i; ``partitions[i]`` its partition, if the topic has it (else, and when
    None, the producer's partitioner chooses); ``one_partition``: every value to one partition
    of the topic, chosen at random, so that a consumer reads them in the order given."""
    producer = AIOKafkaProducer(
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_MESSAGE_BYTES,
        **client_kwargs(settings),
    )
    try:
        await producer.start()  # inside: a client that cannot start is closed all the same
        # Without this, a send to a missing topic waits 40 s for its metadata, then raises.
        metadata = await producer.client.fetch_all_metadata()
        if topic not in metadata.topics():
            raise MissingTopicError(topic)
        existing = metadata.partitions_for_topic(topic) or set()
        everything_to = random.choice(sorted(existing)) if one_partition and existing else None  # noqa: S311
        # Queue everything, then wait: the idempotent producer keeps per-partition order.
        outcomes: list[Exception | None] = []
        pending: list[tuple[int, asyncio.Future[Any]]] = []
        for index, (key, value) in enumerate(values):
            outcomes.append(None)
            partition = partitions[index] if partitions else everything_to
            try:
                future = await producer.send(
                    topic,
                    value=value,
                    key=key,
                    headers=headers[index] if headers else None,
                    partition=partition if partition in existing else None,
                )
            except MessageSizeTooLargeError:
                outcomes[index] = NotSentError(
                    f"{len(value)} bytes, over the {MAX_MESSAGE_BYTES} a record of the worker's "
                    "topics may have with its key and headers"
                )
            except KafkaError as exc:  # refused before it was queued
                outcomes[index] = NotSentError(describe(exc))
            else:
                pending.append((index, future))
        # Every future settles: aiokafka fails a batch after its delivery timeout at the latest.
        results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        for (index, _future), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                outcomes[index] = (
                    result if isinstance(result, KafkaError) else KafkaError(repr(result))
                )
    finally:
        await producer.stop()
    return outcomes


def produce_files(paths: list[Path], topic: str | None = None) -> int:
    settings = load_or_report()
    if settings is None:
        return 2
    target = topic or settings.topic_raw
    if (refusal := refuse_output("produce", settings, target)) is not None:
        print(refusal, file=sys.stderr)
        return 2
    files = list(expand_paths(paths, lambda text: print(f"produce: {text}", file=sys.stderr)))
    try:
        values = [(None, path.read_bytes()) for path in files]
    except OSError as exc:
        print(f"produce: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        outcomes = asyncio.run(send_values(settings, target, values, one_partition=True))
    except MissingTopicError:
        print(
            f"produce: the topic {target} does not exist at {settings.kafka_bootstrap} "
            "(the worker creates its topics when it starts; create others first)",
            file=sys.stderr,
        )
        return 3
    except KafkaConnectionError as exc:
        print(f"produce: {unreachable(settings, exc)}", file=sys.stderr)
        return 4
    failed = [(path, error) for path, error in zip(files, outcomes, strict=True) if error]
    for path, error in failed:
        if isinstance(error, NotSentError):
            print(f"produce: {path} was not sent: {error}", file=sys.stderr)
        else:
            print(f"produce: the broker did not take {path}: {describe(error)}", file=sys.stderr)
    sent = len(outcomes) - len(failed)
    print(
        f"produce: {sent} item{'' if sent == 1 else 's'} sent to {target} at "
        f"{settings.kafka_bootstrap}" + (f"; {len(failed)} not taken" if failed else ""),
        file=sys.stderr,
    )
    return EXIT_NOT_TAKEN if failed else 0
