"""The raw wire items the tests feed, and what the pipeline must make of them.

``tests/fixtures/stories/`` holds one raw item per file (the exact bytes of one Kafka message
value), named so that name order is a meaningful arrival order. They are written to follow the
two seeds: :func:`arrival` is the seed pair (the UPDATED version first, then its original, the
order their names sort in) followed by every fixture in name order, and :data:`EXPECTED` says
what each input of that sequence must produce when processed one after the other.

Scenarios (see each file):

- ``010``/``011``: two more stories first published in the seed's minute (12.08.2025 20:57):
  a twin with the same first dateline place "Москва" (its key gets a content-hash suffix), and
  one from "Вашингтон".
- ``020``: the UPDATED seed re-delivered with CRLF line ends, trailing blanks and doubled blank
  lines: a duplicate, no event.
- ``030``/``031``: an update (Sofia, winter time) that arrives before its original.
- ``040``-``042``: three versions of a Varna story across the spring DST change, arriving as
  first update, original, second update.
- ``050``: no authors, no photo caption, no related list.
- ``060``: dateline, timestamp and agency tag joined on one line; November (+02:00).
- ``070``: Windows-1251 bytes with CRLF line ends; December (+02:00).
- ``080``: a JSON envelope (text, source, url with BTA article id 1234567, receivedAt).
- ``015``, ``025``, ``045``, ``055``, ``065``, ``085``, ``095``: inputs that must be rejected.

The sequence is 21 inputs: 13 events for 9 stories, 1 duplicate and 7 rejects (``seeds/`` also
holds a README, which is not an item and so not part of :func:`arrival`).

Which facts hold in ANY arrival order (e.g. raw messages spread over several partitions): the
number of stories, events, duplicates, the reject reasons, and each story's final item, except
that which of the two Moscow twins gets the plain key depends on which arrives first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDS_DIR = REPO_ROOT / "seeds"
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures"
STORIES_DIR = FIXTURES_DIR / "stories"

SEED_UPDATED = SEEDS_DIR / "000_3b5780341c97b251.txt"
SEED_ORIGINAL = SEEDS_DIR / "000_original.txt"
SEED_ITEMS = (SEED_UPDATED, SEED_ORIGINAL)  # name order: the update arrives first

# The fixture stories span 17 months and are filed by name, not by time: in name order,
# stream time reaches November 2026 before the July 2025 story arrives, which the default
# retention (7 days) refuses as expired. The corpus tests run with a retention that spans it.
CORPUS_RETENTION = timedelta(days=3660)
CORPUS_RETENTION_ENV = {"WIRE_STATE_RETENTION_DAYS": "3660"}

# Story keys: provider, first-published minute in UTC, 3-byte hash of the first place.
SEED_STORY = "bta-20250812T1757Z-2b8233"  # Москва
TWIN_STORY = "bta-20250812T1757Z-2b8233-72d229cc"  # Москва again: suffixed by content hash
WASHINGTON_STORY = "bta-20250812T1757Z-e70a5f"
SOFIA_STORY = "bta-20260115T0920Z-a20559"
VARNA_STORY = "bta-20260328T2110Z-f2920b"
STARA_ZAGORA_STORY = "bta-20250705T1342Z-d48700"
BURGAS_STORY = "bta-20261122T0545Z-de1683"
PLOVDIV_STORY = "bta-20251218T1230Z-83f5a0"
BRUSSELS_STORY = "bta-20250604T0612Z-5ee3ff"


def story_files() -> list[Path]:
    """The fixture items in arrival (name) order; the same rule as ``wire-ingest replay DIR``."""
    return sorted(p for p in STORIES_DIR.iterdir() if p.is_file() and not p.name.startswith("."))


def arrival() -> list[Path]:
    """Every input of the fixture scenario, in the order :data:`EXPECTED` describes."""
    return [*SEED_ITEMS, *story_files()]


def fixture(name: str) -> Path:
    """A fixture or seed file by its name."""
    for path in arrival():
        if path.name == name:
            return path
    raise KeyError(name)


@dataclass(frozen=True, slots=True)
class Expected:
    """What one input must produce. ``outcome`` is a merge outcome, or "rejected"."""

    name: str
    outcome: str
    story: str | None = None
    version: int | None = None
    reason: str | None = None
    headline: str | None = None  # the story's canonical headline after this input

    @property
    def event_type(self) -> str | None:
        if self.outcome in ("created", "updated", "backfilled"):
            return f"story.{self.outcome}"
        return None


SEED_UPDATED_HEADLINE = (
    "Пхенян обяви, че в разговора си с Ким Чен-ун руският президент Путин е оценил помощта на "
    'Северна Корея за "освобождението" на Курска област'
)
SEED_ORIGINAL_HEADLINE = (
    "Путин е информирал Ким Чен-ун по телефона за предстоящата си среща с Тръмп в Аляска"
)
_TWIN_HEADLINE = "Москва открива три нови станции на метрото до края на годината"
_WASHINGTON_HEADLINE = "НАСА отложи изстрелването на метеорологичен спътник заради силен вятър"
_SOFIA_HEADLINE = (
    "Парламентът прие на първо четене по-строги наказания за шофиране след употреба на алкохол"
)
_VARNA_HEADLINE_1 = "Бурята във Варна остави без ток няколко квартала"
_VARNA_HEADLINE_2 = "Общината във Варна обяви частично бедствено положение след бурята"
_STARA_ZAGORA_HEADLINE = "Археолози откриха римска мозайка при ремонт на улица в Стара Загора"
_BURGAS_HEADLINE = "Пристанище Бургас временно затвори за кораби заради силно вълнение"
_PLOVDIV_HEADLINE = "Коледният базар в Пловдив отваря врати в събота"
_BRUSSELS_HEADLINE = "Европейската комисия предложи общи правила за билетите във влаковете"

EXPECTED: tuple[Expected, ...] = (
    Expected(SEED_UPDATED.name, "created", SEED_STORY, 1, headline=SEED_UPDATED_HEADLINE),
    Expected(SEED_ORIGINAL.name, "backfilled", SEED_STORY, 2, headline=SEED_UPDATED_HEADLINE),
    Expected("010_twin_same_minute_moskva.txt", "created", TWIN_STORY, 1, headline=_TWIN_HEADLINE),
    Expected(
        "011_same_minute_washington.txt",
        "created",
        WASHINGTON_STORY,
        1,
        headline=_WASHINGTON_HEADLINE,
    ),
    Expected("015_reject_empty.txt", "rejected", reason="empty"),
    Expected("020_seed_redelivery_crlf_whitespace.txt", "duplicate", SEED_STORY),
    Expected("025_reject_whitespace_only.txt", "rejected", reason="empty"),
    Expected(
        "030_sofia_traffic_law_update.txt", "created", SOFIA_STORY, 1, headline=_SOFIA_HEADLINE
    ),
    Expected(
        "031_sofia_traffic_law_original.txt",
        "backfilled",
        SOFIA_STORY,
        2,
        headline=_SOFIA_HEADLINE,
    ),
    Expected("040_varna_storm_update1.txt", "created", VARNA_STORY, 1, headline=_VARNA_HEADLINE_1),
    Expected(
        "041_varna_storm_original.txt", "backfilled", VARNA_STORY, 2, headline=_VARNA_HEADLINE_1
    ),
    Expected("042_varna_storm_update2.txt", "updated", VARNA_STORY, 3, headline=_VARNA_HEADLINE_2),
    Expected("045_reject_binary_nul.bin", "rejected", reason="not_text"),
    Expected(
        "050_stara_zagora_mosaic.txt",
        "created",
        STARA_ZAGORA_STORY,
        1,
        headline=_STARA_ZAGORA_HEADLINE,
    ),
    Expected("055_reject_no_timestamp.txt", "rejected", reason="no_timestamp"),
    Expected(
        "060_burgas_port_joined_dateline.txt", "created", BURGAS_STORY, 1, headline=_BURGAS_HEADLINE
    ),
    Expected("065_reject_no_body.txt", "rejected", reason="no_body"),
    Expected(
        "070_plovdiv_christmas_cp1251.txt", "created", PLOVDIV_STORY, 1, headline=_PLOVDIV_HEADLINE
    ),
    Expected(
        "080_brussels_rail_tickets_envelope.json",
        "created",
        BRUSSELS_STORY,
        1,
        headline=_BRUSSELS_HEADLINE,
    ),
    Expected("085_reject_envelope_wrong_type.json", "rejected", reason="bad_envelope"),
    Expected("095_reject_bad_timestamp.txt", "rejected", reason="bad_timestamp"),
)

# Derived views, for tests that only need counts or one kind of outcome.
EXPECTED_EVENTS: tuple[tuple[str, str, str, int], ...] = tuple(
    (e.name, e.event_type, e.story, e.version)
    for e in EXPECTED
    if e.event_type is not None and e.story is not None and e.version is not None
)
EXPECTED_REJECTS: tuple[tuple[str, str], ...] = tuple(
    (e.name, e.reason) for e in EXPECTED if e.reason is not None
)
EXPECTED_DUPLICATES: tuple[str, ...] = tuple(e.name for e in EXPECTED if e.outcome == "duplicate")
EXPECTED_STORIES: dict[str, tuple[int, str]] = {
    # story key -> (number of versions, final canonical headline)
    e.story: (e.version, e.headline)
    for e in EXPECTED
    if e.story is not None and e.version is not None and e.headline is not None
}
EXPECTED_STORY_COUNT = len(EXPECTED_STORIES)
EXPECTED_REJECT_REASONS: Counter[str] = Counter(reason for _, reason in EXPECTED_REJECTS)


FORMATS_DIR = FIXTURES_DIR / "formats"
IPTC_DIR = FIXTURES_DIR / "iptc"
# When the format fixtures were "received": IPTC 7901 and ANPA 1312 trailers name no year.
FORMATS_RECEIVED_AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def format_items() -> list[Path]:
    """Every well-formed item of the four formats beyond BTA (broken framing and hostile XML
    left out), in name order per format, and IPTC's own samples."""
    good = [
        *sorted((FORMATS_DIR / "newsml-g2").glob("[!h]*.xml")),  # not hostile-*
        *sorted((FORMATS_DIR / "newsml-g2").glob("harbour-*.xml")),
        *sorted((FORMATS_DIR / "ninjs").glob("*.json")),
        *sorted((FORMATS_DIR / "iptc7901").glob("0*.txt")),
        *sorted((FORMATS_DIR / "anpa1312").glob("0*.txt")),
        *sorted(IPTC_DIR.glob("*.xml")),
        *sorted(IPTC_DIR.glob("*.json")),
    ]
    return list(dict.fromkeys(good))
