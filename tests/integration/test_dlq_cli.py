"""``wire-ingest dlq`` on the real broker: list, show and replay dead-lettered records."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.support.fixtures import FORMATS_DIR
from tests.support.kafka_io import create_topic, produce, read_all
from tests.support.waiting import wait_until
from tests.support.worker import Names
from workers.cli import main
from workers.core.events import Source
from workers.core.keys import raw_sha256
from workers.core.pipeline import dlq_record
from workers.core.rejects import Reject, RejectReason

pytestmark = pytest.mark.integration

NO_BODY = "Заглавие без текст\n".encode()
BAD_TIME = "12:00 32.13.2025 | БТА\nЗаглавие\nТекст.".encode()


def _record(reason: RejectReason, raw: bytes, offset: int) -> bytes:
    source = Source(raw_sha256(raw), topic="wire.raw", partition=0, offset=offset)
    return orjson.dumps(dlq_record(Reject(reason, f"{reason.value} here"), raw, source, "test"))


@pytest.fixture
def dead_letters(kafka_bootstrap: str, names: Names, monkeypatch: pytest.MonkeyPatch) -> Names:
    """A DLQ topic of three records, one of them truncated; an empty raw topic."""
    truncated = orjson.loads(_record(RejectReason.TOO_LARGE, b"only the first bytes", 3))
    truncated["rawTruncated"] = True
    create_topic(kafka_bootstrap, names.dlq, 2)
    create_topic(kafka_bootstrap, names.raw, 1)
    produce(
        kafka_bootstrap,
        names.dlq,
        [
            _record(RejectReason.NO_BODY, NO_BODY, 1),
            _record(RejectReason.BAD_TIMESTAMP, BAD_TIME, 2),
            orjson.dumps(truncated),
        ],
        partitions=2,
    )
    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka_bootstrap)
    for variable, value in names.env().items():
        monkeypatch.setenv(variable, value)
    return names


def test_list_selects_by_reason_and_time(
    dead_letters: Names, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert {line.split()[2] for line in lines} == {"no_body", "bad_timestamp", "too_large"}
    assert main(["dlq", "list", "--reason", "no_body"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "no_body" in line
    assert "from wire.raw:0:1" in line
    assert main(["dlq", "list", "--since", "2999-01-01T00:00"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"dlq: 0 records selected on {dead_letters.dlq}\n"


def test_list_selects_up_to_a_time(dead_letters: Names, capsys: pytest.CaptureFixture[str]) -> None:
    """``--until``: records dead-lettered before that time (the three were, just now)."""
    assert main(["dlq", "list", "--until", "2999-01-01T00:00"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["dlq", "list", "--until", "2020-01-01T00:00"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"dlq: 0 records selected on {dead_letters.dlq}\n"


def test_show_prints_whole_records(dead_letters: Names, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dlq", "show", "--partition", "1", "--offset", "0"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["partition"], record["offset"]) == (1, 0)
    assert record["reason"] == "bad_timestamp"
    assert main(["dlq", "show", "--partition", "1", "--offset", "7"]) == 1


def test_replay_sends_the_original_bytes_back_to_the_raw_topic(
    kafka_bootstrap: str, dead_letters: Names, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "replay", "--reason", "no_body", "--reason", "bad_timestamp"]) == 0
    assert capsys.readouterr().err == (
        f"dlq: 2 records re-produced to {dead_letters.raw} with their original bytes\n"
    )
    assert sorted(r.value for r in read_all(kafka_bootstrap, dead_letters.raw)) == sorted(
        [NO_BODY, BAD_TIME]
    )
    # A truncated record cannot be replayed from the DLQ: it is named, and the exit code says so.
    assert main(["dlq", "replay", "--reason", "too_large"]) == 1
    err = capsys.readouterr().err
    assert "not replaying 0:1: only a prefix of its bytes was kept" in err
    assert err.endswith(
        f"dlq: 0 records re-produced to {dead_letters.raw} with their original bytes; 1 left out\n"
    )


def test_replay_to_another_topic_leaves_the_raw_topic_alone(
    kafka_bootstrap: str, dead_letters: Names, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--to-topic``: a staging topic to look at the originals before the worker sees them."""
    staging = f"{dead_letters.raw}.staging"
    create_topic(kafka_bootstrap, staging, 1)
    assert main(["dlq", "replay", "--reason", "no_body", "--to-topic", staging]) == 0
    assert capsys.readouterr().err == (
        f"dlq: 1 record re-produced to {staging} with its original bytes\n"
    )
    assert [r.value for r in read_all(kafka_bootstrap, staging)] == [NO_BODY]
    assert read_all(kafka_bootstrap, dead_letters.raw) == []


