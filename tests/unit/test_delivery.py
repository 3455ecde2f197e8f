"""workers.stream.delivery: no commit passes a record that was not acknowledged."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiokafka import errors as kafka_errors

from workers.core.events import Source
from workers.core.model import WireItem
from workers.core.pipeline import parse_raw
from workers.settings import Settings
from workers.stream.agents import _failed_input, _wire_input
from workers.stream.delivery import DeliveryFailedError, DeliveryTracker, install
from workers.stream.records import Forwarded, encode_forwarded

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def tracker(
    settle_limit_s: float | None = None,
) -> tuple[DeliveryTracker, list[tuple[str, str]]]:
    failures: list[tuple[str, str]] = []

    def on_failure(topic: str, exc: BaseException) -> None:
        failures.append((topic, type(exc).__name__))

    return DeliveryTracker(on_failure, settle_limit_s), failures


def test_settle_waits_for_every_pending_record_then_passes() -> None:
    async def go() -> None:
        deliveries, failures = tracker()
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
        assert deliveries.pending == {}
        assert failures == []

    asyncio.run(go())


def test_a_failed_record_stops_once_and_refuses_every_later_commit() -> None:
    async def go() -> None:
        deliveries, failures = tracker()
        loop = asyncio.get_running_loop()
        refused, later = loop.create_future(), loop.create_future()
        deliveries.track(refused, "stories.events")
        deliveries.track(later, "stories.events")
        refused.set_exception(RuntimeError("MessageSizeTooLarge"))
        later.set_exception(RuntimeError("MessageSizeTooLarge"))
        await asyncio.sleep(0)
        assert failures == [("stories.events", "RuntimeError")]  # stopped at the first one
        for _ in range(2):
            with pytest.raises(DeliveryFailedError, match=r"stories\.events"):
                await deliveries.settle()

    asyncio.run(go())


def test_records_that_never_settle_fail_the_commit_at_the_limit_instead_of_holding_it() -> None:
    async def go() -> None:
        deliveries, failures = tracker(settle_limit_s=0.05)
        loop = asyncio.get_running_loop()
        acknowledged, lost = loop.create_future(), loop.create_future()
        deliveries.track(acknowledged, "stories.events")
        deliveries.track(lost, "wire-ingest-buckets-changelog")  # nothing will ever send it
        acknowledged.set_result("meta")
        with pytest.raises(DeliveryFailedError, match=r"1 record was neither acknowledged"):
            await asyncio.wait_for(deliveries.settle(), timeout=5)
        assert failures == [("wire-ingest-buckets-changelog", "DeliveryStalledError")]
        with pytest.raises(DeliveryFailedError):  # and so is every later commit
            await deliveries.settle()
        assert failures == [("wire-ingest-buckets-changelog", "DeliveryStalledError")]

    asyncio.run(go())


def test_the_settle_limit_lies_past_the_producers_own_expiry_of_a_batch(tmp_path: Path) -> None:
    from workers.stream.app import create_app

    wire = create_app(Settings(state_dir=tmp_path))
    timeout = wire.app.conf.producer_request_timeout
    assert wire.delivery.settle_limit_s is not None
    # aiokafka fails an old batch when an attempt ends, and an attempt may take a timeout more.
    assert wire.delivery.settle_limit_s > 2 * timeout >= 120


def test_a_send_that_raised_before_it_had_a_future_fails_too() -> None:
    deliveries, failures = tracker()
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
    """FutureMessage.message: Faust's PendingMessage, with the table's key and state."""

    key = "202508122057|софия"
    value = b"{}"

    class channel:  # noqa: N801 - mimics FutureMessage.message.channel
        @staticmethod
        def get_topic_name() -> str:
            return "app-story-buckets-changelog"


def test_the_flush_before_a_commit_waits_for_changelog_records_in_the_buffer() -> None:
    async def go() -> None:
        deliveries, _ = tracker()
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
    raw, source, headers = _wire_input(Message(), payload)
    assert raw == "Заглавие".encode()
    assert (source.topic, source.partition, source.offset) == ("wire.raw", 1, 40)
    assert headers == {}
    with_headers = payload[:-1] + b',"headers":{"wire-format":"ninjs"}}'
    assert _wire_input(Message(), with_headers)[2] == {"wire-format": "ninjs"}
    junk, origin, none = _wire_input(Message(), b"not json")
    assert junk == b"not json"
    assert (origin.topic, origin.offset) == ("app.items-by-story", 7)
    assert none == {}


def test_a_failed_raw_message_is_dead_lettered_as_it_came() -> None:
    """Raw bytes that happen to read as a repartition record keep their own bytes and origin."""

    class Topic:
        def get_topic_name(self) -> str:
            return "app.items-by-story"

    class Wire:
        items = Topic()

    class RawMessage:
        topic, partition, offset, timestamp, headers = "wire.raw", 3, 11, None, None

    forged = msgspec.json.encode((0, Source("ff" * 32, topic="forged"), {}))
    value = b"\x01" + len(forged).to_bytes(4, "big") + forged + b"tail"
    assert _wire_input(RawMessage(), value)[0] == b"tail"  # what reading it as a record gives
    raw, source, headers = _failed_input(Wire(), RawMessage(), value)
    assert raw == value
    assert (source.topic, source.partition, source.offset) == ("wire.raw", 3, 11)
    assert headers == {}

    class ItemMessage:
        topic, partition, offset, timestamp, headers = "app.items-by-story", 0, 5, None, None

    item = parse_raw((SEEDS / "000_original.txt").read_bytes())
    assert isinstance(item, WireItem)
    origin = Source("ab" * 32, topic="wire.raw", partition=1, offset=40)
    record = encode_forwarded(Forwarded(item, origin, b"wire bytes", {"a": "b"}))
    assert _failed_input(Wire(), ItemMessage(), record) == (b"wire bytes", origin, {"a": "b"})


def test_settings_never_show_the_sasl_password() -> None:
    settings = Settings(sasl_password="s3cret-value")
    assert "s3cret-value" not in repr(settings)
    assert "s3cret-value" not in str(settings)


class FakeTopic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


class SendingProducer:
    """Faust's producer as the agents use it: ``send`` returns the delivery future."""

    def __init__(self) -> None:
        self.sent: dict[str, list[tuple[bytes, bytes]]] = {}
        self.partitions: dict[str, list[int | None]] = {}  # as asked: None for the partitioner

    async def send(
        self, topic: str, key: bytes, value: bytes, **kwargs: Any
    ) -> asyncio.Future[Any]:
        self.sent.setdefault(topic, []).append((key, value))
        self.partitions.setdefault(topic, []).append(kwargs.get("partition"))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result("meta")
        return future


