"""Proof of delivery before every commit: no input offset passes a record the broker lacks.

Faust commits an input offset after ``producer.flush()``. Neither half of that flush proves
delivery: its ``ProducerBuffer.flush()`` gives up after 0.1 s while table changelog records
are still queued, and aiokafka's ``flush()`` returns when batches have failed too (expired
while a leader was away, ``RecordTooLarge``, an authorisation error). So this module tracks
the future of every record the worker sends (events, DLQ records, repartitioned items) and of
every changelog record the table queues, and the flush that Faust calls before committing
waits for all of them. A record the broker refused stops the worker before any later commit:
one log line that says what failed, and exit code :data:`EXIT_DELIVERY_FAILED`. The inputs
after the last commit are processed again at the next start (the outbox re-sends their
events), so nothing is lost and nothing is acknowledged that was not delivered.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError

from workers.stream.fatal import EXIT_DELIVERY_FAILED, stop

log = logging.getLogger(__name__)

Exit = Callable[[int], None]


class DeliveryFailedError(RuntimeError):
    """A record was not delivered; committing past its input would lose it."""


class DeliveryStalledError(TimeoutError):
    """Records were neither acknowledged nor failed in time: their futures may never settle."""


class DeliveryTracker:
    """The futures of every record sent and not yet acknowledged, and the first failure.

    ``on_failure`` runs once, at the first failed record: by default it logs and ends the
    process at once, so that no commit can follow the loss. ``settle_limit_s`` bounds a
    settle: records still unsettled then count as failed (``None``: no bound).
    """

    def __init__(
        self,
        on_failure: Callable[[str, BaseException], None] | None = None,
        settle_limit_s: float | None = None,
    ) -> None:
        self.pending: dict[asyncio.Future[Any], str] = {}
        # When each pending record was sent (time.monotonic()): how long the broker has
        # kept the oldest waiting (a topic deleted, a partition without a leader, a hung
        # broker: aiokafka retries those in silence until the request timeout).
        self._sent_at: dict[asyncio.Future[Any], float] = {}
        self.failure: tuple[str, BaseException] | None = None
        self._on_failure = on_failure or _stop_process
        self.settle_limit_s = settle_limit_s

    def track(self, future: asyncio.Future[Any], topic: str, size: int | None = None) -> None:
        """Watch one record's delivery future; ``size``: its key and value bytes, which a
        refusal for size then names."""
        if future.done():
            self._settled(topic, future, size)
            return
        self.pending[future] = topic
        self._sent_at[future] = time.monotonic()
        future.add_done_callback(lambda done: self._settled(topic, done, size))

    def fail(self, topic: str, exc: BaseException) -> None:
        """A send that raised before it had a future (too large, producer closed, ...)."""
        if self.failure is None:
            self.failure = (topic, exc)
            self._on_failure(topic, exc)

    def _settled(self, topic: str, future: asyncio.Future[Any], size: int | None) -> None:
        self.pending.pop(future, None)
        self._sent_at.pop(future, None)
        if future.cancelled():
            self.fail(topic, asyncio.CancelledError("send cancelled"))
        elif future.exception() is not None:
            error = future.exception()
            assert error is not None
            self.fail(topic, _sized(error, size))

    def oldest_wait_s(self, now: float | None = None) -> float:
        """Seconds the oldest record still waiting for its acknowledgement has waited (0:
        none waits)."""
        sent = list(self._sent_at.values())
        return max(0.0, (now if now is not None else time.monotonic()) - min(sent)) if sent else 0.0

    def waiting(self) -> str:
        """The records still waiting, by topic, for a log line: "3 to stories.events"."""
        counts: dict[str, int] = {}
        for topic in list(self.pending.values()):
            counts[topic] = counts.get(topic, 0) + 1
        return ", ".join(f"{n} to {topic}" for topic, n in sorted(counts.items())) or "none"

    def check(self) -> None:
        if self.failure is not None:
            topic, exc = self.failure
            raise DeliveryFailedError(f"a record to {topic} was not delivered: {describe(exc)}")

    async def settle(self) -> None:
        """Wait until every record sent so far is settled; raise if one was not delivered.

        aiokafka expires a batch after the producer's request timeout, and that settles its
        future as failed, so ``settle_limit_s`` (set past that, app.py) is only reached when
        a future will never settle: a record queued where nothing sends it any more (Faust's
        producer-buffer task gone). Waiting on would hold every later commit forever; the
        stalled records are failed instead, which stops the worker without a commit.
        """
        self.check()
        waiting = dict(self.pending)
        if waiting:
            _, stalled = await asyncio.wait(waiting, timeout=self.settle_limit_s)
            if stalled and self.failure is None:
                topics = sorted({waiting[future] for future in stalled})
                self.fail(
                    ", ".join(topics),
                    DeliveryStalledError(
                        f"{len(stalled)} record{' was' if len(stalled) == 1 else 's were'} "
                        f"neither acknowledged nor refused within {self.settle_limit_s:g} s"
                    ),
                )
        self.check()


def _sized(error: BaseException, size: int | None) -> BaseException:
    """A broker's size refusal, which names neither size nor limit, with the record's size.

    The broker checks a whole batch against the topic's ``max.message.bytes``, so the
    record is one of those the refused batch held: its size says how far off the limit is.
    """
    if size is None or not isinstance(error, MessageSizeTooLargeError) or error.args:
        return error
    sized: BaseException = MessageSizeTooLargeError(
        f"a batch holding a {size:,}-byte record is over the topic's max.message.bytes "
        "(or the broker's message.max.bytes)"
    )
    sized.__cause__ = error
    return sized


# How aiokafka's broker errors begin: "[Error 10] MessageSizeTooLargeError".
_BROKER_ERROR_CODE = re.compile(r"^\[Error -?\d+\] ")


def describe(exc: BaseException) -> str:
    """An error in a few words: its type, and its message when it has one.

    Kafka's errors repeat their type in their text ("[Error 10] MessageSizeTooLargeError",
    "KafkaTimeoutError: ..."): said once here.
    """
    name = type(exc).__name__
    text = _BROKER_ERROR_CODE.sub("", str(exc))
    if text.startswith(name):
        text = text[len(name) :].lstrip(":").lstrip()
    return f"{name}: {text}" if text else name


def _stop_process(topic: str, exc: BaseException) -> None:
    """Log one line and leave at once: any commit from here on could pass the lost record."""
    stop(
        f"the broker did not take a record to {topic} ({describe(exc)}); stopping without "
        "committing, the inputs since the last commit will be processed again at the next "
        "start",
        EXIT_DELIVERY_FAILED,
    )


# A record this long without an answer is stuck, not slow: the worker says so once, looking
# every STALL_CHECK_S.
STALL_WARNING_S = 60.0
STALL_CHECK_S = 10.0


def stall_warner(tracker: DeliveryTracker, after_s: float = STALL_WARNING_S) -> Callable[[], None]:
    """A check to run on a timer: one WARNING when a record has waited ``after_s`` for its
    acknowledgement, again only after everything waiting was settled.

    aiokafka retries a send to a deleted topic or a partition without a leader in silence
    until the producer's request timeout; meanwhile every commit waits for it, and nothing
    else in the log or in readiness shows it.
    """
    warned = False

    def check() -> None:
        nonlocal warned
        waited = tracker.oldest_wait_s()
        if waited < after_s:
            warned = False
            return
        if not warned:
            warned = True
            log.warning(
                "records have waited %.0f s for the broker's acknowledgement (%s): a topic "
                "deleted, a partition without a leader, a broker that does not answer? "
                "Commits wait for them until they are acknowledged or fail",
                waited,
                tracker.waiting(),
            )

    return check


def install(producer: Any, tracker: DeliveryTracker) -> None:
    """Make the producer's flush, which Faust awaits before each commit, prove delivery.

    The table's changelog records are queued in the producer's buffer (``send_soon``); their
    futures are tracked where they enter it.
    """
    buffer = producer.buffer
    put = buffer.put

    def tracked_put(future: Any) -> None:
        message = future.message
        topic = message.channel.get_topic_name()
        tracker.track(future, topic, _size(message.key, message.value))
        put(future)

    buffer.put = tracked_put
    flush: Callable[[], Awaitable[None]] = producer.flush

    async def flush_and_prove() -> None:
        await flush()
        await tracker.settle()

    producer.flush = flush_and_prove


def _size(key: object, value: object) -> int | None:
    """A table record's bytes: the state is bytes, the key a string sent as its UTF-8
    (None for anything else, which Faust has yet to serialize)."""
    if not isinstance(value, bytes):
        return None
    if isinstance(key, str):
        return len(value) + len(key.encode())
    if isinstance(key, bytes):
        return len(value) + len(key)
    return len(value) if key is None else None
