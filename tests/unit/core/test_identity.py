"""Story identity over arrival orders: the identity examples, and generated buckets.

The examples in ``tests/fixtures/identity/`` go through ``wire-ingest replay``'s core in EVERY
arrival order. The property tests generate one minute of wire with twins (two originals of one
place), flashes and their rewritten updates, extended updates, corrections in the same minute,
near-duplicate re-sends, re-deliveries and envelopes with article ids, and check that every
order puts the same versions in the same stories with the same canonical items; keys too,
except which twin of one place holds the plain key (README, "Story keys and merging").
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fixtures import FIXTURES_DIR
from tests.support.schemas import validate_event
from workers.core import keys
from workers.core.events import Source
from workers.core.formats.bta import SOFIA
from workers.core.merge import BOILERPLATE, Bucket
from workers.core.model import Envelope, WireItem
from workers.core.pipeline import apply
from workers.replay import Replayer

IDENTITY_DIR = FIXTURES_DIR / "identity"

# group -> (files, the wanted stories as sets of files, the canonical file of each story)
GROUPS: dict[str, tuple[tuple[str, ...], set[frozenset[str]], set[str]]] = {
    "flash": (
        ("flash-original", "flash-update"),
        {frozenset({"flash-original", "flash-update"})},
        {"flash-update"},
    ),
    "twins": (
        ("twin-a", "twin-b", "twin-a-update"),
        {frozenset({"twin-a", "twin-a-update"}), frozenset({"twin-b"})},
        {"twin-a-update", "twin-b"},
    ),
    "expanded": (
        ("expanded-original", "expanded-update"),
        {frozenset({"expanded-original", "expanded-update"})},
        {"expanded-update"},
    ),
    "correction": (
        ("correction-original", "correction-update"),
        {frozenset({"correction-original", "correction-update"})},
        {"correction-update"},
    ),
    "abbreviated-place": (
        ("abbreviated-place-flash", "abbreviated-place-update"),
        {frozenset({"abbreviated-place-flash", "abbreviated-place-update"})},
        {"abbreviated-place-update"},
    ),
    "rewritten-twins": (
        (
            "rewritten-twin-roads",
            "rewritten-twin-roads-update",
            "rewritten-twin-theatre",
            "rewritten-twin-theatre-update",
        ),
        {
            frozenset({"rewritten-twin-roads", "rewritten-twin-roads-update"}),
            frozenset({"rewritten-twin-theatre", "rewritten-twin-theatre-update"}),
        },
        {"rewritten-twin-roads-update", "rewritten-twin-theatre-update"},
    ),
    "stock-phrase": (
        ("stock-phrase-police", "stock-phrase-health", "stock-phrase-health-update"),
        {
            frozenset({"stock-phrase-police"}),
            frozenset({"stock-phrase-health", "stock-phrase-health-update"}),
        },
        {"stock-phrase-police", "stock-phrase-health-update"},
    ),
    "placeless-flash": (
        ("placeless-flash", "placeless-sofia", "placeless-flash-update"),
        {
            frozenset({"placeless-flash", "placeless-flash-update"}),
            frozenset({"placeless-sofia"}),
        },
        {"placeless-flash-update", "placeless-sofia"},
    ),
    "templated-warnings": (
        ("templated-warning-vidin", "templated-warning-montana", "templated-warning-vidin-update"),
        {
            frozenset({"templated-warning-vidin", "templated-warning-vidin-update"}),
            frozenset({"templated-warning-montana"}),
        },
        {"templated-warning-vidin-update", "templated-warning-montana"},
    ),
    "town-first-notices": (
        (
            "town-first-notice-gabrovo",
            "town-first-notice-lovech",
            "town-first-notice-lovech-update",
        ),
        {
            frozenset({"town-first-notice-gabrovo"}),
            frozenset({"town-first-notice-lovech", "town-first-notice-lovech-update"}),
        },
        {"town-first-notice-gabrovo", "town-first-notice-lovech-update"},
    ),
    "standing-line": (
        ("standing-line-fire", "standing-line-crash", "standing-line-crash-update"),
        {
            frozenset({"standing-line-fire"}),
            frozenset({"standing-line-crash", "standing-line-crash-update"}),
        },
        {"standing-line-fire", "standing-line-crash-update"},
    ),
    "adjective": (
        ("adjective-kindergarten", "adjective-fortress", "adjective-fortress-update"),
        {
            frozenset({"adjective-kindergarten"}),
            frozenset({"adjective-fortress", "adjective-fortress-update"}),
        },
        {"adjective-kindergarten", "adjective-fortress-update"},
    ),
    "typo": (
        ("typo-flash", "typo-flash-fixed"),
        {frozenset({"typo-flash", "typo-flash-fixed"})},
        # One headline: which text is canonical goes by content hash (equal times, README).
        {"typo-flash-fixed"},
    ),
}


def identity_file(name: str) -> Path:
    return IDENTITY_DIR / f"{name}.txt"


def replay_files(names: tuple[str, ...]) -> Replayer:
    replayer = Replayer()
    for name in names:
        fed = replayer.feed_file(identity_file(name))
        assert fed.reject is None, (name, fed.reject)
    return replayer


def stories_by_file(replayer: Replayer, names: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """Story key -> the files whose versions it holds."""
    hash_to_file = {}
    for name in names:
        hash_to_file[_content_hash(identity_file(name))] = name
    out = {}
    for bucket in replayer.buckets.values():
        for story in bucket.views():
            out[story.key] = frozenset(hash_to_file[v.content_hash] for v in story.versions)
    return out


def _content_hash(path: Path) -> str:
    from workers.core.pipeline import parse_raw

    item = parse_raw(path.read_bytes())
    assert isinstance(item, WireItem), item
    return keys.content_hash(item)


# Limits (README, "Story keys and merging"): what the merge does with these, though an editor
# would want otherwise; the fixtures' README says what is wanted and why it is not done.
LIMITS: dict[str, tuple[tuple[str, ...], set[frozenset[str]], set[str]]] = {
    # A later update follows a tie-broken one: the rewrite shares no word with its flash or
    # the festival item and goes to the festival on the tie-breaks; the full update (the
    # flash's lead, then the rewrite's two paragraphs) follows the rewrite's two paragraphs.
    "chain": (
        ("chain-flash", "chain-rewrite", "chain-full-update", "chain-festival"),
        {
            frozenset({"chain-flash"}),
            frozenset({"chain-rewrite", "chain-full-update", "chain-festival"}),
        },
        {"chain-flash", "chain-full-update"},
    ),
}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_identity_examples_in_every_arrival_order(group: str) -> None:
    _assert_in_every_arrival_order(*GROUPS[group])


@pytest.mark.parametrize("group", sorted(LIMITS))
def test_identity_limits_in_every_arrival_order(group: str) -> None:
    """The README's limits give what it says, in every order: a change that mends one
    breaks this test, and then the README and the fixtures' table move with it."""
    _assert_in_every_arrival_order(*LIMITS[group])