def stub_wire(
    settings: Settings, partitions: int
) -> tuple[Any, dict[bytes, bytes], SendingProducer, list[tuple[str, str]]]:
    """What handle_item reads of the WireApp, with a dict for the table: the wire, its table,
    its producer and the delivery failures."""
    from types import SimpleNamespace

    from workers.metrics import Metrics
    from workers.stream.agents import Progress
    from workers.stream.expiry import Expiry

    deliveries, failures = tracker()
    producer = SendingProducer()
    table: dict[bytes, bytes] = {}
    wire = SimpleNamespace(
        settings=settings,
        metrics=Metrics(),
        table=table,
        delivery=deliveries,
        expiry=Expiry(table, timedelta(days=7), partitions),
        retention=timedelta(days=7),
        progress=Progress(),
        app=SimpleNamespace(consumer=SimpleNamespace(_committed_offset={}), producer=producer),
        version="test",
        items=FakeTopic(settings.repartition_topic),
        **{name: FakeTopic(name) for name in ("events", "latest", "dlq")},
    )
    return wire, table, producer, failures


def merge_input(
    wire: Any, item: WireItem, offset: int, raw_offset: int | None = None, tp: Any = None
) -> None:
    """``item`` through the merge agent's handler as the repartition record at ``offset``
    (partition 0), from the raw input at ``raw_offset`` (default: the same offset)."""
    from types import SimpleNamespace

    from workers.core.keys import bucket_key
    from workers.stream.agents import handle_item

    raw_at = offset if raw_offset is None else raw_offset
    source = Source(f"{raw_at:064x}", topic="wire.raw", partition=0, offset=raw_at)
    record = encode_forwarded(Forwarded(item, source, b"wire bytes", {}))
    message = SimpleNamespace(topic="app.items-by-story", partition=0, offset=offset, tp=tp)
    asyncio.run(handle_item(wire, message, bucket_key(item).encode(), record))


