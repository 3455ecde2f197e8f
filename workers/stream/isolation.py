"""The input read committed: a producer's aborted transaction never becomes a story.

Faust's consumer reads ``read_uncommitted`` unless the app itself runs exactly-once
(``AIOKafkaConsumerThread._create_worker_consumer``), so a newsroom system that writes
``wire.raw`` in transactions would see the items of a transaction it aborted published as
stories. Read committed, the consumer gets only what was committed, and a record of an open
transaction once that transaction ends. Our own topics (the repartition topic, the changelog)
are written without transactions, where both levels read the same records.

Read committed, the end of what the consumer can read is the last stable offset (an open
transaction's records lie beyond it), and a transaction's commit or abort marker takes an
offset of its own that no agent ever sees: :func:`readable_end` and :func:`fetch_positions`
are what the lag gauges need to count only records (``Progress.lag``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

READ_COMMITTED = "read_committed"


def install(consumer: Any) -> None:
    """Make the aiokafka consumer that Faust's consumer thread builds read committed.

    aiokafka keeps the level the constructor was given and hands it to its fetcher when it
    starts; Faust builds the consumer, then starts it, so setting it in between is enough.
    """
    thread = consumer._thread
    create = thread._create_worker_consumer

    def create_read_committed(transport: Any) -> Any:
        client = create(transport)
        client._isolation_level = READ_COMMITTED
        return client

    thread._create_worker_consumer = create_read_committed


def _assignment(consumer: Any) -> Any:
    """The aiokafka client's current assignment state, or None before it has one."""
    client = getattr(getattr(consumer, "_thread", None), "_consumer", None)
    subscription = getattr(getattr(client, "_subscription", None), "subscription", None)
    return getattr(subscription, "assignment", None)


def readable_end(consumer: Any, topic: str, partition: int) -> int | None:
    """The offset after the last record this consumer can read there, None while unknown.

    Both it and the high watermark come with every fetch response, which the client thread
    writes and this reads (a plain attribute read). The last stable offset is missing from
    a broker that predates transactions, and -1 in read uncommitted: then the high watermark.
    """
    assignment = _assignment(consumer)
    if assignment is None:
        return None
    state = assignment.state_value((topic, partition))
    if state is None:  # not assigned (any more)
        return None
    lso: int | None = state.lso
    end: int | None = lso if lso is not None and lso >= 0 else state.highwater
    return end


def fetch_positions(consumer: Any) -> Iterator[tuple[str, int, int]]:
    """(topic, partition, position) for each assigned partition with a known fetch position.

    The position is the offset after the last record the client handed to Faust, and after
    any transaction markers and aborted records it skipped there: it reaches the readable
    end once everything before that end was handed over. The client thread moves it only
    inside Faust's own fetch, so read right after one it belongs to that fetch's records.
    """
    assignment = _assignment(consumer)
    if assignment is None:
        return
    try:
        states = list(assignment._tp_state.items())
    except RuntimeError:  # changed by the client thread meanwhile: the next fetch reads it
        return
    for tp, state in states:
        if state.has_valid_position:
            yield tp.topic, tp.partition, state.position
