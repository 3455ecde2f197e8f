"""workers.core.pipeline: parse_raw never raises; apply merges and builds the event."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.fixtures import SEED_ORIGINAL, SEED_STORY, SEED_UPDATED
from tests.support.schemas import dlq_raw_bytes, validate_dlq, validate_event
from workers.core import keys, pipeline
from workers.core.events import Source, to_event
from workers.core.merge import Outcome, merge
from workers.core.model import WireItem
from workers.core.pipeline import DLQ_MAX_RAW_BYTES, apply, dlq_record, dumps, parse_raw, route_key
from workers.core.rejects import Reject, RejectReason

from .items import parsed_bytes, rejected_bytes, seed_original, seed_updated, source_of


def test_parse_raw_returns_items_and_rejects() -> None:
    assert parse_raw(SEED_UPDATED.read_bytes()) == seed_updated()
    assert rejected_bytes(b"").reason is RejectReason.EMPTY
    too_large = parse_raw(b"x" * 11, max_bytes=10)
    assert isinstance(too_large, Reject)
    assert too_large.reason is RejectReason.TOO_LARGE
    assert isinstance(parse_raw(SEED_UPDATED.read_bytes(), max_bytes=10), Reject)


def test_parse_raw_turns_a_parser_crash_into_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*_: object, **__: object) -> WireItem:
        raise KeyError("bug")

    monkeypatch.setattr(pipeline.formats, "parse_input", boom)
    with caplog.at_level(logging.ERROR, logger="workers.core.pipeline"):
        result = parse_raw(SEED_UPDATED.read_bytes())
    assert result == Reject(RejectReason.INTERNAL_ERROR, "parser error: KeyError")
    assert "parser failed" in caplog.text


def test_route_key_is_the_bucket_key_shared_by_all_versions() -> None:
    assert route_key(seed_updated()) == route_key(seed_original()) == "bta:20250812T1757Z"


def test_apply_is_merge_plus_event() -> None:
    raw = SEED_ORIGINAL.read_bytes()
    source = source_of(raw, "a.txt")
    applied = apply(None, seed_original(), source)
    merged = merge(None, seed_original())
    assert applied.bucket == merged.bucket
    assert applied.outcome is Outcome.CREATED
    assert applied.story_key == SEED_STORY
    assert applied.events == (to_event(merged, source),)
    assert applied.state_changed
    again = apply(applied.bucket, seed_original(), source)
    assert (again.outcome, again.events, again.bucket) == (Outcome.DUPLICATE, (), applied.bucket)
    assert not again.state_changed
    assert again.story_key == SEED_STORY


def test_dumps_is_compact_utf8_json() -> None:
    (event,) = apply(None, seed_updated(), source_of(b"x")).events
    data = dumps(event)
    assert json.loads(data) == event
    assert b": " not in data
    assert "Пхенян".encode() in data  # not \u-escaped
    validate_event(json.loads(data))


def test_dlq_record_keeps_the_original_bytes() -> None:
    raw = b"\xef\xbb\xbf  \r\n"
    reject = parse_raw(raw)
    assert isinstance(reject, Reject)
    record = dlq_record(reject, raw, source_of(raw, "blank.txt"), "0.1.0")
    validate_dlq(record)
    assert record["reason"] == "empty"
    assert record["rawSize"] == len(raw)
    assert record["rawSha256"] == keys.raw_sha256(raw)
    assert record["source"] == {"rawSha256": keys.raw_sha256(raw), "file": "blank.txt"}


def test_cp1251_and_utf8_copies_are_the_same_version() -> None:
    text = SEED_UPDATED.read_text(encoding="utf-8")
    a = parsed_bytes(text.encode("utf-8"))
    b = parsed_bytes(text.replace("\n", "\r\n").encode("cp1251"))
    assert a == b
    assert keys.content_hash(a) == keys.content_hash(b)


def test_dlq_record_of_a_giant_value_keeps_its_head_and_says_so() -> None:
    raw = b"x" * (DLQ_MAX_RAW_BYTES + 10)
    source = Source(keys.raw_sha256(raw), topic="wire.raw", partition=0, offset=7)
    record = dlq_record(Reject(RejectReason.TOO_LARGE, "big"), raw, source, "1")
    validate_dlq(record)
    assert record["rawTruncated"] is True
    assert record["rawSize"] == len(raw)
    assert len(dlq_raw_bytes(record)) == DLQ_MAX_RAW_BYTES
    small = dlq_record(Reject(RejectReason.EMPTY, "e"), b"", Source(keys.raw_sha256(b"")), "1")
    assert "rawTruncated" not in small