def test_a_parsed_item_goes_to_its_buckets_partition_of_the_state_layout() -> None:
    """Not to whatever partition count the repartition topic has now: partitions added by
    hand have no changelog partition, and no state, behind them."""
    from types import SimpleNamespace

    from workers.core.pipeline import route_key
    from workers.stream.agents import handle_raw
    from workers.stream.partitioner import layout_partition

    raw = (SEEDS / "000_original.txt").read_bytes()
    item = parse_raw(raw)
    assert isinstance(item, WireItem)
    key = route_key(item).encode()
    for layout in (1, 4, 7):
        settings = Settings(partitions=layout)
        wire, _table, producer, failures = stub_wire(settings, layout)
        message = SimpleNamespace(
            topic="wire.raw", partition=0, offset=3, timestamp=None, headers=None
        )
        asyncio.run(handle_raw(wire, message, raw))
        assert producer.partitions == {settings.repartition_topic: [layout_partition(key, layout)]}
        assert failures == []


def test_a_rejected_item_is_counted_once_the_broker_has_its_dlq_record() -> None:
    """Not when it is sent: a DLQ record the broker refuses stops the worker, and the input
    is read again at the next start, where it would be counted a second time."""
    from types import SimpleNamespace

    from workers.stream.agents import handle_raw

    def rejected(wire: Any) -> float:
        value = wire.metrics.registry.get_sample_value(
            "wire_ingest_items_rejected_total", {"reason": "empty"}
        )
        return float(value or 0.0)

    async def go(outcome: BaseException | None) -> float:
        wire, _table, producer, _failures = stub_wire(Settings(), 4)
        sent: list[asyncio.Future[Any]] = []

        async def send(topic: str, key: bytes, value: bytes, **kwargs: Any) -> Any:
            sent.append(asyncio.get_running_loop().create_future())
            return sent[-1]

        producer.send = send
        message = SimpleNamespace(topic="wire.raw", partition=0, offset=1, timestamp=None)
        await handle_raw(wire, message, b"")
        assert len(sent) == 1
        assert rejected(wire) == 0.0  # sent, not yet acknowledged
        if outcome is None:
            sent[0].set_result("meta")
        else:
            sent[0].set_exception(outcome)
        await asyncio.sleep(0)  # the future's callbacks
        return rejected(wire)

    assert asyncio.run(go(None)) == 1.0
    assert asyncio.run(go(RuntimeError("NotEnoughReplicas"))) == 0.0


def test_a_bucket_over_its_budget_dead_letters_the_version() -> None:
    """No input may make a changelog record the broker refuses on every restart."""
    import base64
    from types import SimpleNamespace

    import orjson

    from tests.unit.core.items import wire_item
    from workers.core.events import Source
    from workers.stream.agents import handle_item
    from workers.stream.expiry import meta_key

    raw = b"the wire bytes of a huge item"
    huge = wire_item(tuple(f"Абзац номер {i} " + "дума " * 2000 for i in range(8)))
    source = Source("ab" * 32, topic="wire.raw", partition=0, offset=5)
    payload = orjson.dumps(
        {"item": huge.to_dict(), "source": source.to_dict(), "raw": base64.b64encode(raw).decode()}
    )
    wire, table, producer, failures = stub_wire(Settings(max_state_bytes=64 * 1024), 4)
    message = SimpleNamespace(topic="app.items-by-story", partition=1, offset=9, tp=None)
    asyncio.run(handle_item(wire, message, b"bta:20250812T1757Z", payload))
    assert set(table) == {meta_key(1)}  # no bucket: only the partition's stream time moved
    assert set(producer.sent) == {"dlq"}  # no event, no stories.latest record
    ((_, value),) = producer.sent["dlq"]
    record = orjson.loads(value)
    assert record["reason"] == "state_too_large"
    assert base64.b64decode(record["rawBase64"]) == raw
    assert record["source"]["offset"] == 5
    assert failures == []
    # Under the default budget the same version is merged.
    wire.settings = Settings()
    asyncio.run(handle_item(wire, message, b"bta:20250812T1757Z", payload))
    assert set(table) == {meta_key(1), b"bta:20250812T1757Z"}
    assert len(producer.sent["events"]) == 1