def test_replay_sends_the_input_headers_and_the_first_arrival_time_again(
    kafka_bootstrap: str, names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 7901 item's trailer names no year: replayed later, it must read as it did first."""
    raw = (FORMATS_DIR / "iptc7901" / "01-original.txt").read_bytes()
    first_arrival = Source(
        raw_sha256(raw), topic="wire.raw", partition=0, offset=9, timestamp_ms=1_763_640_000_000
    )  # 2025-11-20T12:00:00Z
    reject = Reject(RejectReason.BAD_FRAMING, "a parser bug, fixed since")
    with_format = dlq_record(reject, raw, first_arrival, "test", {"wire-format": "iptc7901"})
    with_time = dlq_record(
        reject, raw, first_arrival, "test", {"wire-received-at": "2024-01-02T03:04:05+00:00"}
    )
    create_topic(kafka_bootstrap, names.dlq, 1)
    create_topic(kafka_bootstrap, names.raw, 1)
    produce(kafka_bootstrap, names.dlq, [orjson.dumps(with_format), orjson.dumps(with_time)])
    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka_bootstrap)
    for variable, value in names.env().items():
        monkeypatch.setenv(variable, value)

    assert main(["dlq", "replay"]) == 0
    sent = read_all(kafka_bootstrap, names.raw)
    assert [r.value for r in sent] == [raw, raw]
    assert [dict(r.headers) for r in sent] == [
        {"wire-format": b"iptc7901", "wire-received-at": b"2025-11-20T12:00:00+00:00"},
        {"wire-received-at": b"2024-01-02T03:04:05+00:00"},  # it had one: kept as it was
    ]


