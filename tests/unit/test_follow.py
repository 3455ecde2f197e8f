"""workers.follow: one readable line for any record of any topic ``--topic`` may name."""

from __future__ import annotations

import orjson

from tests.support.fixtures import SEED_ORIGINAL
from workers.core.events import Source
from workers.core.pipeline import apply, dlq_record, dumps, parse_raw
from workers.core.rejects import Reject, RejectReason
from workers.follow import describe_record


def test_an_event_names_its_type_key_version_and_headline() -> None:
    item = parse_raw(SEED_ORIGINAL.read_bytes())
    assert not isinstance(item, Reject)
    event = apply(None, item, Source("0" * 64)).events[0]
    line = describe_record(dumps(event))
    assert line.startswith(f"story.created     {event['storyKey']} v1 | ")
    assert item.headline[:40] in line


def test_a_dead_letter_names_its_reason() -> None:
    record = dlq_record(
        Reject(RejectReason.NO_TIMESTAMP, "no publication line"), b"junk", Source("0" * 64), "1"
    )
    assert (
        describe_record(orjson.dumps(record))
        == "dead letter       no_timestamp | no publication line"
    )


def test_a_raw_item_or_other_bytes_give_their_size_and_first_line() -> None:
    raw = SEED_ORIGINAL.read_bytes()
    first = raw.decode().strip().split("\n", 1)[0]
    assert describe_record(raw) == f"record            {len(raw)} bytes | {first[:90]}"
    assert describe_record(b"\xff\xfe[1, 2]") == "record            8 bytes | \ufffd\ufffd[1, 2]"
    assert describe_record(b"[1, 2]").startswith("record ")