def test_a_replayed_input_resends_its_events_even_past_the_retention() -> None:
    """After a crash, stream time restored from the changelog can be ahead of where it was
    when an uncommitted input was first handled. Its events must go again, not a DLQ record:
    the first send may never have reached the broker."""

    from tests.unit.core.items import SEED_MINUTE, wire_item
    from workers.core.keys import bucket_key
    from workers.stream.state import decode_state

    wire, table, producer, failures = stub_wire(Settings(), 1)

    def arrive(item: WireItem, offset: int) -> None:
        merge_input(wire, item, offset)

    week = timedelta(days=7)
    arrive(wire_item(("Друга новина.",), first=SEED_MINUTE + week - timedelta(minutes=1)), 9)
    late = wire_item(("Земеделците прибраха рекордна реколта от пшеница.",))
    arrive(late, 10)  # within the retention: merged, its event sent, its outbox entry kept
    assert len(producer.sent["events"]) == 2
    arrive(wire_item(("Трета новина.",), first=SEED_MINUTE + week + timedelta(minutes=1)), 11)
    (pending,) = decode_state(table[bucket_key(late).encode()]).outbox
    assert pending.offset == 10
    producer.sent.clear()
    arrive(late, 10)  # offset 10 again, uncommitted: now past the retention
    assert "dlq" not in producer.sent
    assert [value for _, value in producer.sent["events"]] == [pending.events[0][1]]
    assert failures == []


def test_a_re_sent_older_input_leaves_the_newest_event_last_on_latest() -> None:
    """After a rebalance the re-read re-sends the inputs handled before it began and skips
    those handled while it ran (positions.py), which are later ones: an original re-sent
    after its update's first send put the original last on the compacted topic (seen in the
    deploy scenario). A re-send sends each story's newest event of the outbox to
    ``stories.latest``; ``stories.events`` still gets the stored events byte for byte."""

    from tests.unit.core.items import SEED_MINUTE, wire_item
    from workers.core.keys import bucket_key
    from workers.stream.state import decode_state

    wire, table, producer, failures = stub_wire(Settings(), 1)

    def arrive(item: WireItem, offset: int) -> None:
        merge_input(wire, item, offset)

    lead = "Земеделците прибраха рекордна реколта от пшеница."
    original = wire_item((lead,))
    update = wire_item(
        (lead, "Изкупните цени остават ниски."), updated=SEED_MINUTE + timedelta(hours=1)
    )
    arrive(original, 905)
    arrive(update, 980)
    first, second = decode_state(table[bucket_key(original).encode()]).outbox
    assert (first.offset, second.offset) == (905, 980)
    producer.sent.clear()
    arrive(original, 905)  # re-read after a rebalance; 980 is skipped as handled since
    assert [value for _, value in producer.sent["events"]] == [first.events[0][1]]
    assert [value for _, value in producer.sent["latest"]] == [second.events[0][1]]
    assert failures == []


def test_a_re_sent_input_at_a_reused_offset_leaves_the_newest_event_last_on_latest() -> None:
    """A re-created repartition topic starts its offsets again while an uncommitted entry of
    the old one stays in the outbox: the newest input is the one the bucket took last, not
    the one of the highest offset."""

    from tests.unit.core.items import SEED_MINUTE, wire_item
    from workers.core.keys import bucket_key
    from workers.stream.state import decode_state

    wire, table, producer, failures = stub_wire(Settings(), 1)

    def arrive(item: WireItem, offset: int, raw_offset: int) -> None:
        merge_input(wire, item, offset, raw_offset)

    lead = "Земеделците прибраха рекордна реколта от пшеница."
    original = wire_item((lead,))
    update = wire_item(
        (lead, "Изкупните цени остават ниски."), updated=SEED_MINUTE + timedelta(hours=1)
    )
    arrive(original, 980, 500)
    arrive(update, 3, 900)  # the topic made again: its offsets start over, nothing committed
    first, second = decode_state(table[bucket_key(original).encode()]).outbox
    assert (first.offset, second.offset) == (980, 3)
    producer.sent.clear()
    arrive(update, 3, 900)  # re-read after a crash: a replay of offset 3
    assert [value for _, value in producer.sent["events"]] == [second.events[0][1]]
    assert [value for _, value in producer.sent["latest"]] == [second.events[0][1]]
    assert failures == []


def test_another_record_at_a_reused_offset_is_merged_not_taken_for_a_replay() -> None:
    """A committed outbox entry stays until its bucket is written again; a re-created
    repartition topic hands its offset to another record, which must be merged."""

    from tests.unit.core.items import wire_item
    from workers.core.keys import bucket_key
    from workers.stream.state import decode_state

    wire, table, producer, failures = stub_wire(Settings(), 1)

    def arrive(item: WireItem, offset: int, raw_offset: int) -> None:
        merge_input(wire, item, offset, raw_offset, tp="tp")

    first = wire_item(("Първа версия.",))
    arrive(first, 10, 500)
    wire.app.consumer._committed_offset["tp"] = 11  # committed; the entry stays in the bucket
    (stale,) = decode_state(table[bucket_key(first).encode()]).outbox
    producer.sent.clear()
    arrive(wire_item(("Първа версия.", "Нов абзац с още подробности.")), 10, 777)
    state = decode_state(table[bucket_key(first).encode()])
    assert len(state.bucket.versions) == 2
    ((_, event),) = producer.sent["events"]
    assert event != stale.events[0][1]
    # The very input again at that offset is still a replay: its events go again as they were.
    producer.sent.clear()
    wire.app.consumer._committed_offset["tp"] = 10
    arrive(wire_item(("Първа версия.", "Нов абзац с още подробности.")), 10, 777)
    assert [value for _, value in producer.sent["events"]] == [event]
    assert failures == []


