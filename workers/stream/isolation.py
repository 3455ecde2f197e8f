"""The input read committed: a producer's aborted transaction never becomes a story.

Faust's consumer reads ``read_uncommitted`` unless the app itself runs exactly-once
(``AIOKafkaConsumerThread._create_worker_consumer``), so a newsroom system that writes
``wire.raw`` in transactions would see the items of a transaction it aborted published as
stories. Read committed, the consumer gets only what was committed, and a record of an open
transaction once that transaction ends. Our own topics (the repartition topic, the changelog)
are written without transactions, where both levels read the same records.
"""

from __future__ import annotations

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