def _assert_in_every_arrival_order(
    files: tuple[str, ...], wanted: set[frozenset[str]], canonical: set[str]
) -> None:
    finals: list[dict[frozenset[str], dict[str, Any]]] = []
    for order in itertools.permutations(files):
        replayer = replay_files(order)
        stories = stories_by_file(replayer, files)
        assert set(stories.values()) == wanted, order
        latest = replayer.result.live_stories()
        assert set(latest) == set(stories)
        heads = set()
        for key, members in stories.items():
            item = latest[key]["item"]
            heads.add(item["headlines"][0]["value"])
            assert item["version"] == str(len(members))
        canonical_heads = {_headline(identity_file(name)) for name in canonical}
        assert heads == canonical_heads, order
        for event in replayer.result.events:
            validate_event(event)
        finals.append({stories[k]: _keyless(e["item"], k) for k, e in latest.items()})
    assert all(final == finals[0] for final in finals)


def _headline(path: Path) -> str:
    from workers.core.pipeline import parse_raw

    item = parse_raw(path.read_bytes())
    assert isinstance(item, WireItem)
    return item.headline


def _keyless(item: dict[str, Any], key: str) -> dict[str, Any]:
    """An item with its story key taken out of its URIs, to compare twins across orders."""
    text = repr(item).replace(key, "<key>")
    return {"item": text}


