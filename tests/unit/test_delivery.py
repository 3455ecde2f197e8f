"""workers.stream.delivery: no commit passes a record that was not acknowledged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from workers.settings import Settings
from workers.stream.agents import _wire_input
from workers.stream.delivery import DeliveryFailedError, DeliveryTracker, install


def tracker() -> tuple[DeliveryTracker, list[tuple[str, str]], list[str]]:
    failures: list[tuple[str, str]] = []
    counted: list[str] = []

    def on_failure(topic: str, exc: BaseException) -> None:
        failures.append((topic, type(exc).__name__))

    return DeliveryTracker(on_failure, counted.append), failures, counted


def test_settle_waits_for_every_pending_record_then_passes() -> None:
    async def go() -> None:
        deliveries, failures, _ = tracker()
        loop = asyncio.get_running_loop()
        first, second = loop.create_future(), loop.create_future()
        deliveries.track(first, "events")
        deliveries.track(second, "changelog")
        settling = asyncio.ensure_future(deliveries.settle())
        await asyncio.sleep(0)
        assert not settling.done()  # the buffer's records are not acknowledged yet
        first.set_result("meta")
        await asyncio.sleep(0)
        assert not settling.done()
        second.set_result("meta")
        await settling
        assert deliveries.pending == set()
        assert failures == []

    asyncio.run(go())


def test_a_failed_record_stops_once_and_refuses_every_later_commit() -> None:
    async def go() -> None:
        deliveries, failures, counted = tracker()
        loop = asyncio.get_running_loop()
        refused, later = loop.create_future(), loop.create_future()
        deliveries.track(refused, "stories.events")
        deliveries.track(later, "stories.events")
        refused.set_exception(RuntimeError("MessageSizeTooLarge"))
        later.set_exception(RuntimeError("MessageSizeTooLarge"))
        await asyncio.sleep(0)
        assert failures == [("stories.events", "RuntimeError")]  # stopped at the first one
        assert counted == ["stories.events", "stories.events"]
        for _ in range(2):
            with pytest.raises(DeliveryFailedError, match=r"stories\.events"):
                await deliveries.settle()

    asyncio.run(go())


def test_a_send_that_raised_before_it_had_a_future_fails_too() -> None:
    deliveries, failures, _ = tracker()
    deliveries.fail("wire.dlq", OSError("producer closed"))
    assert failures == [("wire.dlq", "OSError")]
    with pytest.raises(DeliveryFailedError):
        deliveries.check()


class FakeBuffer:
    def __init__(self) -> None:
        self.queued: list[Any] = []

    def put(self, future: Any) -> None:
        self.queued.append(future)


class FakeProducer:
    """What install() touches of Faust's producer: its buffer and its flush."""

    def __init__(self) -> None:
        self.buffer = FakeBuffer()
        self.flushed = 0

    async def flush(self) -> None:
        self.flushed += 1  # like Faust's: returns whatever is still queued


class FakeMessage:
    class channel:  # noqa: N801 - mimics FutureMessage.message.channel
        @staticmethod
        def get_topic_name() -> str:
            return "app-story-buckets-changelog"


def test_the_flush_before_a_commit_waits_for_changelog_records_in_the_buffer() -> None:
    async def go() -> None:
        deliveries, _, _ = tracker()
        producer = FakeProducer()
        install(producer, deliveries)
        record = asyncio.get_running_loop().create_future()
        record.message = FakeMessage()  # type: ignore[attr-defined]
        producer.buffer.put(record)  # as Table.__setitem__ -> send_soon does
        assert producer.buffer.queued == [record]
        flushing = asyncio.ensure_future(producer.flush())
        await asyncio.sleep(0.2)  # Faust's own buffer flush gives up after 0.1 s
        assert not flushing.done()
        assert producer.flushed == 1
        record.set_result("meta")
        await flushing

    asyncio.run(go())


def test_a_merge_side_failure_dead_letters_the_wire_bytes() -> None:
    class Message:
        topic, partition, offset, timestamp = "app.items-by-story", 2, 7, None

    payload = (
        b'{"item":{},"source":{"rawSha256":"' + b"ab" * 32 + b'","topic":"wire.raw",'
        b'"partition":1,"offset":40},"raw":"0JfQsNCz0LvQsNCy0LjQtQ=="}'
    )
    raw, source = _wire_input(Message(), payload)
    assert raw == "Заглавие".encode()
    assert (source.topic, source.partition, source.offset) == ("wire.raw", 1, 40)
    junk, origin = _wire_input(Message(), b"not json")
    assert junk == b"not json"
    assert (origin.topic, origin.offset) == ("app.items-by-story", 7)


def test_settings_never_show_the_sasl_password() -> None:
    settings = Settings(sasl_password="s3cret-value")
    assert "s3cret-value" not in repr(settings)
    assert "s3cret-value" not in str(settings)
