"""Property tests of the core: layout independence, robustness, convergence."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.fixtures import CORPUS_RETENTION, SEED_ORIGINAL, SEED_UPDATED
from tests.support.schemas import validate_event
from workers.core import merge as merge_module
from workers.core.events import Source
from workers.core.merge import (
    Bucket,
    Version,
    _join_the_only_story,
    _regroup,
    merge,
    near_duplicate,
)
from workers.core.model import Envelope, WireItem
from workers.core.pipeline import apply, parse_raw
from workers.core.rejects import Reject, RejectReason
from workers.replay import Replayer

from .items import SEED_MINUTE, merged_all, source_of, wire_item
from .strategies import (
    Fields,
    Layout,
    bta_fields,
    expected_dict,
    layouts,
    marked_updates,
    mutations,
    render,
    story_versions,
    wire_like_text,
)

SEED_BYTES = SEED_UPDATED.read_bytes()
FIELD_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def parse_ok(raw: bytes) -> WireItem:
    item = parse_raw(raw)
    assert isinstance(item, WireItem), (item, raw[:400])
    return item


# --- (a) every layout of the same fields parses to those fields ----------------------------


@FIELD_SETTINGS
@given(fields=bta_fields(), layout=layouts())
def test_any_layout_parses_to_the_generating_fields(fields: Fields, layout: Layout) -> None:
    raw = render(fields, layout)
    parsed = parse_ok(raw)
    got = parsed.to_dict()
    envelope = got.pop("envelope")
    assert got == expected_dict(fields.item)
    assert envelope["source"] == ("bta.bg" if layout.encoding == "json" else None)


@FIELD_SETTINGS
@given(marked=marked_updates())
def test_either_update_marker_in_any_place_marks_an_update(marked: tuple[Fields, Layout]) -> None:
    fields, layout = marked
    parsed = parse_ok(render(fields, layout))
    assert parsed.is_update is True
    assert parsed.headline == fields.item.headline
    got = parsed.to_dict()
    got.pop("envelope")
    assert got == expected_dict(fields.item)


@FIELD_SETTINGS
@given(fields=bta_fields(), first=layouts(), second=layouts())
def test_two_layouts_of_one_item_are_one_version(
    fields: Fields, first: Layout, second: Layout
) -> None:
    replayer = Replayer()
    for layout in (first, second):
        raw = render(fields, layout)
        replayer.feed(raw, source_of(raw))
    assert [e["eventType"] for e in replayer.result.events] == ["story.created"]
    assert replayer.result.counts["duplicate"] == 1
    validate_event(replayer.result.events[0])


def test_the_renderer_reproduces_the_seed_layout() -> None:
    # The default layout is the seeds' own: rendering the parsed seed gives its text back,
    # so the generated items really are in BTA layout.
    for path in (SEED_UPDATED, SEED_ORIGINAL):
        item = parse_ok(path.read_bytes())
        fields = Fields(item, marker=item.is_update)
        rendered = render(fields, Layout())
        expected = path.read_text(encoding="utf-8")

        def lines(text: str) -> list[str]:
            return [line.strip() for line in text.split("\n") if line.strip()]

        assert lines(rendered.decode()) == lines(expected)


# --- (b) no input makes the parser raise or report an internal error ------------------------


def assert_robust(raw: bytes) -> None:
    result = parse_raw(raw)
    assert isinstance(result, WireItem | Reject)
    if isinstance(result, Reject):
        assert result.reason is not RejectReason.INTERNAL_ERROR, result
        return
    # Whatever parses must go all the way to a schema-valid event.
    (event,) = apply(None, result, Source(raw_sha256="00" * 32)).events
    validate_event(event)


ROBUST_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@ROBUST_SETTINGS
@given(raw=st.binary(max_size=4096))
@example(raw=b"")
@example(raw=b"\xef\xbb\xbf{")
@example(raw=b"{}")
@example(raw=b"[1, 2]")
@example(raw=b'{"text": "x"}')
def test_arbitrary_bytes(raw: bytes) -> None:
    assert_robust(raw)


@ROBUST_SETTINGS
@given(text=st.text(max_size=2000))
def test_arbitrary_text(text: str) -> None:
    assert_robust(text.encode("utf-8", "surrogatepass"))


@ROBUST_SETTINGS
@given(text=wire_like_text())
@example(text="Заглавие\n01.01.0001 00:00 (БТА)\nАбзац.")
@example(text="Заглавие\n12.08.0025 10:00 (БТА)\nАбзац.")
@example(text="Заглавие\n12.08.2025 10:00 (БТА)\nАбзац.\n01.01.0001 00:00\nСвързано")
def test_wire_like_text(text: str) -> None:
    assert_robust(text.encode())
    assert_robust(text.encode("cp1251", "replace"))


@ROBUST_SETTINGS
@given(raw=st.one_of(mutations(SEED_BYTES), mutations(SEED_ORIGINAL.read_bytes())))
def test_mutated_seeds(raw: bytes) -> None:
    assert_robust(raw)


# --- (c) convergence: the final story does not depend on the arrival order ---------------------


def replay_versions(raws: list[bytes]) -> Replayer:
    # Convergence, not expiry: generated versions may lie more than a retention apart.
    replayer = Replayer(retention=CORPUS_RETENTION)
    for raw in raws:
        replayer.feed(raw, source_of(raw))
    return replayer


def event_view(replayer: Replayer) -> list[tuple[Any, ...]]:
    return [
        (e["eventId"], e["eventType"], e["version"], e["storyKey"]) for e in replayer.result.events
    ]


CONVERGE_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@CONVERGE_SETTINGS
@given(versions=story_versions(), layouts_=st.lists(layouts(), min_size=4, max_size=4))
def test_every_arrival_order_converges(
    versions: tuple[Fields, ...], layouts_: list[Layout]
) -> None:
    raws = [render(v, layouts_[i]) for i, v in enumerate(versions)]
    n = len(raws)
    items = [parse_ok(raw) for raw in raws]
    assert [item.to_dict() | {"envelope": None} for item in items] == [
        expected_dict(v.item) | {"envelope": None} for v in versions
    ]
    finals = []
    for order in itertools.permutations(range(n)):
        replayer = replay_versions([raws[i] for i in order])
        events = replayer.result.events
        assert len(events) == n, replayer.result.rejects[:1]
        assert [e["version"] for e in events] == list(range(1, n + 1))
        assert len({e["storyKey"] for e in events}) == 1
        assert sum(len(b.stories) for b in replayer.buckets.values()) == 1
        newest = None
        for index, event in zip(order, events, strict=True):
            when = items[index].version_created
            if newest is None:
                assert event["eventType"] == "story.created"
            else:
                assert event["eventType"] == (
                    "story.updated" if when > newest else "story.backfilled"
                )
            newest = when if newest is None else max(newest, when)
        finals.append(events[-1]["item"])
    assert all(final == finals[0] for final in finals)
    final = finals[0]
    last = versions[-1].item
    assert final["version"] == str(n)
    assert final["headlines"] == [{"role": "main", "value": last.headline}]
    assert final["versionCreated"] == last.version_created.isoformat()
    assert final["firstCreated"] == versions[0].item.first_created.isoformat()
    assert final["bodies"][0]["value"] == "\n\n".join(last.paragraphs)
    validate_event(events[-1])


@CONVERGE_SETTINGS
@given(
    versions=story_versions(),
    data=st.data(),
)
def test_duplicates_anywhere_change_nothing(
    versions: tuple[Fields, ...], data: st.DataObject
) -> None:
    n = len(versions)
    order = data.draw(st.permutations(range(n)), label="order")
    arrivals: list[tuple[int, bytes]] = [(i, render(versions[i], Layout())) for i in order]
    copies = data.draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 10 * n), layouts()), max_size=6),
        label="copies",
    )
    for index, position, layout in copies:
        arrivals.insert(position % (len(arrivals) + 1), (index, render(versions[index], layout)))
    with_copies = replay_versions([raw for _, raw in arrivals])
    # The reference: each version once, in the order its first copy arrived.
    seen: list[int] = []
    for index, _ in arrivals:
        if index not in seen:
            seen.append(index)
    reference = replay_versions([render(versions[i], Layout()) for i in seen])
    assert event_view(with_copies) == event_view(reference)
    assert [e["item"] for e in with_copies.result.events] == [
        e["item"] for e in reference.result.events
    ]
    assert with_copies.result.counts["duplicate"] == len(copies)
    assert with_copies.result.counts["rejected"] == 0
    # The stored state holds the same versions (a duplicate's envelope, which is no part of
    # the content, may be the one kept with the newest version).
    assert {
        k: [(s.key, s.versions) for s in b.views()] for k, b in with_copies.buckets.items()
    } == {k: [(s.key, s.versions) for s in b.views()] for k, b in reference.buckets.items()}


# --- the first version of a bucket: the short path gives what the grouping gives ------------


@FIELD_SETTINGS
@given(fields=bta_fields(), provider_id=st.one_of(st.none(), st.just("A123")))
def test_a_bucket_s_first_version_merges_as_the_full_grouping_does(
    fields: Fields, provider_id: str | None
) -> None:
    item = dataclasses.replace(fields.item, envelope=Envelope(provider_id=provider_id))
    arriving = Version.of(item)
    short = merge(None, item)
    full = _regroup(Bucket(), (arriving,), arriving, arriving.record, is_new=True)
    assert short == full
    assert merge(Bucket(), item) == full


@FIELD_SETTINGS
@given(
    versions=story_versions(max_updates=5),
    twin=st.one_of(st.none(), bta_fields()),
    order=st.randoms(use_true_random=False),
)
def test_an_update_joining_the_only_story_merges_as_the_full_grouping_does(
    versions: tuple[Fields, ...], twin: Fields | None, order: Any
) -> None:
    items = [v.item for v in versions]
    if twin is not None:  # another original of the same minute: the short path must step aside
        items.append(
            dataclasses.replace(twin.item, first_created=items[0].first_created, is_update=False)
        )
    order.shuffle(items)
    bucket = Bucket()
    for item in items:
        arriving = Version.of(item)
        if bucket.version(arriving.content_hash) is None:
            short = _join_the_only_story(bucket, arriving, arriving.record)
            full = _regroup(
                bucket, (*bucket.versions, arriving), arriving, arriving.record, is_new=True
            )
            assert short is None or short == full
        bucket = merge(bucket, item).bucket


def test_the_seed_update_takes_the_short_path_to_its_original() -> None:
    original, updated = parse_ok(SEED_ORIGINAL.read_bytes()), parse_ok(SEED_UPDATED.read_bytes())
    bucket = merge(None, original).bucket
    arriving = Version.of(updated)
    short = _join_the_only_story(bucket, arriving, arriving.record)
    assert short is not None
    assert short == merge(bucket, updated)
    assert short.outcome.value == "updated"


# --- (e) a crowded bucket's remembered grouping is the grouping ----------------------------


def _thirty_words(stem: str, changed: dict[int, str] | None = None) -> str:
    words = [f"{stem}{n}" for n in range(30)]
    for at, word in (changed or {}).items():
        words[at] = word
    return " ".join(words) + "."


def _crowded_minute() -> list[WireItem]:
    """One place's originals of one minute, more than the grouping remembers from: eight
    unrelated ones, a chain of re-sends (each a near-duplicate of the one before it, the
    first and the last not of each other), two unrelated ones that share a provider id, and
    an update of the first."""
    unrelated = [wire_item((_thirty_words(f"дума{i}х"),), headline=f"Новина {i}") for i in range(8)]
    chain = [
        wire_item((_thirty_words("слово", changed),), headline="Верига от новини")
        for changed in ({}, {10: "друго"}, {10: "друго", 20: "трето"})
    ]
    shared_id = [
        dataclasses.replace(
            wire_item((_thirty_words(f"текст{i}я"),), headline=f"Статия {i}"),
            envelope=Envelope(provider_id="A42"),
        )
        for i in range(2)
    ]
    update = wire_item(
        (_thirty_words("дума0х"), "Нов абзац с още подробности."),
        headline="Новина 0",
        updated=SEED_MINUTE_LATER,
    )
    return [*unrelated, *chain, *shared_id, update]


SEED_MINUTE_LATER = SEED_MINUTE + timedelta(hours=1)
CROWDED = _crowded_minute()
CHAIN = CROWDED[8:11]


def test_the_crowded_minute_has_a_chain_of_re_sends() -> None:
    first, middle, last = CHAIN
    assert near_duplicate(first, middle)
    assert near_duplicate(middle, last)
    assert not near_duplicate(first, last)
    assert len(merged_all(CROWDED)[0].views()) == 8 + 1 + 1  # the update joins the first


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(CROWDED))
@example(order=[*CROWDED[:8], CHAIN[2], CHAIN[0], *CROWDED[11:], CHAIN[1]])  # it joins two
def test_a_crowded_bucket_s_remembered_grouping_is_every_pair_compared(
    order: list[WireItem],
) -> None:
    """An arrival extends the remembered near-duplicate sets of the bucket before it (README,
    "Convergence, and where it needs extra events"); every arrival merges as comparing every
    pair again does."""
    merge_module._near_duplicate_sets.clear()
    bucket: Bucket | None = None
    for item in order:
        remembered = merge(bucket, item)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(merge_module, "REMEMBER_FROM", len(CROWDED) + 1)
            every_pair = merge(bucket, item)
        assert remembered == every_pair
        bucket = remembered.bucket
    assert bucket is not None
    assert max(merge_module._near_duplicate_sets.sizes()) == sum(
        not v.item.is_update for v in bucket.versions
    )


# --- (f) a crowded bucket compares the pairs that can match, and finds every one that does ---

# Few words, so that texts share bigrams; lower-case ones of four letters or more take typos.
_PAIR_WORDS = ("котка", "кучета", "град", "мост", "река", "вятър", "слънце", "Пловдив", "41", "и")
_PAIR_PLACES = ("София", "Пловдив", "гр. Пловдив", "С. Петербург", "Санкт Петербург")


def _typo(word: str, at: int) -> str:
    """``word`` with two letters next to each other swapped, or (odd ``at``) one doubled."""
    at %= len(word) - 1
    if at % 2:
        return word[: at + 1] + word[at] + word[at + 1 :]
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


@st.composite
def _crowded_texts(draw: st.DrawFn) -> list[WireItem]:
    """Originals of one minute: new texts, and re-sends of earlier ones with a word changed,
    a typo fixed (short texts whose bigrams agree less than the threshold), a word more or
    less, or all but a word gone (a text without bigrams)."""
    texts: list[list[str]] = []
    for _ in range(draw(st.integers(merge_module.REMEMBER_FROM, 20))):
        if texts and draw(st.booleans()):
            words = list(draw(st.sampled_from(texts)))
            at = draw(st.integers(0, len(words) - 1))
            edit = draw(st.sampled_from(("same", "word", "typo", "more", "less", "one")))
            if edit == "word":
                words[at] = draw(st.sampled_from(_PAIR_WORDS))
            elif edit == "typo" and len(words[at]) >= 4 and words[at].islower():
                words = [_typo(w, at) if w == words[at] else w for w in words]
            elif edit == "more":
                words.insert(at, draw(st.sampled_from(_PAIR_WORDS)))
            elif edit == "less" and len(words) > 1:
                del words[at]
            elif edit == "one":
                words = words[:1]
        else:
            words = draw(st.lists(st.sampled_from(_PAIR_WORDS), min_size=1, max_size=14))
        texts.append(words)
    return [
        wire_item(
            (" ".join(words),),
            headline=draw(st.sampled_from(("Новина", "Новина от града", "котка", ""))),
            places=(draw(st.sampled_from(_PAIR_PLACES)),),
        )
        for words in texts
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=_crowded_texts())
def test_a_crowded_bucket_s_chosen_pairs_give_the_sets_of_every_pair(items: list[WireItem]) -> None:
    """A crowded bucket's first arrival after a restart compares only the pairs that can be
    near-duplicates (README, "Convergence, and where it needs extra events"): the labels,
    not only the sets, are those of comparing every pair."""
    originals = [Version.of(item) for item in items]
    assert merge_module._labels_of_every_pair(
        originals
    ) == merge_module._labels_comparing_every_pair(originals)


def test_re_sends_the_chosen_pairs_must_find() -> None:
    """The cases the chosen pairs hang on, each a near-duplicate pair among unrelated
    originals: three typos fixed in a text of 20 words (its bigrams far apart, found by its
    word count alone), a word changed in a long one (bigrams alike), a text cut to eight of
    its ten bigrams (alike just at the threshold, the shared bigrams the most common), and a
    one-word text sent twice (no bigrams)."""
    fruit = (
        "ябълка круша слива череша праскова малина ягода къпина боровинка дюля смокиня "
        "грозде кайсия диня пъпеш лимон портокал банан киви нар"
    )
    typos = fruit.replace("круша", "курша").replace("малина", "млаина").replace("лимон", "илмон")
    long = " ".join(f"дума{n}" for n in range(40))
    ten = " ".join(f"слово{n}" for n in range(10))  # with the headline, ten bigrams
    pairs = [
        ("Новина", fruit, typos, True),
        ("Новина", long, long.replace("дума20", "друго"), False),
        ("Новина", ten, ten.rsplit(" ", 2)[0], False),
        ("", "слънце", "слънце", False),
    ]
    unrelated = [f"текст{n} номер{n} още{n}" for n in range(merge_module.REMEMBER_FROM)]
    for headline, first, second, far in pairs:
        items = [wire_item((text,), headline="Новина") for text in unrelated]
        items += [wire_item((text,), headline=headline) for text in (first, second)]
        originals = [Version.of(item) for item in items]
        labels = merge_module._labels_of_every_pair(originals)
        assert labels == merge_module._labels_comparing_every_pair(originals)
        assert labels[-1] == labels[-2]
        assert len(set(labels)) == len(unrelated) + 1
        places = [v.first_place for v in originals]
        texts = [merge_module._Text(v.item) for v in originals]
        pair = (len(items) - 1, len(items) - 2)
        chosen = {(i, j): f for i, j, f in merge_module._pairs_that_may_match(places, texts)}
        assert chosen[pair] is far