def test_identity_examples_keep_their_keys_where_no_twin_shares_the_place() -> None:
    for group in ("flash", "expanded", "correction"):
        files = GROUPS[group][0]
        keys_seen = {
            frozenset(replay_files(order).result.live_stories())
            for order in itertools.permutations(files)
        }
        assert len(keys_seen) == 1, group


def test_expanded_update_parses_as_the_readme_says() -> None:
    replayer = replay_files(("expanded-original", "expanded-update"))
    (event,) = replayer.result.live_stories().values()
    item = event["item"]
    assert item["headlines"][0]["value"] == (
        "Инфлацията през ноември е 0,4 на сто, годишната се забавя до 3,1 на сто"
    )
    assert item["by"] == "Ани Маринова"
    (photo,) = [a for a in item["associations"] if a["rel"] == "photo"]
    assert photo["by"] == "Петър Петров/БТА"
    assert "descriptions" not in photo
    assert [h["isUpdate"] for h in event["history"]] == [False, True]


# --- generated buckets ----------------------------------------------------------------------

MINUTE = datetime(2026, 12, 3, 15, 31, tzinfo=SOFIA)
STANDING = "Пътната полиция напомня на шофьорите да карат внимателно при зимни условия."
PLACES = ("София", "Пловдив", "Варна")
# What each generated story is about: words its headlines keep, and no other story's have
# (two: one shared headline word is taken for chance).
TOPICS = ("театърът и постановката", "пристанището и корабите", "болницата и лекарите")


def sentence(story: int, index: int) -> str:
    """A sentence no other sentence shares a word trigram with: a unique tag between words."""
    tag = f"{story}{index:02d}"
    return f"Събитие {tag} засегна {tag} квартал {tag} север {tag} според {tag} източник {tag}."


@dataclasses.dataclass(frozen=True)
class StoryPlan:
    """One generated story: its place, whether its updates share text, its provider id."""

    index: int
    place: str
    versions: tuple[WireItem, ...]


@st.composite
def bucket_plans(draw: st.DrawFn) -> tuple[list[StoryPlan], list[WireItem]]:
    """One minute of wire: 1-3 stories, their versions, and re-deliveries to add anywhere.

    Every headline of a story names its topic (:data:`TOPICS`). A story whose place another
    story of the minute shares (a twin) may get a rewritten update that shares no text with it
    and only its topic with its headline: with no text, no headline word, no sign-off and no
    article id nothing could tell twins apart, and an editor could not either. A story alone
    at its place may get a flash-and-rewrite update with no text in common, and may lack its
    original.
    """
    count = draw(st.integers(1, 3))
    places = [draw(st.sampled_from(PLACES)) for _ in range(count)]
    # A standing paragraph every original of the minute may carry (a notice, a disclaimer).
    standing = draw(st.booleans())
    plans = []
    for index, place in enumerate(places):
        twin = places.count(place) > 1
        provider_id = str(1_000_000 + index) if draw(st.booleans()) else None
        base = tuple(sentence(index, i) for i in range(draw(st.integers(1, 3))))
        if draw(st.booleans()):
            base = (*base, BOILERPLATE[0])
        if standing:
            base = (*base, STANDING)
        original = WireItem(
            provider="bta",
            headline=f"Първа новина {index}: {TOPICS[index]}",
            is_update=False,
            first_created=MINUTE,
            updated=None,
            paragraphs=base,
            places=(place,),
            agency="БТА",
            signoff="СП",
        )
        versions = []
        if twin or draw(st.booleans()):
            versions.append(original)
        when = MINUTE
        kept = base
        for step in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(("extend", "rewrite", "correction", "resend")))
            if kind == "resend" and not versions:
                kind = "extend"
            if kind == "correction":
                first = kept[0].replace("засегна", "засегнало")
                versions.append(
                    dataclasses.replace(
                        original,
                        headline=f"Поправка {index}.{step}: {TOPICS[index]}",
                        is_update=True,
                        updated=MINUTE,
                        paragraphs=(first, *kept[1:]),
                    )
                )
                continue
            if kind == "resend":
                # The original sent again with punctuation edits: a near-duplicate, one story.
                resent = tuple(p.replace("място.", "място;") for p in original.paragraphs)
                versions.append(dataclasses.replace(original, paragraphs=resent))
                continue
            when = when + timedelta(minutes=draw(st.integers(1, 90)))
            fresh = tuple(sentence(index, 10 + step * 3 + i) for i in range(2))
            kept = (*kept, *fresh) if kind == "extend" else fresh
            more_places = (place, "Москва") if draw(st.booleans()) else (place,)
            versions.append(
                dataclasses.replace(
                    original,
                    headline=f"Нова версия {index}.{step}: {TOPICS[index]}",
                    is_update=True,
                    updated=when,
                    paragraphs=kept,
                    places=more_places,
                )
            )
        if not versions:
            versions.append(original)
        if provider_id is not None:
            versions = [
                dataclasses.replace(v, envelope=Envelope(provider_id=provider_id))
                if draw(st.booleans())
                else v
                for v in versions
            ]
        plans.append(StoryPlan(index, place, tuple(versions)))
    everything = [v for plan in plans for v in plan.versions]
    copies = draw(st.lists(st.sampled_from(everything), max_size=2))
    redelivered = [
        dataclasses.replace(c, envelope=Envelope(provider_id=str(1_000_000 + plan.index)))
        if draw(st.booleans()) and (plan := _plan_of(plans, c)) is not None
        else c
        for c in copies
    ]
    return plans, redelivered


