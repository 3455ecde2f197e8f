"""workers.core.ninjs and workers.core.events: the canonical item and its event envelope."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.fixtures import SEED_STORY
from tests.support.schemas import SchemaViolationError, validate_dlq, validate_event
from workers.core import keys
from workers.core.events import SCHEMA_VERSION, Source, _record, event_id, to_event
from workers.core.formats.bta import SOFIA
from workers.core.merge import Merged, VersionRecord, merge
from workers.core.model import Photo, RelatedItem, WireItem
from workers.core.ninjs import NINJS_STANDARD, _word_count, story_uri, to_ninjs
from workers.core.pipeline import dlq_record
from workers.core.rejects import Reject, RejectReason

from .items import seed_original, seed_updated, wire_item

URI = "urn:wire-ingest:story:" + SEED_STORY
SOURCE = Source(raw_sha256="ab" * 32, topic="wire.raw", partition=3, offset=42, timestamp_ms=1)
UUID8 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def merged_seed_pair(first: WireItem, second: WireItem) -> tuple[Merged, Merged]:
    one = merge(None, first)
    return one, merge(one.bucket, second)


def event_of(merged: Merged, source: Source = SOURCE) -> dict[str, Any]:
    event = to_event(merged, source)
    assert event is not None
    return event


def final_seed_item() -> dict[str, Any]:
    _, second = merged_seed_pair(seed_original(), seed_updated())
    return to_ninjs(second.story)


def test_final_seed_item_has_every_field_the_product_needs() -> None:
    item = final_seed_item()
    updated = seed_updated()
    assert item["uri"] == URI == story_uri(SEED_STORY)
    assert item["standard"] == NINJS_STANDARD
    assert item["version"] == "2"
    assert item["type"] == "text"
    assert item["language"] == "bg"
    assert item["pubStatus"] == "usable"
    assert item["firstCreated"] == "2025-08-12T20:57:00+03:00"
    assert item["versionCreated"] == "2025-08-13T01:35:00+03:00"
    assert item["headlines"] == [{"role": "main", "value": updated.headline}]
    assert item["by"] == "Пламен Йотински, Иво Тасев"
    assert item["people"] == [
        {"name": "Пламен Йотински", "rel": "author"},
        {"name": "Иво Тасев", "rel": "author"},
        {"literal": "ИТ", "rel": "editor"},
    ]
    assert item["located"] == "Москва/Пхенян"
    assert item["places"] == [
        {"name": "Москва", "rel": "dateline"},
        {"name": "Пхенян", "rel": "dateline"},
    ]
    body = "\n\n".join(updated.paragraphs)
    assert item["bodies"] == [
        {
            "role": "main",
            "contentType": "text/plain",
            "value": body,
            "charCount": len(body),
            "wordCount": len(body.split()),
        }
    ]
    assert body.count("\n\n") == 7
    assert "\n\n\n" not in body
    assert item["infoSources"] == [{"name": "БТА", "role": "originfo"}]
    photo, *related = item["associations"]
    assert photo == {
        "name": "photo",
        "rel": "photo",
        "uri": URI + ":photo",
        "type": "picture",
        "descriptions": [
            {"role": "caption", "value": updated.photo.caption if updated.photo else ""}
        ],
        "by": '"Спутник" чрез АП/Kristina Kormilitsyna',
        "copyrightHolder": '"Спутник" чрез АП/Kristina Kormilitsyna',
    }
    assert [a["name"] for a in related] == ["related-1", "related-2", "related-3", "related-4"]
    assert {a["rel"] for a in related} == {"related"}
    assert {a["type"] for a in related} == {"text"}
    assert [a["firstCreated"] for a in related] == [
        "2025-08-12T21:33:00+03:00",
        "2025-07-13T09:50:00+03:00",
        "2025-06-30T17:37:00+03:00",
        "2025-06-29T00:50:00+03:00",
    ]
    assert [a["headlines"] for a in related] == [
        [{"role": "main", "value": r.headline}] for r in updated.related
    ]
    assert related[0]["descriptions"] == [{"role": "lead", "value": updated.related[0].lead}]
    assert all(re.fullmatch(re.escape(URI) + r":related:[0-9a-f]{12}", a["uri"]) for a in related)
    assert len({a["uri"] for a in related}) == 4
    assert set(item) == {
        "uri",
        "standard",
        "version",
        "type",
        "language",
        "pubStatus",
        "firstCreated",
        "versionCreated",
        "headlines",
        "by",
        "people",
        "located",
        "places",
        "bodies",
        "infoSources",
        "associations",
    }


def test_final_item_is_the_same_in_both_arrival_orders() -> None:
    _, forward = merged_seed_pair(seed_original(), seed_updated())
    _, backward = merged_seed_pair(seed_updated(), seed_original())
    assert to_ninjs(backward.story) == to_ninjs(forward.story) == final_seed_item()
    assert event_of(backward)["item"] == event_of(forward)["item"]


def test_first_created_is_the_earliest_time_any_version_tells() -> None:
    original = seed_original()
    late = dataclasses.replace(
        original, first_created=datetime(2025, 8, 12, 21, 5, tzinfo=SOFIA), headline="Друго"
    )
    story = merge(merge(None, late).bucket, original).bucket.views()
    assert [to_ninjs(s)["firstCreated"] for s in story] == ["2025-08-12T20:57:00+03:00"]


def test_minimal_item_omits_what_is_not_known() -> None:
    item = wire_item(("Единствен абзац.",), places=())
    item = dataclasses.replace(item, agency=None)
    ninjs = to_ninjs(merge(None, item).story)
    assert "by" not in ninjs
    assert "people" not in ninjs
    assert "located" not in ninjs
    assert "places" not in ninjs
    assert "associations" not in ninjs
    assert ninjs["infoSources"] == [{"name": "БТА", "role": "originfo"}]  # the default agency
    assert ninjs["bodies"][0]["value"] == "Единствен абзац."
    assert ninjs["uri"] == "urn:wire-ingest:story:bta-20250812T1757Z-000000"


def test_photo_credit_only_and_related_without_lead() -> None:
    item = dataclasses.replace(
        wire_item(("Абзац.",)),
        photo=Photo("", "БТА/Архив"),
        related=(RelatedItem(datetime(2025, 8, 1, 10, 0, tzinfo=SOFIA), "Свързано", ""),),
    )
    photo, related = to_ninjs(merge(None, item).story)["associations"]
    assert "descriptions" not in photo
    assert photo["by"] == "БТА/Архив"
    assert "descriptions" not in related
    assert related["firstCreated"] == "2025-08-01T10:00:00+03:00"


def test_created_event_envelope() -> None:
    first, _ = merged_seed_pair(seed_original(), seed_updated())
    event = event_of(first)
    original = seed_original()
    assert event["schemaVersion"] == SCHEMA_VERSION == "1.2"
    assert event["historyOmitted"] == 0
    assert event["eventType"] == "story.created"
    assert event["storyKey"] == SEED_STORY
    assert event["version"] == 1
    assert event["changes"] is None
    assert event["trigger"] == {
        "contentHash": keys.content_hash(original),
        "versionCreated": "2025-08-12T20:57:00+03:00",
        "headline": original.headline,
        "isUpdate": False,
    }
    assert event["history"] == [event["trigger"]]
    assert event["source"] == {
        "rawSha256": "ab" * 32,
        "topic": "wire.raw",
        "partition": 3,
        "offset": 42,
        "timestampMs": 1,
    }
    assert event["item"]["version"] == "1"
    assert event["eventId"] == event_id(SEED_STORY, 1, keys.content_hash(original), "story.created")
    validate_event(event)


def test_updated_event_changes_and_history() -> None:
    _, second = merged_seed_pair(seed_original(), seed_updated())
    event = event_of(second)
    original, updated = seed_original(), seed_updated()
    assert event["eventType"] == "story.updated"
    assert event["version"] == 2
    assert event["changes"] == {
        "headline": {"from": original.headline, "to": updated.headline},
        "paragraphsAdded": [
            "p66e415b9f788",
            "p5449969613d3",
            "p201a254b6c0d",
            "p2ac57982e378",
            "pa1d79dbb8475",
        ],
        "paragraphsRemoved": [keys.paragraph_id(original.paragraphs[0])],
        "fieldsChanged": [
            "headline",
            "authors",
            "places",
            "paragraphs",
            "related",
            "versionCreated",
            "history",
        ],
    }
    assert [h["contentHash"] for h in event["history"]] == [
        keys.content_hash(original),
        keys.content_hash(updated),
    ]
    validate_event(event)


def test_backfilled_event_keeps_the_newest_content() -> None:
    _, second = merged_seed_pair(seed_updated(), seed_original())
    event = event_of(second)
    assert event["eventType"] == "story.backfilled"
    assert event["version"] == 2
    assert event["trigger"]["contentHash"] == keys.content_hash(seed_original())
    assert event["changes"] == {
        "headline": None,
        "paragraphsAdded": [],
        "paragraphsRemoved": [],
        "fieldsChanged": ["history"],
    }
    assert event["item"]["headlines"][0]["value"] == seed_updated().headline
    validate_event(event)


def test_duplicate_has_no_event() -> None:
    _, second = merged_seed_pair(seed_original(), seed_updated())
    duplicate = merge(second.bucket, seed_updated())
    assert to_event(duplicate, SOURCE) is None


def test_event_id_is_a_deterministic_version_8_uuid() -> None:
    value = event_id(SEED_STORY, 2, "00" * 32, "story.updated")
    assert value == event_id(SEED_STORY, 2, "00" * 32, "story.updated")
    assert UUID8.match(value)
    assert uuid.UUID(value).version == 8
    others = {
        event_id(SEED_STORY, 3, "00" * 32, "story.updated"),
        event_id(SEED_STORY, 2, "01" * 32, "story.updated"),
        event_id(SEED_STORY, 2, "00" * 32, "story.backfilled"),
        event_id(SEED_STORY + "-x", 2, "00" * 32, "story.updated"),
    }
    assert value not in others
    assert len(others) == 4


def test_event_id_is_the_uuid_of_the_digest() -> None:
    """event_id formats the UUID itself; it must print what uuid.UUID prints."""
    for args in (("a", 1, "00" * 32, "story.created"), (SEED_STORY, 7, "ff" * 32, "x")):
        digest = bytearray(
            hashlib.blake2b("|".join(map(str, args)).encode(), digest_size=16).digest()
        )
        digest[6] = (digest[6] & 0x0F) | 0x80
        digest[8] = (digest[8] & 0x3F) | 0x80
        assert event_id(*args) == str(uuid.UUID(bytes=bytes(digest)))


def test_word_count_is_the_split_count() -> None:
    for text in ("", " ", "дума", "две думи", " водещ", "краен ", "две  празни", "a\xa0b"):
        assert _word_count(text) == len(text.split()), text
    for text in ("a\tb", "a\u2028b", "a\u3000b", "a\x1cb", "a b\u00adc"):
        assert _word_count(text) == len(text.split()), text


def test_printable_text_has_no_whitespace_but_the_space() -> None:
    """What the word count's shortcut relies on, over every code point of this Python."""
    odd = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() and c.isprintable()]
    assert odd == [" "]