def _use(bootstrap: str, names: Names, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", bootstrap)
    for variable, value in names.env().items():
        monkeypatch.setenv(variable, value)


def test_a_repeated_record_is_sent_once(
    kafka_bootstrap: str,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An input whose items were each refused has a DLQ record per item: one input to send."""
    create_topic(kafka_bootstrap, names.dlq, 1)
    create_topic(kafka_bootstrap, names.raw, 1)
    same = _record(RejectReason.NO_BODY, NO_BODY, 1)
    produce(
        kafka_bootstrap, names.dlq, [same, _record(RejectReason.BAD_TIMESTAMP, BAD_TIME, 2), same]
    )
    _use(kafka_bootstrap, names, monkeypatch)
    assert main(["dlq", "replay"]) == 0
    assert capsys.readouterr().err == (
        f"dlq: 2 records re-produced to {names.raw} with their original bytes; "
        "1 repeats sent once\n"
    )
    assert [r.value for r in read_all(kafka_bootstrap, names.raw)] == [NO_BODY, BAD_TIME]
    assert main(["dlq", "replay", "--since", "2999-01-01T00:00"]) == 0
    assert capsys.readouterr().err == (
        f"dlq: no records selected on {names.dlq}; nothing re-produced\n"
    )


def test_records_the_broker_refuses_are_named_one_line_each_and_exit_5(
    kafka_bootstrap: str,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A raw topic whose message limit is under an item's size: the broker refuses the batch.
    Nothing is reported as sent that the broker did not acknowledge."""
    large = ("Заглавие\n\n" + "Дълъг текст. " * 300).encode()  # ~7 KB, over the limit
    create_topic(kafka_bootstrap, names.dlq, 1)
    create_topic(kafka_bootstrap, names.raw, 1, {"max.message.bytes": "2048"})
    produce(kafka_bootstrap, names.dlq, [_record(RejectReason.TOO_LARGE, large, 1)])
    _use(kafka_bootstrap, names, monkeypatch)
    assert main(["dlq", "replay"]) == 5
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("dlq: 0:0: the broker did not take it (MessageSizeTooLargeError")
    assert lines[0].endswith("it stays on the DLQ")
    assert lines[1] == (
        f"dlq: 0 records re-produced to {names.raw} with their original bytes; "
        "1 not taken by the broker"
    )
    item = tmp_path / "large.txt"
    item.write_bytes(large)
    assert main(["produce", str(item)]) == 5
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"produce: the broker did not take {item}: MessageSizeTooLarge")
    assert lines[1] == f"produce: 0 items sent to {names.raw} at {kafka_bootstrap}; 1 not taken"
    assert read_all(kafka_bootstrap, names.raw) == []


def test_a_missing_dlq_topic_is_one_line_and_exit_3(
    kafka_bootstrap: str,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka_bootstrap)
    assert main(["dlq", "list", "--topic", f"{names.dlq}-missing"]) == 3
    err = capsys.readouterr().err
    assert err == f"dlq: the topic {names.dlq}-missing does not exist at {kafka_bootstrap}\n"


def test_replay_sends_in_first_arrival_order_and_never_the_workers_own_records(
    kafka_bootstrap: str,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An original and its update, refused in that order, sit on two DLQ partitions (the DLQ
    key is the bytes' hash): they go back in the order they first came. A repartition record
    the worker could not read is named and left out: its bytes are not a wire input."""
    update = "ОБНОВЕНА Заглавие\nТекст.".encode()

    def refused(raw: bytes, offset: int, first_arrival_ms: int, topic: str = "wire.raw") -> bytes:
        source = Source(
            raw_sha256(raw),
            topic=topic,
            partition=0,
            offset=offset,
            timestamp_ms=first_arrival_ms,
        )
        reject = Reject(RejectReason.INTERNAL_ERROR, "a bug, fixed since")
        return orjson.dumps(dlq_record(reject, raw, source, "test"))

    internal = f"{names.app_id}.items-by-story"
    create_topic(kafka_bootstrap, names.dlq, 2)
    create_topic(kafka_bootstrap, names.raw, 1)
    produce(
        kafka_bootstrap,
        names.dlq,
        [
            refused(update, 2, 1_763_640_060_000),  # DLQ partition 0, first arrived second
            refused(NO_BODY, 1, 1_763_640_000_000),  # DLQ partition 1, first arrived first
            refused(b"\x00\x01 a record of the worker's own", 7, 1_763_640_030_000, internal),
        ],
        partitions=2,
    )
    _use(kafka_bootstrap, names, monkeypatch)
    assert main(["dlq", "replay"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"dlq: not replaying 0:1: its bytes are a record of the worker's own topic {internal} "
        "that could not be read, not a wire input",
        f"dlq: 2 records re-produced to {names.raw} with their original bytes; 1 left out",
    ]
    assert [r.value for r in read_all(kafka_bootstrap, names.raw)] == [NO_BODY, update]


def test_reading_is_narrowed_to_the_selection_and_odd_records_are_listed(
    kafka_bootstrap: str,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--partition`` reads one partition, ``--since`` starts where the broker's time index
    says; a record of an unexpected shape is listed like any other, not a crash."""
    odd = orjson.loads(_record(RejectReason.NO_BODY, NO_BODY, 1))
    odd.update(source="wire.raw:0:1", rawSize=None)
    create_topic(kafka_bootstrap, names.dlq, 2)
    produce(
        kafka_bootstrap,
        names.dlq,
        [orjson.dumps(odd), _record(RejectReason.BAD_TIMESTAMP, BAD_TIME, 2)],
        partitions=2,
        timestamp_ms=1_763_640_000_000,  # 2025-11-20T12:00:00Z
    )
    _use(kafka_bootstrap, names, monkeypatch)
    assert main(["dlq", "list", "--partition", "0"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("0:0 2025-11-20T12:00:00Z no_body")
    assert "       ? B from ?" in line
    assert main(["dlq", "list", "--since", "2025-11-20T11:59"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["dlq", "list", "--since", "2025-11-20T12:01"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["dlq", "show", "--partition", "1", "--offset", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["reason"] == "bad_timestamp"
    assert main(["dlq", "list", "--partition", "5"]) == 2  # a typo, not an empty partition
    assert capsys.readouterr().err == f"dlq: {names.dlq} has partitions 0-1, not 5\n"
    assert main(["dlq", "show", "--partition", "1", "--offset", "7"]) == 1
    assert capsys.readouterr().err == f"dlq: no records selected on {names.dlq}\n"
    assert main(["dlq", "list", "--since", "1969-12-31"]) == 0  # before the broker's times
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_list_into_a_closed_pipe_ends_quietly(
    kafka_bootstrap: str,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``wire-ingest dlq list | head -1``: the reader goes away, the command ends with 0."""

    class ClosedPipe:
        def write(self, _text: str) -> int:
            raise BrokenPipeError

    create_topic(kafka_bootstrap, names.dlq, 1)
    produce(kafka_bootstrap, names.dlq, [_record(RejectReason.NO_BODY, NO_BODY, 1)])
    _use(kafka_bootstrap, names, monkeypatch)
    monkeypatch.setattr("sys.stdout", ClosedPipe())
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert main(["dlq", "list"]) == 0


def test_replay_sends_each_input_to_the_partition_it_first_came_on(
    kafka_bootstrap: str,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The newsroom's partitioning is kept (its keys are not in the DLQ record): an original
    and its update that came on one partition go back to it, in the order they came. A
    partition the topic lacks now leaves the choice to the producer."""
    update = "ОБНОВЕНА Заглавие\nТекст.".encode()

    def refused(raw: bytes, partition: int, offset: int, first_arrival_ms: int) -> bytes:
        source = Source(
            raw_sha256(raw),
            topic=names.raw,
            partition=partition,
            offset=offset,
            timestamp_ms=first_arrival_ms,
        )
        reject = Reject(RejectReason.INTERNAL_ERROR, "a bug, fixed since")
        return orjson.dumps(dlq_record(reject, raw, source, "test"))

    create_topic(kafka_bootstrap, names.dlq, 1)
    create_topic(kafka_bootstrap, names.raw, 3)
    produce(
        kafka_bootstrap,
        names.dlq,
        [
            refused(update, 2, 4, 1_763_640_060_000),
            refused(NO_BODY, 2, 3, 1_763_640_000_000),
            refused(BAD_TIME, 1, 3, 1_763_640_030_000),
            refused(b"gone", 7, 3, 1_763_640_090_000),  # the raw topic has 3 partitions now
        ],
    )
    _use(kafka_bootstrap, names, monkeypatch)
    assert main(["dlq", "replay"]) == 0
    capsys.readouterr()
    sent = read_all(kafka_bootstrap, names.raw)
    by_partition = {p: [r.value for r in sent if r.partition == p] for p in (0, 1, 2)}
    assert by_partition[2][:2] == [NO_BODY, update]
    assert BAD_TIME in by_partition[1]
    assert sorted(r.value for r in sent) == sorted([NO_BODY, update, BAD_TIME, b"gone"])


def test_follow_of_a_missing_topic_is_one_line_and_exit_3(
    kafka_bootstrap: str,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A typo in --topic, or no worker started yet: said at once, not a silent wait."""
    _use(kafka_bootstrap, names, monkeypatch)
    assert main(["follow", "--topic", f"{names.events}-missing"]) == 3
    assert capsys.readouterr().err == (
        f"follow: the topic {names.events}-missing does not exist at {kafka_bootstrap}, or "
        "this client may not read it (the worker creates its topics when it starts)\n"
    )


def test_follow_json_from_the_beginning_prints_each_value_as_sent_until_ctrl_c(
    kafka_bootstrap: str, names: Names, tmp_path: Path
) -> None:
    """``follow --json --from-beginning``: the events already on the topic, byte for byte, one
    a line, for a pipe into jq; SIGINT ends it with 0."""
    values = [orjson.dumps({"type": "story.created", "n": n, "headline": "Ново"}) for n in (1, 2)]
    create_topic(kafka_bootstrap, names.events, 2)
    produce(kafka_bootstrap, names.events, values, partitions=2)
    out = tmp_path / "out"
    env = {**os.environ, **names.env(), "KAFKA_BOOTSTRAP": kafka_bootstrap}
    with out.open("wb") as stdout:
        follow = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "follow", "--json", "--from-beginning"],
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
    try:
        wait_until(
            lambda: len(out.read_bytes().splitlines()) >= len(values), 60, "both events printed"
        )
        follow.send_signal(signal.SIGINT)
        assert follow.wait(30) == 0
    finally:
        _reap(follow)
    assert sorted(out.read_bytes().splitlines()) == sorted(values)


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Kill a process a failed test left running, and wait for it."""
    if process.poll() is None:
        process.kill()
        process.wait(30)


def test_follow_says_when_the_broker_stops_answering_and_when_it_answers_again(
    names: Names, tmp_path: Path
) -> None:
    """The consumer waits through an outage without a word, as on a quiet topic: follow asks
    the broker after a quiet spell (here 1 s) and says on stderr that it does not answer, and
    again once it does; events go on printing after it."""
    from tests.support.broker import own_broker

    script = (
        "import sys, workers.follow as f; f.QUIET_CHECK_S = 1.0; f.ANSWER_WAIT_S = 2.0; "
        "from workers.cli import main; sys.exit(main(['follow', '--json', '--from-beginning']))"
    )
    err = tmp_path / "err"
    out = tmp_path / "out"
    with own_broker() as broker:
        bootstrap = broker.start()
        create_topic(bootstrap, names.events, 1)
        env = {**os.environ, **names.env(), "KAFKA_BOOTSTRAP": bootstrap}
        with err.open("wb") as stderr, out.open("wb") as stdout:
            follow = subprocess.Popen(
                [sys.executable, "-c", script], env=env, stdout=stdout, stderr=stderr
            )
        try:
            produce(bootstrap, names.events, [b'{"n": 0}'], partitions=1)
            wait_until(lambda: out.read_bytes() == b'{"n": 0}\n', 60, "the first event")
            broker.stop(keep_data=True)
            lost = f"follow: Kafka at {bootstrap} has not answered for 2 s; following on"
            wait_until(lambda: lost in err.read_text(), 60, "the line on the outage")
            assert follow.poll() is None
            broker.start()
            back = f"follow: Kafka at {bootstrap} answers again"
            wait_until(lambda: back in err.read_text(), 120, "the line on the answer")
            produce(bootstrap, names.events, [b'{"n": 1}'], partitions=1)
            wait_until(lambda: out.read_bytes().endswith(b'{"n": 1}\n'), 60, "the next event")
            follow.send_signal(signal.SIGINT)
            assert follow.wait(30) == 0
        finally:
            _reap(follow)
    assert err.read_text().splitlines() == [f"{lost} (Ctrl-C ends)", back]


def test_a_file_over_the_record_limit_is_named_as_refused_before_any_broker(
    kafka_bootstrap: str,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from workers.stream.topics import MAX_MESSAGE_BYTES

    create_topic(kafka_bootstrap, names.raw, 1)
    _use(kafka_bootstrap, names, monkeypatch)
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"x" * (MAX_MESSAGE_BYTES + 1))  # MAX_MESSAGE_BYTES - 80 is refused too
    assert main(["produce", str(huge)]) == 5
    assert capsys.readouterr().err.splitlines() == [
        f"produce: {huge} was not sent: {MAX_MESSAGE_BYTES + 1} bytes, over the "
        f"{MAX_MESSAGE_BYTES} a record of the worker's topics may have with its key and headers",
        f"produce: 0 items sent to {names.raw} at {kafka_bootstrap}; 1 not taken",
    ]