def _plan_of(plans: list[StoryPlan], item: WireItem) -> StoryPlan | None:
    for plan in plans:
        if any(keys.content_hash(v) == keys.content_hash(item) for v in plan.versions):
            return plan
    return None


def run_order(items: list[WireItem]) -> tuple[Bucket, list[dict[str, Any]]]:
    bucket: Bucket | None = None
    events: list[dict[str, Any]] = []
    for offset, item in enumerate(items):
        applied = apply(bucket, item, Source("00" * 32, topic="t", partition=0, offset=offset))
        bucket = applied.bucket
        events.extend(applied.events)
    assert bucket is not None
    return bucket, events


def orders(n: int, seed: int) -> list[list[int]]:
    """Every permutation up to 5 inputs; a fixed random sample of 40 above that."""
    if n <= 5:
        return [list(p) for p in itertools.permutations(range(n))]
    rng = random.Random(seed)
    sample = [list(range(n)), list(reversed(range(n)))]
    for _ in range(38):
        order = list(range(n))
        rng.shuffle(order)
        sample.append(order)
    return sample


IDENTITY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@IDENTITY_SETTINGS
@given(plan=bucket_plans(), seed=st.integers(0, 2**16))
def test_every_arrival_order_gives_the_same_stories(
    plan: tuple[list[StoryPlan], list[WireItem]], seed: int
) -> None:
    plans, copies = plan
    inputs = [v for p in plans for v in p.versions] + copies
    truth = {frozenset(keys.content_hash(v) for v in p.versions): p for p in plans}
    places = [p.place for p in plans]
    results = []
    for order in orders(len(inputs), seed):
        bucket, events = run_order([inputs[i] for i in order])
        stories = {frozenset(s.members): s for s in bucket.views()}
        assert set(stories) == set(truth), order
        for members, story in stories.items():
            newest = max(truth[members].versions, key=_order)
            assert keys.content_hash(story.newest) == keys.content_hash(newest)
            if places.count(truth[members].place) == 1:
                assert story.key == keys.base_story_key(newest)
            else:
                assert story.key.startswith(keys.base_story_key(newest))
        # Versions of one key only grow, whatever the events.
        last: dict[str, int] = defaultdict(int)
        for event in events:
            assert event["version"] > last[event["storyKey"]]
            last[event["storyKey"]] = event["version"]
        results.append(
            {
                members: _keyless(_item_of(events, story.key), story.key)
                for members, story in stories.items()
            }
        )
    assert all(r == results[0] for r in results)


def _order(item: WireItem) -> tuple[datetime, bool, str]:
    return (item.version_created, item.is_update, keys.content_hash(item))


def _item_of(events: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return next(e["item"] for e in reversed(events) if e["storyKey"] == key)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=bucket_plans())
def test_generated_events_are_schema_valid(plan: tuple[list[StoryPlan], list[WireItem]]) -> None:
    plans, copies = plan
    inputs = [v for p in plans for v in p.versions] + copies
    for order in (inputs, list(reversed(inputs))):
        _, events = run_order(order)
        for event in events:
            validate_event(event)
