"""The table's changelog records published without three turns of the event loop each.

Faust publishes every changelog record (two per merged item: the bucket's state and its
partition's record) from its producer buffer through ``Topic.publish_message``, which first
awaits ``app.maybe_start_producer()``. That method is a mode ``stampede``, and its wrapper
awaits ``asyncio.sleep(0)`` three times per call, also long after the producer has started.
So each record cost three turns of the loop, the buffer drained one record every three turns
while the agents filled it, and Faust's conductor stopped handing out messages whenever more
than 100 records waited (``ProducerBuffer.wait_until_ebb``).

The stampede only guards concurrent starts of the producer. Once it has started, the method
returns it at once; before that, each call still goes through Faust's own wrapper.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

_METHOD = "maybe_start_producer"


def install(app: Any) -> None:
    """Give ``app`` a ``maybe_start_producer`` that does not yield once the producer runs.

    Set on the instance: mode's ``stampede`` is a non-data descriptor that caches its wrapper
    in the instance's ``__dict__`` under the same name, so an entry there wins over it.
    """
    through_stampede: Callable[[], Awaitable[Any]] = getattr(app, _METHOD)

    async def maybe_start_producer() -> Any:
        if not app.in_transaction:
            producer = app.producer
            if producer.started:
                return producer
        return await through_stampede()

    app.__dict__[_METHOD] = maybe_start_producer
