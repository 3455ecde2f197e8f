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


def test_what_a_terminal_would_act_on_is_shown_escaped() -> None:
    """Any topic may hold any bytes: an escape sequence, a bell or a bidirectional override
    would recolour, retitle or reorder the on-call person's terminal."""
    raw = "червен\x1b[31m код\x1b]0;title\x07 \x00\x9b\u202eкод\u2069".encode()
    assert describe_record(raw) == (
        f"record            {len(raw)} bytes | "
        "червен\\x1b[31m код\\x1b]0;title\\x07 \\x00\\x9b\\u202eкод\\u2069"
    )
    record = dlq_record(Reject(RejectReason.NOT_TEXT, "\x1b[2J"), b"x", Source("0" * 64), "1")
    assert describe_record(orjson.dumps(record)).endswith("| \\x1b[2J")
    event = {"eventType": "story.created", "storyKey": "k\x1b", "version": 1}
    event["item"] = {"headlines": [{"value": "\x1b[5mМига"}]}
    assert describe_record(orjson.dumps(event)) == "story.created     k\\x1b v1 | \\x1b[5mМига"


def test_a_long_headline_or_line_is_cut_with_an_ellipsis() -> None:
    headline = "Дума " * 30
    event = {"eventType": "story.updated", "storyKey": "k", "version": 2}
    event["item"] = {"headlines": [{"value": headline}]}
    line = describe_record(orjson.dumps(event))
    assert line == f"story.updated     k v2 | {headline[:89]}…"
    assert describe_record(b"x" * 200).endswith("| " + "x" * 89 + "…")