def test_a_refusal_for_size_names_the_records_size() -> None:
    """The broker's refusal says only "[Error 10] MessageSizeTooLargeError": the line the
    on-call reads names the size of the refused record and the limit it went over."""
    from aiokafka.errors import MessageSizeTooLargeError

    from workers.stream.delivery import describe

    refused: list[BaseException] = []

    async def go() -> None:
        deliveries = DeliveryTracker(lambda _topic, exc: refused.append(exc))
        future = asyncio.get_running_loop().create_future()
        deliveries.track(future, "stories.events", size=4512)
        future.set_exception(MessageSizeTooLargeError())
        await asyncio.sleep(0)

    asyncio.run(go())
    assert [describe(exc) for exc in refused] == [
        "MessageSizeTooLargeError: a batch holding a 4,512-byte record is over the topic's "
        "max.message.bytes (or the broker's message.max.bytes)"
    ]


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (kafka_errors.MessageSizeTooLargeError(), "MessageSizeTooLargeError"),
        (
            kafka_errors.MessageSizeTooLargeError("The message is 5 bytes"),
            "MessageSizeTooLargeError: The message is 5 bytes",
        ),
        (kafka_errors.KafkaTimeoutError(), "KafkaTimeoutError"),
        (kafka_errors.KafkaConnectionError("no broker"), "KafkaConnectionError: no broker"),
        (OSError("producer closed"), "OSError: producer closed"),
        (ValueError(), "ValueError"),
    ],
)
def test_an_error_says_its_type_once(error: BaseException, said: str) -> None:
    from workers.stream.delivery import describe

    assert describe(error) == said


def test_a_record_the_broker_keeps_waiting_is_timed_and_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A deleted topic: aiokafka retries in silence, and every commit waits. The gauge says
    for how long; one WARNING names the topics, again only after all was settled."""
    from workers.stream import delivery

    clock = [1000.0]
    monkeypatch.setattr(delivery.time, "monotonic", lambda: clock[0])

    async def go() -> None:
        deliveries, _ = tracker()
        warn = delivery.stall_warner(deliveries, after_s=60.0)
        loop = asyncio.get_running_loop()
        first, second = loop.create_future(), loop.create_future()
        deliveries.track(first, "stories.events")
        clock[0] += 30.0
        deliveries.track(second, "stories.events")
        assert deliveries.oldest_wait_s() == 30.0
        warn()
        assert not caplog.records  # 30 s: slow, not stuck
        clock[0] += 45.0
        warn()
        warn()
        assert deliveries.waiting() == "2 to stories.events"
        first.set_result("meta")
        second.set_result("meta")
        await asyncio.sleep(0)
        assert deliveries.oldest_wait_s() == 0.0
        assert deliveries.waiting() == "none"
        warn()  # settled: the next stall is said again
        third = loop.create_future()
        deliveries.track(third, "wire.dlq")
        clock[0] += 61.0
        warn()
        third.set_result("meta")
        await asyncio.sleep(0)

    with caplog.at_level("WARNING", logger="workers.stream.delivery"):
        asyncio.run(go())
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said
    assert said[0].startswith("records have waited 75 s for the broker's acknowledgement (2 to ")
    assert "(1 to wire.dlq)" in said[1]


def test_a_forced_exit_names_the_records_still_waiting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from workers.stream import runner

    exits: list[int] = []
    monkeypatch.setattr(runner.os, "_exit", exits.append)
    deliveries, _ = tracker()
    deliveries.pending[object()] = "stories.events"  # type: ignore[index]
    runner._force_exit(12.0, SimpleNamespace(delivery=deliveries))  # type: ignore[arg-type]
    runner._force_exit(12.0, None)
    assert capsys.readouterr().err.splitlines() == [
        "wire-ingest: worker did not stop within 12s (records waiting for the broker: 1 to "
        "stories.events); exiting",
        "wire-ingest: worker did not stop within 12s; exiting",
    ]
    assert exits == [1, 1]
