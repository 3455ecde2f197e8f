"""The table value's codec (format 5), and that the values of formats 3 and 4 stay readable."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings

from tests.unit.core.strategies import Fields, story_versions
from workers.core.events import Source
from workers.core.formats import parse_input
from workers.core.merge import Bucket
from workers.core.pipeline import apply, dumps, route_key
from workers.core.rejects import Reject
from workers.stream.state import (
    STATE_FORMAT,
    BucketState,
    Pending,
    StateFormatError,
    decode_state,
    encode_state,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _states(items: list[Any]) -> list[BucketState]:
    """Each arrival's state: its bucket, with its events in the outbox as the worker stores."""
    buckets: dict[str, Bucket] = {}
    states = []
    for offset, item in enumerate(items):
        key = route_key(item)
        # Kafka timestamps of their own, some shared: versions keep their send times.
        source = Source("0" * 64, "t", 0, offset, timestamp_ms=1_700_000_000_000 + offset // 2)
        applied = apply(buckets.get(key), item, source)
        buckets[key] = applied.bucket
        sent = tuple((event["storyKey"], dumps(event)) for event in applied.events)
        states.append(BucketState(applied.bucket, (Pending(1, offset, sent),) if sent else ()))
    return states


def _fixture_items() -> list[Any]:
    found = []
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file():
            parsed = parse_input(path.read_bytes())
            if not isinstance(parsed, Reject):
                found.extend(parsed)
    return found


def _format_3(state: BucketState) -> bytes:
    """The value as the release before wrote it."""
    return orjson.dumps(
        {
            "format": 3,
            "bucket": state.bucket.to_dict(),
            "outbox": [
                {
                    "partition": e.partition,
                    "offset": e.offset,
                    "events": [[story, data.decode()] for story, data in e.events],
                }
                for e in state.outbox
            ],
        }
    )


def _without_send_times(state: BucketState) -> BucketState:
    bucket = state.bucket
    versions = tuple(dataclasses.replace(v, sent_ms=None) for v in bucket.versions)
    return BucketState(dataclasses.replace(bucket, versions=versions), state.outbox)


def _format_4(state: BucketState) -> bytes:
    """The value as the release before wrote it: versions without their send times."""
    value = orjson.loads(encode_state(state))
    assert value[0] == STATE_FORMAT
    return orjson.dumps([4, [row[:3] for row in value[1]], *value[2:]])


def test_every_fixture_bucket_round_trips_with_its_outbox_byte_for_byte() -> None:
    states = _states(_fixture_items())
    assert len(states) > 30
    formats = {v.item.wire_format for s in states for v in s.bucket.versions}
    assert {None, "newsml-g2", "ninjs", "iptc7901", "anpa1312"} <= formats
    assert all(v.sent_ms for s in states for v in s.bucket.versions)
    for state in states:
        value = encode_state(state)
        assert value.startswith(f"[{STATE_FORMAT},".encode())
        assert decode_state(value) == state
        without_send_times = _without_send_times(state)
        assert decode_state(_format_3(without_send_times)) == without_send_times  # an upgrade
        assert decode_state(_format_4(state)) == without_send_times  # keeps the state
        for entry in state.outbox:
            for _story, data in entry.events:  # an input that regroups has several
                assert data in value  # embedded as sent


@settings(max_examples=30, deadline=None)
@given(story_versions())
def test_drawn_stories_round_trip(versions: tuple[Fields, ...]) -> None:
    """Compared by what they encode to (a time of a DST fold is never ``==`` across zones)."""
    for state in _states([v.item for v in versions]):
        value = encode_state(state)
        restored = decode_state(value)
        assert restored is not None
        assert encode_state(restored) == value
        assert restored.bucket.to_dict() == state.bucket.to_dict()


def test_a_restored_bucket_merges_as_the_one_it_was_stored_from() -> None:
    items = _fixture_items()
    buckets: dict[str, Bucket] = {}
    for offset, item in enumerate(items):
        key = route_key(item)
        stored = buckets.get(key)
        restored = decode_state(encode_state(BucketState(stored))) if stored else None
        source = Source("0" * 64, "t", 0, offset)
        direct = apply(stored, item, source)
        again = apply(restored.bucket if restored else None, item, source)
        assert [dumps(e) for e in again.events] == [dumps(e) for e in direct.events]
        buckets[key] = direct.bucket


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"[6,[],[],[],[]]", "state format 6"),
        (b'[6,"another layout"]', "state format 6"),
        (b'[5,"another layout"]', "format 5 is unreadable"),
        (b'{"format":2,"bucket":{}}', "state format 2"),
        (b'{"bucket":{"stories":[]},"outbox":[]}', "state format 1"),
        (b"[4,[],[]]", "format 4 is unreadable"),
        (b"[4,[],[],[],[]", "not valid JSON"),
        (b"{not json", "not valid JSON"),
    ],
)
def test_a_value_this_release_cannot_read_is_refused_not_guessed(
    value: bytes, message: str
) -> None:
    with pytest.raises(StateFormatError, match=message):
        decode_state(value)