def test_history_entries_are_the_version_records() -> None:
    """events._record mirrors VersionRecord.to_dict (with the isoformat cache)."""
    _, second = merged_seed_pair(seed_original(), seed_updated())
    event = event_of(second)
    assert event["history"] == [v.to_dict() for v in second.story.versions]
    assert event["trigger"] == second.record.to_dict()
    record = VersionRecord(
        "ab" * 32, datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "Заглавие", True
    )
    assert _record(record) == record.to_dict()


def test_event_does_not_depend_on_where_the_input_came_from_except_source() -> None:
    first, _ = merged_seed_pair(seed_original(), seed_updated())
    a = event_of(first, SOURCE)
    b = event_of(first, Source(raw_sha256="cd" * 32, file="x.txt"))
    assert a["source"] != b["source"]
    assert {k: v for k, v in a.items() if k != "source"} == {
        k: v for k, v in b.items() if k != "source"
    }
    validate_event(b)


# --- the schema checks themselves: they must be able to fail ------------------------------


def broken(mutate: Any) -> dict[str, Any]:
    first, _ = merged_seed_pair(seed_original(), seed_updated())
    event = copy.deepcopy(event_of(first))
    mutate(event)
    return event


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e["item"].pop("uri"),
        lambda e: e["item"].update(uri="not a uri"),
        lambda e: e["item"].update(firstCreated="2025-08-12 20:57"),
        lambda e: e["item"].update(versionCreated="2025-08-12T20:57:00+01:33:16"),
        lambda e: e["item"].update(type="story"),
        lambda e: e["item"].update(unknownField=1),
        lambda e: e["item"]["associations"][0].update(uri="urn:x y"),
        lambda e: e.update(version=0),
        lambda e: e.update(eventId=str(uuid.uuid4())),
        lambda e: e.update(storyKey="BTA-2025"),
        lambda e: e["trigger"].update(versionCreated="yesterday"),
        lambda e: e.update(changes={"headline": None}),
        lambda e: e.update(extra=True),
        lambda e: e["source"].update(partition=-1),
    ],
)
def test_event_schema_rejects_broken_events(mutate: Any) -> None:
    with pytest.raises(SchemaViolationError):
        validate_event(broken(mutate))


def test_dlq_record_shape_and_schema() -> None:
    raw = b"\x00\x01junk"
    source = Source(raw_sha256=keys.raw_sha256(raw), topic="wire.raw", partition=0, offset=7)
    record = dlq_record(Reject(RejectReason.NOT_TEXT, "contains NUL bytes"), raw, source, "1.2.3")
    assert record == {
        "reason": "not_text",
        "detail": "contains NUL bytes",
        "rawSha256": keys.raw_sha256(raw),
        "rawSize": 6,
        "rawBase64": "AAFqdW5r",
        "source": {
            "rawSha256": keys.raw_sha256(raw),
            "topic": "wire.raw",
            "partition": 0,
            "offset": 7,
        },
        "workerVersion": "1.2.3",
    }
    validate_dlq(record)
    for bad in (
        {**record, "reason": "whatever"},
        {**record, "rawSize": 7},
        {**record, "rawBase64": "AAFqdW5"},
        {**record, "rawSha256": "00" * 32},
        {k: v for k, v in record.items() if k != "workerVersion"},
    ):
        with pytest.raises(SchemaViolationError):
            validate_dlq(bad)
