"""The fixture scenarios through ``workers.replay.Replayer``, with exact expectations."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import fixtures as fx
from tests.support.schemas import dlq_raw_bytes, validate_dlq, validate_event
from workers.core import keys
from workers.core.events import Source
from workers.core.model import Envelope, WireItem
from workers.core.pipeline import parse_raw
from workers.replay import Replayer

from .core.items import final_items, replay


def run(paths: list[Path]) -> tuple[Replayer, list[tuple[str, str, dict[str, Any] | None]]]:
    """Replay files in order; per input: (name, outcome, event or DLQ record)."""
    replayer = Replayer(retention=fx.CORPUS_RETENTION)
    log: list[tuple[str, str, dict[str, Any] | None]] = []
    for path in paths:
        before = Counter(replayer.result.counts)
        fed = replayer.feed_file(path)
        grew = [
            k
            for k in ("created", "updated", "backfilled", "duplicate", "rejected")
            if replayer.result.counts[k] > before[k]
        ]
        assert len(grew) == 1, (path.name, grew)
        log.append((path.name, grew[0], fed.events[0] if fed.events else fed.reject))
    return replayer, log


@pytest.fixture(scope="module")
def scenario() -> tuple[Replayer, list[tuple[str, str, dict[str, Any] | None]]]:
    return run(fx.arrival())


def test_fixture_directory_is_what_expected_describes() -> None:
    assert [p.name for p in fx.arrival()] == [e.name for e in fx.EXPECTED]
    assert len(fx.EXPECTED) == 21
    assert len(fx.EXPECTED_EVENTS) == 13
    assert fx.EXPECTED_STORY_COUNT == 9
    assert fx.EXPECTED_DUPLICATES == ("020_seed_redelivery_crlf_whitespace.txt",)
    assert (
        Counter(
            {
                "empty": 2,
                "not_text": 1,
                "no_timestamp": 1,
                "no_body": 1,
                "bad_envelope": 1,
                "bad_timestamp": 1,
            }
        )
        == fx.EXPECTED_REJECT_REASONS
    )


def test_every_input_has_its_expected_outcome(scenario: Any) -> None:
    _, log = scenario
    for (name, outcome, value), expected in zip(log, fx.EXPECTED, strict=True):
        assert (name, outcome) == (expected.name, expected.outcome)
        if expected.event_type is not None:
            assert value is not None
            assert (value["eventType"], value["storyKey"], value["version"]) == (
                expected.event_type,
                expected.story,
                expected.version,
            ), name
            assert value["item"]["headlines"][0]["value"] == expected.headline
            assert value["item"]["version"] == str(expected.version)
        elif expected.reason is not None:
            assert value is not None
            assert value["reason"] == expected.reason, (name, value["detail"])
        else:
            assert value is None


def test_events_and_rejects_in_order_and_schema_valid(scenario: Any) -> None:
    replayer, _ = scenario
    result = replayer.result
    assert [
        (Path(e["source"]["file"]).name, e["eventType"], e["storyKey"], e["version"])
        for e in result.events
    ] == list(fx.EXPECTED_EVENTS)
    assert [(Path(r["source"]["file"]).name, r["reason"]) for r in result.rejects] == list(
        fx.EXPECTED_REJECTS
    )
    for event in result.events:
        validate_event(event)
    for record in result.rejects:
        validate_dlq(record)
        assert dlq_raw_bytes(record) == fx.fixture(Path(record["source"]["file"]).name).read_bytes()
    assert len({e["eventId"] for e in result.events}) == len(result.events)


def test_stories_and_their_final_items(scenario: Any) -> None:
    replayer, _ = scenario
    latest = replayer.result.latest_by_story()
    assert {
        key: (e["version"], e["item"]["headlines"][0]["value"]) for key, e in latest.items()
    } == (fx.EXPECTED_STORIES)
    assert sum(len(b.stories) for b in replayer.buckets.values()) == fx.EXPECTED_STORY_COUNT
    assert replayer.summary() == (
        "replay: 21 inputs, 14 parsed, 7 rejected, 1 duplicate; 9 stories of 13 versions "
        "(3 with updates, 2 twins sharing a minute and place); events: 9 created, 1 updated, "
        "3 backfilled, 0 regrouped, 0 merged"
    )
    # The seed's minute holds three stories: the seed, its Moscow twin, the Washington story.
    assert {s.key for s in replayer.buckets["bta:20250812T1757Z"].views()} == {
        fx.SEED_STORY,
        fx.TWIN_STORY,
        fx.WASHINGTON_STORY,
    }


def test_seed_redelivery_differs_in_bytes_only(scenario: Any) -> None:
    raw = fx.fixture("020_seed_redelivery_crlf_whitespace.txt").read_bytes()
    assert raw != fx.SEED_UPDATED.read_bytes()
    assert b"\r\n\r\n\r\n\r\n" in raw
    assert b" \r\n" in raw
    assert parse_raw(raw) == parse_raw(fx.SEED_UPDATED.read_bytes())


def _seed_text() -> str:
    return fx.SEED_UPDATED.read_text(encoding="utf-8")


DUPLICATE_VARIANTS = {
    "byte-identical": fx.SEED_UPDATED.read_bytes,
    "crlf": lambda: _seed_text().replace("\n", "\r\n").encode(),
    "cr": lambda: _seed_text().replace("\n", "\r").encode(),
    "bom": lambda: b"\xef\xbb\xbf" + fx.SEED_UPDATED.read_bytes(),
    "cp1251": lambda: _seed_text().encode("cp1251"),
    "trailing-blanks-and-nbsp": lambda: _seed_text().replace("\n", " \u00a0\t\n").encode(),
    "doubled-blank-lines": lambda: _seed_text().replace("\n\n", "\n\n\n\n").encode(),
    "leading-blanks": lambda: _seed_text().replace("\n", "\n   ").encode(),
    "json-envelope": lambda: json.dumps({"text": _seed_text(), "source": "bta.bg"}).encode(),
}


@pytest.mark.parametrize("variant", sorted(DUPLICATE_VARIANTS))
def test_redeliveries_of_a_version_emit_nothing(variant: str) -> None:
    raw = DUPLICATE_VARIANTS[variant]()
    replayer = replay([fx.SEED_UPDATED.read_bytes(), raw])
    assert [e["eventType"] for e in replayer.result.events] == ["story.created"]
    assert replayer.result.counts["duplicate"] == 1
    assert replayer.result.counts["rejected"] == 0


def test_twin_and_other_place_in_the_seed_minute() -> None:
    twin = parse_raw(fx.fixture("010_twin_same_minute_moskva.txt").read_bytes())
    other = parse_raw(fx.fixture("011_same_minute_washington.txt").read_bytes())
    seed = parse_raw(fx.SEED_UPDATED.read_bytes())
    assert isinstance(twin, WireItem)
    assert isinstance(other, WireItem)
    assert isinstance(seed, WireItem)
    assert twin.first_created == other.first_created == seed.first_created
    assert twin.places == ("Москва",)
    assert other.places == ("Вашингтон",)
    # The twin first: the seed's update, the only other version of Moscow in that minute, joins
    # it (an update joins the only story of its place); when the seed's original arrives, the
    # update moves to it, and the twin's story gets a `story.regrouped` event.
    replayer = replay(
        [
            fx.fixture("010_twin_same_minute_moskva.txt").read_bytes(),
            fx.SEED_UPDATED.read_bytes(),
            fx.SEED_ORIGINAL.read_bytes(),
        ]
    )
    seed_key = f"{fx.SEED_STORY}-{keys.content_hash(parse_ok(fx.SEED_ORIGINAL))[:8]}"
    assert [(e["eventType"], e["storyKey"], e["version"]) for e in replayer.result.events] == [
        ("story.created", fx.SEED_STORY, 1),
        ("story.updated", fx.SEED_STORY, 2),
        ("story.created", seed_key, 1),
        ("story.regrouped", fx.SEED_STORY, 3),
    ]
    for event in replayer.result.events:
        validate_event(event)
    latest = replayer.result.latest_by_story()
    assert latest[fx.SEED_STORY]["item"]["headlines"][0]["value"] == twin.headline
    assert latest[seed_key]["item"]["headlines"][0]["value"] == fx.SEED_UPDATED_HEADLINE
    assert len(latest[seed_key]["history"]) == 2
    assert latest[fx.SEED_STORY]["item"]["version"] == "1"


def parse_ok(path: Path) -> WireItem:
    item = parse_raw(path.read_bytes())
    assert isinstance(item, WireItem)
    return item


@pytest.mark.parametrize(
    ("order", "second_type"),
    [
        ((fx.SEED_ORIGINAL, fx.SEED_UPDATED), "story.updated"),
        ((fx.SEED_UPDATED, fx.SEED_ORIGINAL), "story.backfilled"),
    ],
    ids=["created-updated", "created-backfilled"],
)
def test_seed_pair_is_one_story_in_either_order(order: tuple[Path, Path], second_type: str) -> None:
    replayer, _ = run(list(order))
    events = replayer.result.events
    assert [e["eventType"] for e in events] == ["story.created", second_type]
    assert [e["version"] for e in events] == [1, 2]
    assert {e["storyKey"] for e in events} == {fx.SEED_STORY}
    assert len(replayer.buckets) == 1
    for event in events:
        validate_event(event)


def test_seed_pair_final_item_is_identical_in_both_orders() -> None:
    a, _ = run([fx.SEED_ORIGINAL, fx.SEED_UPDATED])
    b, _ = run([fx.SEED_UPDATED, fx.SEED_ORIGINAL])
    assert a.result.events[-1]["item"] == b.result.events[-1]["item"]
    assert final_items(a) == final_items(b)
    assert a.result.events[-1]["history"] == b.result.events[-1]["history"]


def test_varna_three_versions_converge_in_every_order() -> None:
    files = [
        fx.fixture(f"04{i}_varna_storm_{n}.txt")
        for i, n in ((0, "update1"), (1, "original"), (2, "update2"))
    ]
    times = {p.name: parse_raw(p.read_bytes()) for p in files}
    finals = []
    for order in itertools.permutations(files):
        replayer, _ = run(list(order))
        events = replayer.result.events
        assert [e["version"] for e in events] == [1, 2, 3]
        assert {e["storyKey"] for e in events} == {fx.VARNA_STORY}
        newest_so_far = None
        for path, event in zip(order, events, strict=True):
            item = times[path.name]
            assert isinstance(item, WireItem)
            if newest_so_far is None:
                expected = "story.created"
            elif item.version_created > newest_so_far:
                expected = "story.updated"
            else:
                expected = "story.backfilled"
            assert event["eventType"] == expected
            newest_so_far = max(newest_so_far or item.version_created, item.version_created)
            validate_event(event)
        finals.append(events[-1]["item"])
    assert all(f == finals[0] for f in finals)
    final = finals[0]
    assert final["firstCreated"] == "2026-03-28T23:10:00+02:00"
    assert final["versionCreated"] == "2026-03-29T09:15:00+03:00"  # after the DST change
    assert final["version"] == "3"
    assert final["by"] == "Петър Колев, Анна Живкова"


def test_update_before_original_sofia() -> None:
    replayer, _ = run(
        [
            fx.fixture("030_sofia_traffic_law_update.txt"),
            fx.fixture("031_sofia_traffic_law_original.txt"),
        ]
    )
    created, backfilled = replayer.result.events
    assert (created["eventType"], backfilled["eventType"]) == ("story.created", "story.backfilled")
    assert backfilled["item"] == {**created["item"], "version": "2"}
    assert backfilled["item"]["firstCreated"] == "2026-01-15T11:20:00+02:00"
    assert backfilled["item"]["versionCreated"] == "2026-01-15T13:05:00+02:00"


def test_item_without_authors_caption_or_related() -> None:
    item = parse_raw(fx.fixture("050_stara_zagora_mosaic.txt").read_bytes())
    assert isinstance(item, WireItem)
    assert (item.authors, item.photo, item.related) == ((), None, ())
    assert (item.places, item.signoff, len(item.paragraphs)) == (("Стара Загора",), "ГГ", 3)
    assert item.first_created.isoformat() == "2025-07-05T16:42:00+03:00"


def test_joined_dateline_line_in_winter() -> None:
    item = parse_raw(fx.fixture("060_burgas_port_joined_dateline.txt").read_bytes())
    assert isinstance(item, WireItem)
    assert item.places == ("Бургас",)
    assert item.agency == "БТА"
    assert item.first_created.isoformat() == "2026-11-22T07:45:00+02:00"
    assert item.authors == ("Николай Димитров",)
    assert item.photo is not None
    assert item.photo.credit == "БТА/Архив"
    assert item.paragraphs[0].startswith("Пристанище Бургас е временно затворено")
    assert [r.published.isoformat() for r in item.related] == ["2026-11-21T19:05:00+02:00"]


def test_windows_1251_item_in_december() -> None:
    raw = fx.fixture("070_plovdiv_christmas_cp1251.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b"\r\n" in raw
    item = parse_raw(raw)
    assert isinstance(item, WireItem)
    assert item.headline == "Коледният базар в Пловдив отваря врати в събота"
    assert item.first_created.isoformat() == "2025-12-18T14:30:00+02:00"
    assert item.authors == ("Елена Маринова",)
    assert len(item.paragraphs) == 3
    assert [r.headline for r in item.related] == [
        "Пловдив ще бъде украсен с над 200 000 светлини за празниците",
        "Занаятчии от цялата страна се включват в Коледния базар в Пловдив",
    ]


def test_json_envelope_item() -> None:
    raw = fx.fixture("080_brussels_rail_tickets_envelope.json").read_bytes()
    envelope = json.loads(raw)
    item = parse_raw(raw)
    assert isinstance(item, WireItem)
    assert item.envelope == Envelope(
        source="bta.bg",
        url=envelope["url"],
        received_at="2025-06-04T06:13:05Z",
        provider_id="1234567",
    )
    assert envelope["url"].startswith("https://www.bta.bg/bg/news/world/1234567-")
    assert item.places == ("Брюксел",)
    assert item.first_created.isoformat() == "2025-06-04T09:12:00+03:00"
    # The same text without its envelope is the same version.
    bare = parse_raw(envelope["text"].encode())
    assert isinstance(bare, WireItem)
    replayer = replay([raw, envelope["text"].encode()])
    assert replayer.result.counts["duplicate"] == 1


def test_event_ids_are_deterministic_across_runs() -> None:
    first, _ = run(fx.arrival())
    second, _ = run(fx.arrival())
    assert [e["eventId"] for e in first.result.events] == [
        e["eventId"] for e in second.result.events
    ]
    assert first.result.events == second.result.events
    assert first.result.rejects == second.result.rejects


def test_replayer_with_kafka_like_sources_emits_the_same_ids() -> None:
    by_file, _ = run(fx.arrival())
    replayer = Replayer(retention=fx.CORPUS_RETENTION)
    for offset, path in enumerate(fx.arrival()):
        raw = path.read_bytes()
        source = Source(keys.raw_sha256(raw), topic="wire.raw", partition=0, offset=offset)
        replayer.feed(raw, source)
    assert [e["eventId"] for e in replayer.result.events] == [
        e["eventId"] for e in by_file.result.events
    ]
    for event in replayer.result.events:
        validate_event(event)
