"""workers.dlq without a broker: which records can be sent again, and with which headers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition

from workers import dlq
from workers.core.events import Source
from workers.core.keys import raw_sha256
from workers.core.pipeline import dlq_record
from workers.core.rejects import Reject, RejectReason
from workers.dlq import DeadLetter, Selection
from workers.settings import Settings

RAW = "Заглавие без текст\n".encode()
FIRST_ARRIVAL_MS = 1_763_640_000_000  # 2025-11-20T12:00:00Z


def letter(raw: bytes = RAW, headers: dict[str, str] | None = None, **changes: Any) -> DeadLetter:
    source = Source(
        raw_sha256(raw), topic="wire.raw", partition=0, offset=4, timestamp_ms=FIRST_ARRIVAL_MS
    )
    record = dlq_record(Reject(RejectReason.NO_BODY, "no body"), raw, source, "test", headers)
    record.update(changes)
    return DeadLetter(1, 7, FIRST_ARRIVAL_MS + 1000, record)


def test_a_whole_record_gives_its_original_bytes() -> None:
    assert letter().replayable() == (RAW, None)
    assert letter().position == "1:7"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"rawTruncated": True}, "only a prefix of its bytes was kept (rawTruncated)"),
        ({"rawBase64": "not base64!"}, "it holds no readable rawBase64"),
        ({"rawBase64": None}, "it holds no readable rawBase64"),
        ({"rawSha256": "00" * 32}, "its bytes do not match its rawSha256 and rawSize"),
        ({"rawSize": len(RAW) + 1}, "its bytes do not match its rawSha256 and rawSize"),
    ],
)
def test_a_record_without_its_whole_bytes_is_not_sent_again(
    changes: dict[str, Any], why: str
) -> None:
    raw, reason = letter(**changes).replayable()
    assert raw is None
    assert reason is not None
    assert reason.startswith(why)


def test_a_record_that_is_not_a_dlq_record_is_not_sent_again() -> None:
    unreadable = DeadLetter(0, 0, 0, {"reason": "unreadable", "detail": "not a DLQ record"})
    assert unreadable.replayable()[0] is None


def test_the_first_arrival_time_goes_along_unless_a_readable_one_came_with_the_input() -> None:
    assert letter(headers={"wire-format": "iptc7901"}).input_headers() == [
        ("wire-format", b"iptc7901"),
        ("wire-received-at", b"2025-11-20T12:00:00+00:00"),
    ]
    kept = letter(headers={"wire-received-at": "2024-01-02T03:04:05+00:00"})
    assert kept.input_headers() == [("wire-received-at", b"2024-01-02T03:04:05+00:00")]
    # The worker read an unreadable one as the Kafka time: the replay says that time.
    unreadable = letter(headers={"wire-received-at": "yesterday", "other": "dropped"})
    assert unreadable.input_headers() == [("wire-received-at", b"2025-11-20T12:00:00+00:00")]
    no_time = letter(headers={"wire-received-at": "yesterday"}, source={"rawSha256": "x"})
    assert no_time.input_headers() == []


def test_a_dead_letter_of_the_workers_own_record_is_not_sent_to_the_raw_topic() -> None:
    """A repartition record the worker could not read is dead-lettered as it was: those
    bytes are the worker's, not a wire input, and the raw topic must never get them."""
    internal = "wi-app.wire.items"
    record = letter(
        source={"rawSha256": raw_sha256(RAW), "topic": internal, "partition": 2, "offset": 9}
    )
    raw, why = record.replayable(internal_topics={internal})
    assert raw is None
    assert why == (
        f"its bytes are a record of the worker's own topic {internal} that could not be read, "
        "not a wire input"
    )
    assert record.replayable()[0] == RAW  # named only by the topics the caller gives


@pytest.mark.parametrize(
    "changes",
    [
        {"source": "wire.raw:0:1"},
        {"source": None},
        {"rawSize": None},
        {"rawSize": "large"},
        {"headers": ["wire-format", "bta"]},
    ],
)
def test_a_record_of_unexpected_shape_is_listed_and_judged_not_crashed_on(
    changes: dict[str, Any],
) -> None:
    odd = letter()
    odd.record.update(changes)
    assert odd.line().startswith("1:7 ")
    odd.replayable()
    odd.input_headers()
    assert odd.first_arrival_ms in {FIRST_ARRIVAL_MS, FIRST_ARRIVAL_MS + 1000}


