"""The repartition record: every parsed item arrives as it was parsed, with its wire bytes."""

from __future__ import annotations

from pathlib import Path

import msgspec
import orjson
import pytest
from hypothesis import given, settings

from tests.unit.core.strategies import Fields, story_versions
from workers.core.events import Source
from workers.core.formats import parse_input
from workers.core.model import WireItem
from workers.core.rejects import Reject
from workers.stream.records import (
    Forwarded,
    RecordError,
    decode_forwarded,
    decode_wire_input,
    encode_forwarded,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SOURCE = Source("ab" * 32, topic="wire.raw", partition=1, offset=40, timestamp_ms=1_723_485_420_000)


def test_every_fixture_item_arrives_equal_with_its_bytes_and_headers() -> None:
    count = 0
    for path in sorted(FIXTURES.rglob("*")):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        parsed = parse_input(raw)
        if not isinstance(parsed, Reject):
            for item in parsed:
                sent = Forwarded(item, SOURCE, raw, {"wire-format": "x"})
                record = encode_forwarded(sent)
                assert decode_forwarded(record) == sent
                assert decode_wire_input(record) == (raw, SOURCE, {"wire-format": "x"})
                # bytes, not a view of the record: it outlives the message it came in
                assert type(decode_forwarded(record).raw) is bytes
                assert type(decode_wire_input(record)[0]) is bytes
                count += 1
    assert count > 30


@settings(max_examples=30, deadline=None)
@given(story_versions())
def test_drawn_items_arrive_as_they_were_sent(versions: tuple[Fields, ...]) -> None:
    """Compared by what they encode to: a time of a DST fold, in Sofia's zone before and a
    fixed offset after, is the same instant but never ``==`` (Python's rule for such times)."""
    for version in versions:
        record = encode_forwarded(Forwarded(version.item, SOURCE, "Заглавие".encode(), {}))
        arrived = decode_forwarded(record)
        assert encode_forwarded(arrived) == record
        assert arrived.item.to_dict() == version.item.to_dict()


def test_the_wire_bytes_travel_as_they_are_after_the_item() -> None:
    raw = "Заглавие".encode() * 100
    record = encode_forwarded(Forwarded(_seed_item(), SOURCE, raw, {}))
    assert record[:1] == b"\x01"
    assert record.endswith(raw)
    assert int.from_bytes(record[1:5], "big") == len(record) - 5 - len(raw)


def test_records_of_the_releases_before_are_still_read() -> None:
    item = _seed_item()
    array = msgspec.json.encode((item, SOURCE, "Заглавие".encode(), {"a": "b"}))
    assert decode_forwarded(array) == Forwarded(item, SOURCE, "Заглавие".encode(), {"a": "b"})
    assert decode_wire_input(array) == ("Заглавие".encode(), SOURCE, {"a": "b"})
    old = orjson.dumps(
        {"item": item.to_dict(), "source": SOURCE.to_dict(), "raw": "0JfQsNCz0LvQsNCy0LjQtQ=="}
    )
    assert decode_forwarded(old) == Forwarded(item, SOURCE, "Заглавие".encode(), {})


def test_the_wire_bytes_are_read_even_when_the_item_is_not() -> None:
    array = msgspec.json.encode((_seed_item(), SOURCE, {"a": "b"}))
    array = array.replace(b'"provider":', b'"provider":17,"x":', 1)
    broken = b"\x01" + len(array).to_bytes(4, "big") + array + b"wire bytes"
    with pytest.raises(RecordError):
        decode_forwarded(broken)
    assert decode_wire_input(broken) == (b"wire bytes", SOURCE, {"a": "b"})


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[1,2]", b'{"item":{}}', b"", b"[]", b"\x01", b"\x01\x00\x00\x00\x09[]"],
)
def test_junk_is_a_record_error(value: bytes) -> None:
    with pytest.raises(RecordError):
        decode_forwarded(value)
    with pytest.raises(RecordError):
        decode_wire_input(value)


_DEEP = b"[" * 100_000 + b"]" * 100_000


def _new_layout(array: bytes) -> bytes:
    return b"\x01" + len(array).to_bytes(4, "big") + array + b"wire bytes"


@pytest.mark.parametrize(
    "value",
    [
        _new_layout(b"[" + _DEEP + b"," + msgspec.json.encode(SOURCE) + b",{}]"),
        b"[" + _DEEP + b"," + msgspec.json.encode(SOURCE) + b',"",{}]',
        b'{"item":' + _DEEP + b"}",
    ],
    ids=["this-layout", "array-layout", "object-layout"],
)
def test_json_nested_too_deep_is_a_record_error(value: bytes) -> None:
    """msgspec raises RecursionError there; the agents dead-letter only RecordError."""
    with pytest.raises(RecordError):
        decode_forwarded(value)
    with pytest.raises(RecordError):
        decode_wire_input(value)


def _seed_item() -> WireItem:
    parsed = parse_input((FIXTURES.parents[1] / "seeds" / "000_original.txt").read_bytes())
    assert isinstance(parsed, tuple)
    return parsed[0]
