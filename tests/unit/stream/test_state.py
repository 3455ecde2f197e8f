"""The table value's codec (format 4), and that the values of format 3 stay readable."""

from __future__ import annotations

from datetime import UTC, datetime
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
        applied = apply(buckets.get(key), item, Source("0" * 64, "t", 0, offset))
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


def test_every_fixture_bucket_round_trips_with_its_outbox_byte_for_byte() -> None:
    states = _states(_fixture_items())
    assert len(states) > 30
    formats = {v.item.wire_format for s in states for v in s.bucket.versions}
    assert {None, "newsml-g2", "ninjs", "iptc7901", "anpa1312"} <= formats
    for state in states:
        value = encode_state(state)
        assert value.startswith(f"[{STATE_FORMAT},".encode())
        assert decode_state(value) == state
        assert decode_state(_format_3(state)) == state  # an upgrade keeps the state
        for entry in state.outbox:
            for _story, data in entry.events:  # an input that regroups has several
                assert data in value  # embedded as sent


def test_the_buckets_the_format_3_release_stored_are_read_and_go_on_as_format_4() -> None:
    """README, "Upgrades": this release reads what the release before wrote (its own bytes,
    tests/fixtures/state/README.md), loses nothing of it, writes it back as format 4, and
    merges the story's next version into it."""
    lines = (FIXTURES / "state" / "format-3.jsonl").read_bytes().splitlines()
    assert len(lines) == 6
    stored: dict[str, BucketState] = {}
    for line in lines:
        state = decode_state(line)
        assert state is not None
        assert _format_3(state) == line  # nothing of the bucket or its outbox lost
        rewritten = encode_state(state)
        assert rewritten.startswith(f"[{STATE_FORMAT},".encode())
        assert decode_state(rewritten) == state
        stored[route_key(state.bucket.versions[0].item)] = state
    received = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # as when they were stored
    raw = (FIXTURES / "formats" / "anpa1312" / "03-2ndld-writethru.txt").read_bytes()
    (update,) = parse_input(raw, received_at=received)
    before = stored[route_key(update)]
    (story,) = before.bucket.views()
    applied = apply(before.bucket, update, Source("0" * 64, "wire.raw", 0, 12))
    assert applied.outcome.value == "updated"
    assert [event["storyKey"] for event in applied.events] == [story.key]


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
        (b"[5,[],[],[],[]]", "state format 5"),
        (b'[5,"another layout"]', "state format 5"),
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