def test_a_replay_sends_in_the_order_the_inputs_first_arrived() -> None:
    later = letter(source={"rawSha256": "x", "timestampMs": FIRST_ARRIVAL_MS + 60_000})
    assert later.first_arrival_ms == FIRST_ARRIVAL_MS + 60_000
    assert letter().first_arrival_ms == FIRST_ARRIVAL_MS
    no_time = letter(source={"rawSha256": "x"})
    assert no_time.first_arrival_ms == FIRST_ARRIVAL_MS + 1000  # the dead letter's own time


def test_a_partitions_inputs_go_back_in_their_offset_order_whatever_their_times() -> None:
    """Producers' clocks may disagree within a partition; its offsets never do. Partitions
    are merged by first arrival, and inputs from files by time."""
    from workers.dlq import _in_first_arrival_order, _Resend

    def resend(name: str, origin: tuple[str, int] | None, offset: int, at: int) -> _Resend:
        return _Resend(name, at, b"", [], (*origin, offset) if origin else None)

    order = _in_first_arrival_order(
        [
            resend("p0@11", ("raw", 0), 11, 1500),
            resend("p0@10", ("raw", 0), 10, 2000),
            resend("p1@4", ("raw", 1), 4, 1800),
            resend("file-b", None, 0, 1900),
            resend("file-a", None, 0, 1000),
        ]
    )
    assert [r.position for r in order] == ["file-a", "p1@4", "file-b", "p0@10", "p0@11"]


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[1, 2]", b'{"eventType": "story.created", "storyKey": "bta-x"}'],
)
def test_a_value_that_is_no_dlq_record_is_listed_as_unreadable(value: bytes) -> None:
    """An event read from a topic named by mistake says so, not '? ?' columns."""
    from types import SimpleNamespace

    from workers.dlq import _letter

    read = _letter(SimpleNamespace(partition=0, offset=3, timestamp=FIRST_ARRIVAL_MS, value=value))
    assert read.reason == "unreadable"
    assert "not a DLQ record of wire-ingest" in read.line()


def test_a_long_detail_is_cut_with_an_ellipsis() -> None:
    record = {"reason": "expired", "detail": "x" * 150, "source": {"file": "f"}, "rawSize": 3}
    line = DeadLetter(0, 0, 0, record).line()
    assert "x" * 99 + "…" in line
    assert "x" * 100 not in line


class _SilentPartition:
    """A consumer of a partition whose leader never answers: no records, the position stays."""

    async def position(self, tp: TopicPartition) -> int:
        return 3

    async def getmany(self, tp: TopicPartition, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        await asyncio.sleep(0.001)
        return {}


def test_a_partition_that_gives_no_records_ends_the_read_instead_of_hanging_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dlq, "READ_STALL_S", 0.0)
    silent: Any = _SilentPartition()
    with pytest.raises(
        dlq.DlqReadError,
        match=r"^no records from wire\.dlq partition 1 for 0 s \(at offset 3 of 9\)$",
    ):
        asyncio.run(  # a read that hangs fails here instead
            asyncio.wait_for(
                dlq._read_partition(silent, TopicPartition("wire.dlq", 1), 9, Selection(), print),
                timeout=10,
            )
        )


@pytest.mark.parametrize("action", ["list", "show"])
def test_a_read_kafka_does_not_serve_exits_4_with_one_line(
    action: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """README, Command line: exit 4 when Kafka does not answer the read."""

    async def stalled(*_args: object) -> None:
        raise dlq.DlqReadError("no records from wire.dlq partition 1 for 120 s (at offset 3 of 9)")

    monkeypatch.setattr(dlq, "load_or_report", Settings)
    monkeypatch.setattr(dlq, "read_dead_letters", stalled)
    assert dlq.run(action, Selection(), None, None) == 4
    assert capsys.readouterr().err == (
        "dlq: Kafka did not serve wire.dlq: DlqReadError: no records from wire.dlq partition 1"
        " for 120 s (at offset 3 of 9)\n"
    )
