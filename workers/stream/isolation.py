"""The input read committed: a producer's aborted transaction never becomes a story.

Faust's consumer reads ``read_uncommitted`` unless the app itself runs exactly-once
(``AIOKafkaConsumerThread._create_worker_consumer``), so a newsroom system that writes
``wire.raw`` in transactions would see the items of a transaction it aborted published as
stories. Read committed, the consumer gets only what was committed, and a record of an open
transaction once that transaction ends. Our own topics (the repartition topic, the changelog)
are written without transactions, where both levels read the same records.

A transaction's commit or abort marker takes an offset of its own that no agent ever sees:
:func:`fetch_positions` tells the lag gauges when the fetch has passed the last of them
(``Progress.lag``).
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


def fetch_positions(consumer: Any) -> Iterator[tuple[str, int, int]]:
    """(topic, partition, position) for each assigned partition with a known fetch position.

    The position is the offset after the last record the client handed to Faust, and after
    any transaction markers and aborted records it skipped there: it reaches the high
    watermark once everything before it was handed over. The client thread moves it only
    inside Faust's own fetch, so read right after one it belongs to that fetch's records.
    aiokafka keeps it in its partition states (private, read here as they are); none found,
    this yields nothing and the lag gauges count offsets, as they did.
    """
    client = getattr(getattr(consumer, "_thread", None), "_consumer", None)
    subscription = getattr(getattr(client, "_subscription", None), "subscription", None)
    states = getattr(getattr(subscription, "assignment", None), "_tp_state", None)
    if not states:
        return
    for tp, state in list(states.items()):
        # Read once: the client thread may clear it meanwhile (a seek, an offset reset).
        position = getattr(state, "_position", None)
        if position is not None:
            yield tp.topic, tp.partition, position
