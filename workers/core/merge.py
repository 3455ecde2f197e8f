"""Story identity: which versions of one bucket form which story, and what each story shows.

A bucket holds the distinct versions first published in one minute (usually one story's), within
a story's budget (below). The stories are not grown greedily one arrival at a time; they are
recomputed from the bucket's SET of versions by :func:`group_versions`, a pure function, and
then reconciled with the stories already published (their keys are never renamed). So the same
versions end up in the same stories whatever order they arrive in.

The rules, in the order they decide:

1. Originals (versions without an update marker) anchor stories. Two originals are one story
   only when they share a provider id, or one is a near-duplicate re-send of the other (same
   first dateline place, word-bigram Jaccard similarity >= :data:`NEAR_DUPLICATE`, and
   headlines that name the same things: :func:`_name_other_things`).
2. An update joins the story that shares its provider id. Otherwise the bucket's one story
   when its original has the update's first dateline place, even with no text in common (a
   flash and its rewritten update). Otherwise the evidence decides, in tiers (:func:`_claim`):
   paragraphs of the update a story already has (for a story datelined nowhere or of another
   place that the update names too, at least two, or the one its originals have); then any
   shared non-boilerplate text (word trigrams) or headline words (at least two, each worth
   :data:`HEADLINE_WORD_WEIGHT` trigrams) of a story of its place; then
   :data:`STRONG_EVIDENCE` shared with a story datelined nowhere; then a kept paragraph and
   headline words of a story of a place the update's dateline names after its own; then the
   place alone. Within a tier: the most evidence, the same sign-off, shared authors, the
   earliest original.
   Places compare by their words (:func:`keys.same_place`: "гр. Пловдив" is "Пловдив"); only
   where no original has the same words does a spelling with an abbreviated word match
   (:func:`keys.abbreviated_place`).
3. Boilerplate is never evidence: the lines in :data:`BOILERPLATE` and every paragraph that two
   different originals of the bucket share.
4. An update no story claims waits in a story of its own place until its original arrives,
   with the waiting updates of that place it shares text, a headline word or a reporter
   with (:func:`_waiting_story_of`).
5. A story's canonical version is its newest by :func:`version_order`: a kill (pubStatus
   canceled) over any other version, then the format's version number
   where it has one (NewsML-G2, ninjs; compared as numbers), version time, then an
   update over an original, then the content hash.

A story's state has a fixed budget: it keeps its originals and its :data:`KEEP_UPDATES` newest
updates in full. Older updates are folded: they stay members of the story (counted, their
content hashes remembered so a re-delivery stays a duplicate, their provider ids kept on the
story's anchor), but their text is dropped, as each newer update of a wire story repeats it.

When an arrival moves versions between stories (an update that came before its original, while
another original of the same minute and place was there), the stories that changed get events
too: ``story.regrouped`` for one that lost or gained versions, ``story.merged`` for a key whose
versions all went to another story.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from workers.core import keys
from workers.core.model import WireItem

# Two originals whose word bigrams agree this much are one original sent twice (a typo fixed
# in a seed-sized item, a comma moved). One changed word in a 20-word flash still scores
# about 0.82; a short flash that fixes a typo in its headline and lead is caught by typos.
NEAR_DUPLICATE = 0.8
# A re-send whose words differ from the other's by typos only (:func:`_only_typos_apart`) is
# one, however short: at most this many different words fixed, each this long at least.
MAX_TYPO_FIXES = 3
MIN_TYPO_WORD = 4
# An update whose first place no original has joins a story only on text: at least
# MIN_KEPT_PARAGRAPHS of its paragraphs must be kept, each with at least KEPT_PARAGRAPH of its
# word trigrams in the story. One shared paragraph (a standing notice) is not enough, unless
# it is all the story has: a one-paragraph flash whose update keeps its lead.
KEPT_PARAGRAPH = 0.5
MIN_KEPT_PARAGRAPHS = 2

BOILERPLATE = (
    "Очаквайте подробности.",
    "Очаквайте подробности до минути.",
    "Очаквайте още подробности.",
    "Подробностите следват.",
    "Следва.",
    "Следва продължение.",
    "Новината се допълва.",
    "Информацията се допълва.",
)
BOILERPLATE_IDS = frozenset(keys.paragraph_id(line) for line in BOILERPLATE)

# The state budget of one story (see the module docstring): updates kept in full, content
# hashes remembered of the folded ones (a re-delivery of a version older than those is taken
# for a late version), and provider ids the story's anchor keeps for the folded ones.
KEEP_UPDATES = 10
FOLDED_HASHES = 1024
FOLDED_HASH_CHARS = 16
MAX_PROVIDER_IDS = 64


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    BACKFILLED = "backfilled"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """What a story's history says of each version: enough to list it, not the full text."""

    content_hash: str
    version_created: datetime
    headline: str
    is_update: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "contentHash": self.content_hash,
            "versionCreated": self.version_created.isoformat(),
            "headline": self.headline,
            "isUpdate": self.is_update,
        }


@dataclass(frozen=True, slots=True)
class Version:
    """One distinct version of the bucket: the parsed item and the provider ids it came with.

    ``provider_ids`` gathers the ids of every delivery of this content, so a re-delivery in an
    envelope teaches the version (and its story) the article id.
    """

    item: WireItem
    content_hash: str
    provider_ids: frozenset[str] = frozenset()
    # Derived once: every grouping sorts versions and lists their records many times over.
    record: VersionRecord = field(init=False, repr=False, compare=False)
    order: tuple[bool, int, datetime, bool, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        item = self.item
        when = item.version_created
        record = VersionRecord(self.content_hash, when, item.headline, item.is_update)
        object.__setattr__(self, "record", record)
        # A kill outranks every other version (it ends the story, whatever came after it;
        # "withheld" does not: a later version lifts it); then a format's own version
        # number (NewsML-G2, ninjs; 0 for BTA).
        order = (item.canceled, item.version or 0, when, item.is_update, self.content_hash)
        object.__setattr__(self, "order", order)

    @classmethod
    def of(cls, item: WireItem) -> Version:
        ids = frozenset({item.provider_id}) if item.provider_id else frozenset()
        return cls(item, keys.content_hash(item), ids)

    @property
    def first_place(self) -> keys.PlaceName | None:
        """The first dateline place as the merge compares it (:func:`keys.same_place`)."""
        return keys.matching_place(self.item)

    def to_dict(self) -> dict[str, Any]:
        return {
            "contentHash": self.content_hash,
            "providerIds": sorted(self.provider_ids),
            "item": self.item.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Version:
        return cls(
            WireItem.from_dict(data["item"]),
            data["contentHash"],
            frozenset(data["providerIds"]),
        )


def version_order(version: Version) -> tuple[bool, int, datetime, bool, str]:
    """Older first: a kill last of all, then by the format's version number, version
    time, an original before an update, and the content hash."""
    return version.order


@dataclass(frozen=True, slots=True)
class Folded:
    """The updates a story no longer keeps in full: how many, and their short content hashes
    (the newest :data:`FOLDED_HASHES`, oldest first)."""

    count: int = 0
    hashes: tuple[str, ...] = ()

    def knows(self, content_hash: str) -> bool:
        return content_hash[:FOLDED_HASH_CHARS] in self.hashes

    def plus(self, folded: Iterable[str]) -> Folded:
        added = [h[:FOLDED_HASH_CHARS] for h in folded]
        if not added:
            return self
        return Folded(self.count + len(added), (*self.hashes, *added)[-FOLDED_HASHES:])


NOTHING_FOLDED = Folded()


@dataclass(frozen=True, slots=True)
class StoryEntry:
    """A published story of the bucket: its key, the content hashes in it, its event count.

    A retired entry also names the live story its versions went to (``merged_into``).
    """

    key: str
    members: frozenset[str]
    revision: int
    merged_into: str | None = None
    folded: Folded = NOTHING_FOLDED

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "members": sorted(self.members),
            "revision": self.revision,
        }
        if self.folded.count:
            out["folded"] = [self.folded.count, list(self.folded.hashes)]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoryEntry:
        count, hashes = data.get("folded", (0, ()))
        folded = Folded(int(count), tuple(hashes)) if count else NOTHING_FOLDED
        return cls(data["key"], frozenset(data["members"]), int(data["revision"]), None, folded)


@dataclass(frozen=True, slots=True)
class Story:
    """A story as consumers see it: key, kept versions oldest first, the canonical (newest) item."""

    key: str
    versions: tuple[VersionRecord, ...]
    newest: WireItem
    revision: int = 1
    # Older updates the story holds but no longer lists (see Folded).
    omitted: int = 0

    @property
    def total(self) -> int:
        """Every version of the story, listed or folded."""
        return len(self.versions) + self.omitted

    @property
    def newest_record(self) -> VersionRecord:
        return self.versions[-1]

    @property
    def members(self) -> frozenset[str]:
        return frozenset(v.content_hash for v in self.versions)


@dataclass(frozen=True, slots=True)
class Bucket:
    """All versions first published in one minute, and the stories published from them.

    ``retired`` holds the keys merged into another story, with the versions they had, their
    last event's number and the live key they point at: a key is never given to another
    story, but comes back to life (its numbering going on) when a later arrival gives it its
    versions back.
    """

    versions: tuple[Version, ...] = ()
    stories: tuple[StoryEntry, ...] = ()
    retired: tuple[StoryEntry, ...] = ()

    def version(self, content_hash: str) -> Version | None:
        for version in self.versions:
            if version.content_hash == content_hash:
                return version
        return None

    @property
    def last_activity(self) -> datetime | None:
        """The newest version time of the bucket (folded versions are older than kept ones)."""
        return max((v.item.version_created for v in self.versions), default=None)

    def story(self, key: str) -> Story | None:
        """The consumer's view of one story of this bucket."""
        for entry in self.stories:
            if entry.key == key:
                return _view(entry, self._by_hash())
        return None

    def views(self) -> tuple[Story, ...]:
        by_hash = self._by_hash()
        return tuple(_view(entry, by_hash) for entry in self.stories)

    def _by_hash(self) -> dict[str, Version]:
        return {v.content_hash: v for v in self.versions}

    def to_dict(self) -> dict[str, Any]:
        return {
            "versions": [v.to_dict() for v in self.versions],
            "stories": [s.to_dict() for s in self.stories],
            "retired": [
                [s.key, sorted(s.members), s.revision, s.merged_into, *_folded_list(s.folded)]
                for s in self.retired
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bucket:
        return cls(
            tuple(Version.from_dict(v) for v in data["versions"]),
            tuple(StoryEntry.from_dict(s) for s in data["stories"]),
            tuple(_retired_entry(*row) for row in data["retired"]),
        )


def _folded_list(folded: Folded) -> list[Any]:
    return [folded.count, list(folded.hashes)] if folded.count else []


def _retired_entry(
    key: str, members: list[str], revision: int, into: str | None, *folded: Any
) -> StoryEntry:
    kept = Folded(int(folded[0]), tuple(folded[1])) if folded else NOTHING_FOLDED
    return StoryEntry(key, frozenset(members), int(revision), into, kept)


def _view(entry: StoryEntry, by_hash: dict[str, Version]) -> Story:
    return _story(entry, sorted((by_hash[h] for h in entry.members), key=version_order))


def _story(entry: StoryEntry, members: Sequence[Version]) -> Story:
    """The story of an entry whose kept versions are ``members``, sorted by version order."""
    return Story(
        entry.key,
        tuple(v.record for v in members),
        members[-1].item,
        entry.revision,
        entry.folded.count,
    )


class ChangeKind(StrEnum):
    """Why a story other than the arriving version's own one gets an event."""

    REGROUPED = "regrouped"  # versions moved in or out of it
    MERGED = "merged"  # all its versions joined another story; the key is retired
    CREATED = "created"  # a story split off by the arrival, without the arriving version


@dataclass(frozen=True, slots=True)
class Change:
    """An event the arrival causes for a story other than the one it joined.

    ``key`` and ``revision`` are the event's story key and version; ``story`` is what the event
    shows (for ``merged``: the surviving story, whose key is ``merged_into``); ``previous`` is
    the story under ``key`` before the arrival (None for ``created``).
    """

    kind: ChangeKind
    key: str
    revision: int
    story: Story
    previous: Story | None
    merged_into: str | None = None


@dataclass(frozen=True, slots=True)
class Merged:
    """The result of merging one version: new bucket, what happened, and the story before/after.

    ``others`` lists the stories an arrival regrouped (usually none).
    """

    bucket: Bucket
    outcome: Outcome
    story: Story
    previous: Story | None
    record: VersionRecord
    others: tuple[Change, ...] = ()
    # False only for a plain duplicate; a duplicate that brings a provider id changes state.
    state_changed: bool = True


# --- the grouping: a pure function of the set of versions -------------------------------------


@lru_cache(maxsize=8192)
def _paragraph_trigrams(paragraph: str) -> frozenset[int]:
    """The paragraph's word trigrams, hashed. Only counted in memory, never stored, so
    Python's per-process string hash is fine here (unlike the keys in keys.py)."""
    words = keys.words(paragraph)
    return frozenset(hash(gram) for gram in zip(words, words[1:], words[2:], strict=False))


class _Text:
    """An item's words and word bigrams, each worked out at most once: a bucket's grouping
    compares an original with every other of its place, and a text split again for each pair
    made that quadratic in words as well as in originals."""

    __slots__ = ("_bigrams", "_words", "item")

    def __init__(self, item: WireItem) -> None:
        self.item = item
        self._words: list[str] | None = None
        self._bigrams: frozenset[tuple[str, str]] | None = None

    @property
    def words(self) -> list[str]:
        """The case-folded words of the headline and the paragraphs, in order."""
        if self._words is None:
            self._words = keys.words(" ".join((self.item.headline, *self.item.paragraphs)))
        return self._words

    @property
    def bigrams(self) -> frozenset[tuple[str, str]]:
        if self._bigrams is None:
            self._bigrams = frozenset(itertools.pairwise(self.words))
        return self._bigrams


def _bigrams(item: WireItem) -> frozenset[tuple[str, str]]:
    return _Text(item).bigrams


def near_duplicate(a: WireItem, b: WireItem) -> bool:
    """One original sent twice with small edits: same first place, nearly the same words."""
    if not keys.places_match(keys.matching_place(a), keys.matching_place(b)):
        return False
    return _same_words(_Text(a), _Text(b))


def _same_words(a: _Text, b: _Text) -> bool:
    """The word test of :func:`near_duplicate`."""
    left, right = a.bigrams, b.bigrams
    if not left or not right:
        return left == right and a.item.headline.casefold() == b.item.headline.casefold()
    shared = len(left & right)
    return _words_alike(
        a, b, bigrams_far=shared / (len(left) + len(right) - shared) < NEAR_DUPLICATE
    )


def _words_alike(a: _Text, b: _Text, *, bigrams_far: bool) -> bool:
    """The rest of :func:`_same_words` once it is known whether the texts' bigrams agree less
    than :data:`NEAR_DUPLICATE` (both have some): then only typos may make them alike; and
    alike, they must not name other things."""
    if bigrams_far and not _only_typos_apart(a, b):
        return False
    return not _name_other_things(a.item, b.item)


def _only_typos_apart(a: _Text, b: _Text) -> bool:
    """Whether the two texts are the same words but for a few typos fixed: each word of one
    stands where the other has it, or with a typo (:func:`_misspelt`), in at most
    :data:`MAX_TYPO_FIXES` different words.

    A short flash re-sent with one word fixed in its headline and its lead loses four of its
    twenty bigrams, which puts it below :data:`NEAR_DUPLICATE`; a word count that changed, a
    number, a word changed in another way, or a word either item capitalises is no typo fixed:
    names one swap apart are other people and places ("Кристина", "Кристиан"; "Варна",
    "Врана").
    """
    left, right = a.words, b.words
    if len(left) != len(right):
        return False
    fixes: set[tuple[str, str]] = set()
    for pair in zip(left, right, strict=True):
        if pair[0] != pair[1]:
            fixes.add(pair)
            if len(fixes) > MAX_TYPO_FIXES:  # most pairs: other texts, told apart at once
                return False
    if not fixes:
        return False
    texts = [" ".join((t.item.headline, *t.item.paragraphs)) for t in (a, b)]
    capitalised = {w.casefold() for text in texts for w in _WORD.findall(text) if w[0].isupper()}
    return all(_misspelt(x, y) and x not in capitalised and y not in capitalised for x, y in fixes)


_WORD = re.compile(r"\w+")


def _misspelt(word: str, other: str) -> bool:
    """Whether two words of :data:`MIN_TYPO_WORD` letters or more, with no digit, are one typo
    apart: two letters next to each other swapped ("затврои", "затвори"), or a letter doubled
    ("пъттно", "пътно").

    Not a letter changed, added or dropped otherwise: in Bulgarian that is most often another
    word ("момче", "момиче"; "Колев", "Колева"; "обвинен", "обвинена"; "Бяла", "Бяло"), and a
    number changed is news.
    """
    if min(len(word), len(other)) < MIN_TYPO_WORD or not (word.isalpha() and other.isalpha()):
        return False
    start = 0
    while start < min(len(word), len(other)) and word[start] == other[start]:
        start += 1
    end_word, end_other = len(word), len(other)
    while end_word > start and end_other > start and word[end_word - 1] == other[end_other - 1]:
        end_word -= 1
        end_other -= 1
    apart = (word[start:end_word], other[start:end_other])
    if len(apart[0]) == len(apart[1]) == 2:
        return apart[0] == apart[1][::-1]  # swapped
    longer, shorter = (word, other) if len(word) > len(other) else (other, word)
    if len(longer) != len(shorter) + 1:
        return False
    return any(  # a letter more that repeats the one before it: doubled
        longer[i] == longer[i - 1] and longer[:i] + longer[i + 1 :] == shorter
        for i in range(1, len(longer))
    )


def _name_other_things(a: WireItem, b: WireItem) -> bool:
    """Whether two originals are about different things: a name that one's headline and text
    both have and the other never writes, in its headline, text or dateline. One template
    filled in twice ("Червен код ... в област Бургас", "... в област Ямбол"; "... Видин",
    "... Видин и Монтана").

    A re-send fixes a typo, a number or a comma, or rewrites its headline: a name or a tag
    its headline alone gains or loses ("... в Русе", "ОДМВР - Варна", "- ВИДЕО") is no other
    story. One whose text too names another (a name fixed throughout, "Петров" as "Петкова")
    is taken for a story of its own: two stories show both versions, where one story would
    hide a region's warning behind the other's.
    """
    return _names_missing_from(a, b) or _names_missing_from(b, a)


def _names_missing_from(item: WireItem, other: WireItem) -> bool:
    """Whether a name of ``item``'s headline that its text has too is no word of ``other``
    (in any inflection) nor an abbreviation in its headline ("Стара" and "Ст.")."""
    names = _names(item.headline) + _names_opening_clauses(item)
    if not names:
        return False
    own = set(keys.words(" ".join(item.paragraphs)))
    words = set(keys.words(" ".join((other.headline, *other.paragraphs, *other.places))))
    shortened = _abbreviations(other.headline)
    return any(
        _written_in(name, own) and not _written_in(name, words) and not name.startswith(shortened)
        for name in names
    )


def _written_in(name: str, words: set[str]) -> bool:
    return name in words or any(_one_name(name, word) for word in words)


# What ends a headline's clause, so that the next word is capitalised as the clause's first:
# a colon, "!", "?", or a full stop after a word of four characters or more ("с. Лозен" and
# "гр. Русе" go on).
_CLAUSE_END = re.compile(r"(?:(?<=\w{4})\.|[:!?])\s")
# A word, and the dot after it if any: "Ст." in "Ст. Загора" is an abbreviation, no name.
_TOKEN = re.compile(r"(\w+)(\.?)")
MAX_ABBREVIATION = 3
# A word in capitals this long is a tag or a shout ("ВИДЕО", "ИЗВЪНРЕДНО"), not an acronym.
MIN_TAG = 5


@lru_cache(maxsize=4096)
def _names(headline: str) -> tuple[str, ...]:
    """The capitalised words of a headline that open no clause (names, places, acronyms),
    case-folded. A headline in capitals has none that can be told from its other words."""
    if headline.upper() == headline:
        return ()
    names: list[str] = []
    for clause in _CLAUSE_END.split(headline):
        names += [
            word.casefold()
            for word, dot in _TOKEN.findall(clause)[1:]
            if _capitalised(word, dot) and not (len(word) >= MIN_TAG and word.isupper())
        ]
    return tuple(names)


def _names_opening_clauses(item: WireItem) -> tuple[str, ...]:
    """The words opening a clause of the headline that its text writes capitalised where no
    clause opens: a name, case-folded ("Кърджали остава без ток" with "Части от Кърджали";
    "Бургас: Оранжев код" with "за област Бургас"). A headline in capitals has none."""
    if item.headline.upper() == item.headline:
        return ()
    openers = [
        word.casefold()
        for clause in _CLAUSE_END.split(item.headline)
        for word, dot in _TOKEN.findall(clause)[:1]
        if _capitalised(word, dot)
    ]
    if not openers:
        return ()
    written = {name for paragraph in item.paragraphs for name in _names_inside_clauses(paragraph)}
    return tuple(word for word in openers if _written_in(word, written))


@lru_cache(maxsize=4096)
def _names_inside_clauses(text: str) -> frozenset[str]:
    """The capitalised words of a text that open no clause, case-folded."""
    return frozenset(
        word.casefold()
        for clause in _CLAUSE_END.split(text)
        for word, dot in _TOKEN.findall(clause)[1:]
        if _capitalised(word, dot)
    )


@lru_cache(maxsize=4096)
def _abbreviations(headline: str) -> tuple[str, ...]:
    """The capitalised words of a headline written short with a dot ("Ст." of "Ст. Загора"),
    case-folded."""
    return tuple(
        word.casefold()
        for word, dot in _TOKEN.findall(headline)
        if _abbreviated(word, dot) and word[0].isupper()
    )


def _abbreviated(word: str, dot: str) -> bool:
    """A word of at most :data:`MAX_ABBREVIATION` letters with a dot after it ("Ст.")."""
    return bool(dot) and len(word) <= MAX_ABBREVIATION


def _capitalised(word: str, dot: str) -> bool:
    """A capitalised word that is no abbreviation: what may be a name."""
    return word[0].isupper() and not _abbreviated(word, dot)


# A name inflected: the name, or all its letters but the last, and one of these endings
# ("Бургаска", "Пловдивска", "Габровски", "Петрова"), when it has six letters or
# more; a shorter one, and an acronym, only as written ("Нигер" is not "Нигерия", "НСИ" not
# "НОИ"; "София" not "Софийска": the city is not the province). Not "Крумово" and
# "Крумовград", nor "Австрия" and "Австралия".
MIN_INFLECTED_NAME = 6
_NAME_ENDINGS = frozenset(
    (
        *("а", "я", "о", "е", "и", "ът", "ят", "та", "то", "те", "ия", "ци", "ец"),
        *(f"{lead}{end}" for lead in ("", "й", "н", "ен") for end in ("ска", "ски", "ско")),
        *(f"{lead}{end}" for lead in ("", "й", "н", "ен") for end in ("ския", "ският")),
        *(f"{lead}{end}" for lead in ("", "й", "н", "ен") for end in ("ската", "ското", "ските")),
    )
)


def _one_name(name: str, word: str) -> bool:
    """Whether ``word`` is ``name`` or a form of it (:data:`_NAME_ENDINGS`)."""
    if name == word:
        return True
    shorter, longer = (name, word) if len(name) <= len(word) else (word, name)
    if len(shorter) < MIN_INFLECTED_NAME:
        return False
    if longer.startswith(shorter) and longer[len(shorter) :] in _NAME_ENDINGS:
        return True
    stem = shorter[:-1]
    return longer.startswith(stem) and longer[len(stem) :] in _NAME_ENDINGS


def _text(version: Version, boilerplate: frozenset[str]) -> set[int]:
    """The version's evidence: trigrams of its paragraphs that are not boilerplate."""
    out: set[int] = set()
    for paragraph in version.item.paragraphs:
        if keys.paragraph_id(paragraph) not in boilerplate:
            out |= _paragraph_trigrams(paragraph)
    return out


@dataclass(slots=True)
class _Group:
    """A story being formed: its originals, the updates that joined it, and their evidence.

    The text evidence (trigrams of non-boilerplate paragraphs) is computed only when a rule
    needs it (several stories of one place, or a place no original has): most updates join
    by id or place alone. Once computed it grows as updates join, so ranking an update
    against a story costs one set intersection, not a pass over the story's versions.
    """

    originals: list[Version]
    boilerplate: frozenset[str] = BOILERPLATE_IDS
    updates: list[Version] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    evidence: set[int] | None = None

    @classmethod
    def of(cls, originals: list[Version], boilerplate: frozenset[str]) -> _Group:
        group = cls([], boilerplate)
        for version in originals:
            group.add(version)
        return group

    def add(self, version: Version) -> None:
        (self.updates if version.item.is_update else self.originals).append(version)
        self.ids |= version.provider_ids
        if self.evidence is not None:
            self.evidence |= _text(version, self.boilerplate)

    def absorb(self, other: _Group) -> None:
        self.originals += other.originals
        self.updates += other.updates
        self.ids |= other.ids
        self.evidence = None

    @property
    def text(self) -> set[int]:
        if self.evidence is None:
            self.evidence = set().union(*(_text(v, self.boilerplate) for v in self.members))
        return self.evidence

    @property
    def members(self) -> list[Version]:
        return [*self.originals, *self.updates]

    @property
    def anchor(self) -> Version:
        """The version that names the story: its earliest original, else its earliest update."""
        return min(self.originals or self.updates, key=version_order)

    @property
    def place(self) -> keys.PlaceName | None:
        return self.anchor.first_place


def group_versions(
    versions: Iterable[Version], newcomer: str | None = None
) -> list[frozenset[str]]:
    """Which versions form which story, as sets of content hashes; order-free by construction.

    Every step walks the versions in :func:`version_order`, never in arrival order, and
    provider ids join groups at the end, whichever version carried them. ``newcomer``, the
    content hash of the version that just arrived, changes no result: it lets a crowded
    bucket's grouping of originals be extended rather than worked out again.
    """
    ordered = sorted(versions, key=version_order)
    anchored = _group_originals([v for v in ordered if not v.item.is_update], newcomer)
    boilerplate = _boilerplate(anchored)
    groups = [_Group.of(originals, boilerplate) for originals in anchored]
    orphans: list[_Group] = []
    for update in (v for v in ordered if v.item.is_update):
        target = _claim(groups, update, boilerplate)
        if target is None:
            target = next((g for g in orphans if g.ids & update.provider_ids), None)
        if target is None:
            target = _waiting_story_of(orphans, update, boilerplate)
        if target is None:
            target = _Group([], boilerplate)
            orphans.append(target)
        target.add(update)
    return [frozenset(v.content_hash for v in g.members) for g in _join_by_id(groups, orphans)]


def _waiting_story_of(
    orphans: list[_Group], update: Version, boilerplate: frozenset[str]
) -> _Group | None:
    """The story of updates whose original has not arrived that this update belongs to, or
    None: it waits in a story of its own.

    Two stories of one minute and place may both lose their originals (refused, or sent
    before the stream started): the place alone would show one story's update under the
    other's key. Updates of one story repeat its text, or its headline's words, or come from
    its reporter: a story of its place qualifies that the update keeps a paragraph of,
    shares :data:`STRONG_EVIDENCE` trigrams or a headline word with (its place's name
    aside: "Кукленско" of two updates on one crash), or whose byline names one of the
    update's authors. So this can only keep apart what the place alone would join: two
    rewritten updates of one lost flash that share none of it wait apart.
    """
    text = _text(update, boilerplate)
    # Not its datelines' places: every story of the place may name it.
    own = _headline_stems(update.item.headline) - _headline_stems(" ".join(update.item.places))
    authors = set(update.item.authors)
    best: tuple[Any, ...] | None = None
    chosen = None
    for group in _of_its_place(orphans, update):
        kept = _kept_paragraphs(update, group.text, boilerplate)
        stems = frozenset().union(*(_headline_stems(v.item.headline) for v in group.updates))
        headline = len(own & stems)
        trigrams = len(text & group.text)
        by_its_reporter = any(authors & set(v.item.authors) for v in group.updates)
        if not (kept or headline or trigrams >= STRONG_EVIDENCE or by_its_reporter):
            continue
        rank = _rank(group, update, (kept, trigrams + HEADLINE_WORD_WEIGHT * headline))
        if best is None or rank > best:
            best, chosen = rank, group
    return chosen


def _join_by_id(groups: list[_Group], orphans: list[_Group]) -> list[_Group]:
    """Stories that share a provider id are one story, whichever of their versions said so."""
    result: list[_Group] = []
    held: set[str] = set()  # every id in result: a group with none of them joins nothing
    for group in (*groups, *orphans):
        if held.isdisjoint(group.ids):
            result.append(group)
            held |= group.ids
            continue
        held |= group.ids
        joined = group
        for home in [g for g in result if g.ids & group.ids]:
            result.remove(home)
            home.absorb(joined)
            joined = home
        result.append(joined)
    return result


def _group_originals(originals: list[Version], newcomer: str | None = None) -> list[list[Version]]:
    """Originals that are one story (a shared provider id, a near-duplicate), joined.

    ``originals`` come in :func:`version_order`; the groups come out in the order of their
    first members, each in that order, whichever order the joins were found in.
    """
    sets = _DisjointSets(len(originals))
    first_with: dict[str, int] = {}
    for i, version in enumerate(originals):
        for provider_id in version.provider_ids:
            sets.join(i, first_with.setdefault(provider_id, i))
    first_of: dict[int, int] = {}
    for i, label in enumerate(_near_duplicate_labels(originals, newcomer)):
        sets.join(i, first_of.setdefault(label, i))
    groups: dict[int, list[Version]] = {}
    for i, version in enumerate(originals):
        groups.setdefault(sets.root(i), []).append(version)
    return list(groups.values())


class _DisjointSets:
    """Indexes joined into sets (union-find): what a relation joins, directly or through
    others. A set's root is one of its members, whichever order the joins came in."""

    __slots__ = ("_parent",)

    def __init__(self, count: int) -> None:
        self._parent = list(range(count))

    def root(self, i: int) -> int:
        parent = self._parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        self._parent[self.root(i)] = self.root(j)


# A bucket's grouping is worked out from its set of versions on each arrival, which compares
# every two originals of one place: quadratic in a crowded minute's originals. Their
# near-duplicate sets are remembered for crowded buckets, by the originals' content hashes
# (which cover every word and place the comparison reads), so an arrival compares only the
# new original with the others. Below REMEMBER_FROM originals the pairs cost less than the
# memory; REMEMBERED_ORIGINALS (about 350 bytes each) bounds it.
REMEMBER_FROM = 8
REMEMBERED_ORIGINALS = 20_000


class _Remembered:
    """Near-duplicate sets by the set of originals' content hashes, the least recently used
    forgotten first once they hold more than :data:`REMEMBERED_ORIGINALS` originals in all.

    A bucket's sets from before an arrival stay until they are the least recently used: the
    worker may refuse to store an arrival's result (a state over its budget), and the next
    arrival extends the stored bucket's sets again.
    """

    def __init__(self) -> None:
        self._sets: OrderedDict[frozenset[str], dict[str, int]] = OrderedDict()
        self._originals = 0

    def get(self, originals: frozenset[str]) -> dict[str, int] | None:
        labels = self._sets.get(originals)
        if labels is not None:
            self._sets.move_to_end(originals)
        return labels

    def put(self, originals: frozenset[str], labels: dict[str, int]) -> None:
        self._sets[originals] = labels
        self._originals += len(labels)
        while self._originals > REMEMBERED_ORIGINALS and len(self._sets) > 1:
            _, forgotten = self._sets.popitem(last=False)
            self._originals -= len(forgotten)

    def sizes(self) -> list[int]:
        """How many originals each remembered set holds, least recently used first."""
        return [len(labels) for labels in self._sets.values()]

    def keys(self) -> list[frozenset[str]]:
        return list(self._sets)

    def clear(self) -> None:
        self._sets.clear()
        self._originals = 0


_near_duplicate_sets = _Remembered()


def _near_duplicate_labels(originals: list[Version], newcomer: str | None) -> list[int]:
    """A label per original (in ``originals``' order): equal labels, one near-duplicate set.

    The sets are the connected components of :func:`_near_duplicates` over the originals,
    which do not depend on the order the pairs are compared in: extending a remembered
    bucket's sets with ``newcomer`` (the content hash of the original that just arrived)
    gives what comparing every pair gives.
    """
    hashes = [v.content_hash for v in originals]
    if len(originals) < REMEMBER_FROM:
        return _labels_of_every_pair(originals)
    key = frozenset(hashes)
    labels = _near_duplicate_sets.get(key)
    if labels is None:
        if newcomer is not None and newcomer in key:
            # The bucket before this arrival: its sets are this one's but for the newcomer.
            known = _near_duplicate_sets.get(key - {newcomer})
            if known is not None:
                labels = _with_newcomer(originals, hashes.index(newcomer), known)
        if labels is None:
            labels = dict(zip(hashes, _labels_of_every_pair(originals), strict=True))
        _near_duplicate_sets.put(key, labels)
    return [labels[h] for h in hashes]


def _labels_of_every_pair(originals: list[Version]) -> list[int]:
    """Near-duplicate sets, as comparing every two originals gives them: one label per
    original.

    From :data:`REMEMBER_FROM` originals on (a crowded bucket's first arrival after a
    restart), only the pairs that can be near-duplicates are compared
    (:func:`_pairs_that_may_match`); the others cannot be, so the joins, and the labels, are
    those of every pair compared in the same order.
    """
    if len(originals) < REMEMBER_FROM:
        return _labels_comparing_every_pair(originals)
    sets = _DisjointSets(len(originals))
    # What the comparison reads, worked out once per original, and only for a shared place.
    places = [v.first_place for v in originals]
    texts = [_Text(v.item) for v in originals]
    for i, j, far in _pairs_that_may_match(places, texts):
        a, b = texts[i], texts[j]
        if _words_alike(a, b, bigrams_far=True) if far else _same_words(a, b):
            sets.join(i, j)
    return [sets.root(i) for i in range(len(originals))]


def _labels_comparing_every_pair(originals: list[Version]) -> list[int]:
    """Near-duplicate sets by the test on every two originals, the later against the earlier:
    a few originals' way, and what :func:`_labels_of_every_pair` must give (the tests and
    ``benchmarks.pair_index`` hold it to that)."""
    sets = _DisjointSets(len(originals))
    places = [v.first_place for v in originals]
    texts = [_Text(v.item) for v in originals]
    for later in range(len(originals)):
        for earlier in range(later):
            if _near_duplicates(places, texts, later, earlier):
                sets.join(later, earlier)
    return [sets.root(i) for i in range(len(originals))]


def _pairs_that_may_match(
    places: list[keys.PlaceName | None], texts: list[_Text]
) -> Iterator[tuple[int, int, bool]]:
    """``(later, earlier, far)`` for each pair of originals of one place whose texts may be
    near-duplicates, in the order of comparing every pair; ``far``: their bigrams agree less
    than :data:`NEAR_DUPLICATE`, so only typos can make them alike.

    Places first, as a pair comparison always went: only an original that shares its place
    with another has its text split. Two texts whose bigrams agree that much share one of
    their rarest bigrams: with the bigrams in one order (:func:`_rarest_shared_bigrams`), if
    ``shared`` of them are common, the first common one is among the first ``len - shared +
    1`` of each text, and ``shared`` is at least the threshold's share of the larger text
    (:func:`_prefix_size`). The typo test takes only texts of equal word counts, and a text
    without bigrams matches only another without. Every pair left out is one
    :func:`_near_duplicates` refuses; a crowded bucket's texts are indexed once instead of
    compared in every pair (seconds at a thousand originals of one place).
    """
    of_place = [
        {earlier for earlier in range(later) if keys.places_match(places[later], places[earlier])}
        for later in range(len(places))
    ]
    involved = sorted(set().union(*of_place, (i for i, others in enumerate(of_place) if others)))
    bigrams = {i: texts[i].bigrams for i in involved}
    rarest = _rarest_shared_bigrams(bigrams)
    by_rare: dict[int, list[int]] = {}
    by_length: dict[int, list[int]] = {}
    without: list[int] = []  # texts without bigrams
    for later in involved:
        of_text, others = bigrams[later], of_place[later]
        if not of_text:
            for earlier in without:
                if earlier in others:
                    yield later, earlier, False
            without.append(later)
            continue
        rare = rarest[later]
        alike: set[int] = set()
        for bigram in rare:
            alike.update(by_rare.get(bigram, ()))
        same_length = by_length.setdefault(len(texts[later].words), [])
        for earlier in sorted((others & alike) | others.intersection(same_length)):
            yield later, earlier, earlier not in alike
        for bigram in rare:
            by_rare.setdefault(bigram, []).append(later)
        same_length.append(later)


def _rarest_shared_bigrams(bigrams: dict[int, frozenset[tuple[str, str]]]) -> dict[int, list[int]]:
    """For each text, those of its rarest bigrams (:func:`_prefix_size` of them) that another
    text holds too, as ranks in one order of all the bigrams: those no other text holds first
    (they pair a text with none), then the fewest texts holding them, then as the sets iterate
    (one order for the call, which is all the prefix needs: it may differ between processes,
    and so may the pairs compared, but not the near-duplicates found).

    Only the bigrams that two texts share are counted and sorted: in a crowded bucket of
    unrelated texts nearly all are a text's own, and sorting them all made the index cost more
    than comparing every pair, below about 128 originals.
    """
    seen: set[tuple[str, str]] = set()
    common: set[tuple[str, str]] = set()
    for of_text in bigrams.values():
        common |= seen.intersection(of_text)
        seen |= of_text
    shared = {i: of_text & common for i, of_text in bigrams.items()}
    holders = Counter(itertools.chain.from_iterable(shared.values()))
    rank = {bigram: count << 32 | n for n, (bigram, count) in enumerate(holders.items())}
    rarest: dict[int, list[int]] = {}
    for i, of_text in bigrams.items():
        room = _prefix_size(len(of_text)) - (len(of_text) - len(shared[i]))  # after its own
        rarest[i] = sorted(map(rank.__getitem__, shared[i]))[: max(room, 0)]
    return rarest


def _prefix_size(bigrams: int) -> int:
    """How many of a text's rarest bigrams hold one of any text it is a near-duplicate of.

    Sharing at least NEAR_DUPLICATE of the union, a near-duplicate shares at least
    ``ceil(NEAR_DUPLICATE * bigrams)`` of this text's bigrams, so ``bigrams`` less that, plus
    one, suffice; the floor in its place keeps one more when the product is not whole.
    """
    return min(bigrams, bigrams - int(NEAR_DUPLICATE * bigrams) + 1)


def _with_newcomer(originals: list[Version], new: int, known: dict[str, int]) -> dict[str, int]:
    """``known``'s sets (the other originals') with ``originals[new]`` compared to each other
    original: the sets it is a near-duplicate of become one, with it."""
    places = [v.first_place for v in originals]
    texts = [_Text(v.item) for v in originals]
    joined = {
        known[originals[i].content_hash]
        for i in range(len(originals))
        if i != new and _near_duplicates(places, texts, max(i, new), min(i, new))
    }
    label = min(joined, default=max(known.values(), default=-1) + 1)
    # Keyed by this arrival's strings, which the remembered key holds too: one copy of each.
    return {
        v.content_hash: label
        if i == new or known[v.content_hash] in joined
        else known[v.content_hash]
        for i, v in enumerate(originals)
    }


def _near_duplicates(
    places: list[keys.PlaceName | None], texts: list[_Text], later: int, earlier: int
) -> bool:
    """Whether two originals (by index, the later first) are one re-sent: of one place,
    nearly the same words."""
    return keys.places_match(places[later], places[earlier]) and _same_words(
        texts[later], texts[earlier]
    )


def _boilerplate(groups: Sequence[list[Version]]) -> frozenset[str]:
    """Known boilerplate lines plus every paragraph that two different stories' originals share."""
    if len(groups) < 2:
        return BOILERPLATE_IDS
    stories_with: dict[str, int] = {}
    for group in groups:
        for pid in {keys.paragraph_id(p) for v in group for p in v.item.paragraphs}:
            stories_with[pid] = stories_with.get(pid, 0) + 1
    return BOILERPLATE_IDS | {pid for pid, count in stories_with.items() if count > 1}


def _of_its_place(groups: list[_Group], update: Version) -> list[_Group]:
    """The groups of the update's first place: spelt the same, else abbreviated."""
    return [groups[i] for i in _at(update.first_place, [g.place for g in groups])]


def _at(place: keys.PlaceName | None, places: list[keys.PlaceName | None]) -> list[int]:
    """The indexes of ``places`` that are ``place``: spelt the same, else abbreviated."""
    return [i for i, p in enumerate(places) if keys.same_place(p, place)] or [
        i for i, p in enumerate(places) if keys.abbreviated_place(p, place)
    ]


def _claim(groups: list[_Group], update: Version, boilerplate: frozenset[str]) -> _Group | None:
    """The story an update belongs to, or None when no original claims it yet.

    After a provider id, the evidence decides in tiers, the strongest first: paragraphs of
    the update a story already has; any text or headline words a story of its place shares;
    three headline words' worth shared with a story datelined nowhere; a story of a place its
    dateline names after its own, of which it keeps a paragraph and shares headline words; the
    place alone.
    """
    if update.provider_ids:
        by_id = [g for g in groups if g.ids & update.provider_ids]
        if by_id:
            return min(by_id, key=lambda g: version_order(g.anchor))
    places = [g.place for g in groups]
    placed = _at(update.first_place, places)
    # Stories of another place count only if the update names their place too ("Асеновград/
    # Пловдив"), or no story has its place (a story whose first place changed); stories
    # datelined nowhere (a flash sent before its place was known, a notice) may be of any.
    named = [keys.place_name(p) for p in update.item.places[1:]]
    elsewhere = [
        i
        for i, p in enumerate(places)
        if i not in placed
        and (p is None or not placed or any(keys.places_match(n, p) for n in named))
    ]
    if len(placed) == 1 and not elsewhere:
        return groups[placed[0]]  # the one story of the update's place, nothing to weigh
    nowhere = [i for i in elsewhere if places[i] is None]
    named_at = {i for i in elsewhere if any(keys.places_match(n, places[i]) for n in named)}
    text = _text(update, boilerplate)
    headline = _distinct_headline_words(groups, update)
    kept_of: dict[int, int] = {}
    shared_of: dict[int, int] = {}

    def kept(index: int) -> int:
        if index not in kept_of:
            kept_of[index] = _kept_paragraphs(update, groups[index].text, boilerplate)
        return kept_of[index]

    def shared(index: int) -> int:
        if index not in shared_of:
            group = groups[index]
            shared_of[index] = len(text & group.text) + HEADLINE_WORD_WEIGHT * headline(group)
        return shared_of[index]

    def kept_counts(index: int) -> int:
        """The paragraphs kept, unless they are one paragraph, not a lead of the story, and
        no headline word, against another story of the place whose headline words the update
        shares: a standing line that closes a desk's items ("Няма пострадали хора.",
        "Определението подлежи на обжалване ...") is then weighed as its trigrams."""
        if (
            kept(index) == 1
            and not headline(groups[index])
            and any(headline(groups[j]) for j in placed if j != index)
            and not _keeps_a_lead(groups[index], update, boilerplate)
        ):
            return 0
        return kept(index)

    tiers: tuple[Callable[[], list[int]], ...] = (
        lambda: (
            [i for i in placed if kept_counts(i)]
            + [i for i in elsewhere if _keeps_enough_of(groups[i], update, boilerplate)]
        ),
        lambda: [i for i in placed if shared(i)],
        lambda: [i for i in nowhere if shared(i) >= STRONG_EVIDENCE],
        lambda: [i for i in elsewhere if i in named_at and kept(i) and headline(groups[i])],
        lambda: placed,
    )
    for tier in tiers:
        told = tier()
        if told:
            best = max(told, key=lambda i: _rank(groups[i], update, (kept_counts(i), shared(i))))
            return groups[best]
    return None


def _keeps_enough_of(group: _Group, update: Version, boilerplate: frozenset[str]) -> bool:
    """Whether the update keeps at least two of the story's paragraphs, or the one its
    originals have (a one-paragraph flash): enough to follow it to another place."""
    needed = min(MIN_KEPT_PARAGRAPHS, _paragraphs_of(group, boilerplate))
    return bool(needed) and _kept_paragraphs(update, group.text, boilerplate) >= needed


def _keeps_a_lead(group: _Group, update: Version, boilerplate: frozenset[str]) -> bool:
    """Whether the update keeps the first paragraph of one of the story's originals."""
    leads: set[int] = set()
    for version in group.originals:
        if version.item.paragraphs:
            leads |= _paragraph_trigrams(version.item.paragraphs[0])
    return _kept_paragraphs(update, leads, boilerplate) > 0


def _paragraphs_of(group: _Group, boilerplate: frozenset[str]) -> int:
    """How many different paragraphs, boilerplate aside, the story's originals have.

    Originals only: the updates that joined before would raise the bar for the next one, and
    an update that joined the bucket's one story would push out another that joined by text.
    """
    return len(
        {
            pid
            for version in group.originals
            for paragraph in version.item.paragraphs
            if (pid := keys.paragraph_id(paragraph)) not in boilerplate
        }
    )


def _kept_paragraphs(update: Version, story_text: set[int], boilerplate: frozenset[str]) -> int:
    """How many of the update's paragraphs the story already has (most of their trigrams)."""
    kept = 0
    for paragraph in update.item.paragraphs:
        if keys.paragraph_id(paragraph) in boilerplate:
            continue
        grams = _paragraph_trigrams(paragraph)
        if grams and len(grams & story_text) >= KEPT_PARAGRAPH * len(grams):
            kept += 1
    return kept


# Words of five letters or more that say nothing of what a headline is about.
_HEADLINE_STOPWORDS = frozenset(
    [
        "срещу",
        "между",
        "според",
        "заради",
        "около",
        "преди",
        "после",
        "докато",
        "вместо",
        "въпреки",
        "относно",
        "поради",
        "отново",
        "всички",
        "всеки",
        "всяка",
        "всяко",
        "който",
        "която",
        "което",
        "които",
        "много",
        "повече",
        "вече",
        "също",
    ]
)
# Fewer shared headline words than this are chance ("Премиерът", "Премиерата": "преми"),
# unless one is a name in the update's headline (:func:`_distinct_headline_words`).
MIN_HEADLINE_WORDS = 2
# What a headline word only one story's headlines share with the update weighs, in shared word
# trigrams. The stock phrases of a wire ("съобщиха от пресцентъра на министерството на") make
# a few trigrams that stories of one minute share by chance; a headline's words say what the
# story is about. A kept sentence (a dozen trigrams and more) still outweighs a headline, and
# a kept paragraph outweighs both (:func:`_claim`).
HEADLINE_WORD_WEIGHT = 3
# The evidence a story datelined nowhere needs to take an update of a place (:func:`_claim`):
# three headline words' worth. A stock phrase or two headline words are met by chance.
STRONG_EVIDENCE = 3 * HEADLINE_WORD_WEIGHT


@lru_cache(maxsize=4096)
def _headline_stems(headline: str) -> frozenset[str]:
    """A headline's words of five letters or more, cut to five, stopwords left out: Bulgarian
    adds its articles and endings at a word's end ("Народният", "Народния": "народ")."""
    return frozenset(
        word[:5]
        for word in keys.words(headline)
        if len(word) >= 5 and word.isalpha() and word not in _HEADLINE_STOPWORDS
    )


def _distinct_headline_words(groups: list[_Group], update: Version) -> Callable[[_Group], int]:
    """How many headline words the update shares with one story's original headlines and no
    other's; 0 below :data:`MIN_HEADLINE_WORDS`, unless one of them is a name in the update's
    headline (:func:`_names`) other than its dateline's places, that no other story's
    originals write: "Видин" tells one region's warning from another's.

    A rewritten update shares no sentence with its original, but it mostly keeps what its
    headline is about ("Хамлет", "театър", "постановка"). Words the headlines of several
    competing stories share ("община") tell them apart no better than boilerplate. Only
    originals count: the updates that joined a story first would lend it the words that
    updates' headlines share with one another, and evidence would grow with them.
    """
    own = _headline_stems(update.item.headline)
    # Its names, but not its datelines' places: every story of a place may name it.
    names = own & _headline_stems(" ".join(_names(update.item.headline))) - _headline_stems(
        " ".join(update.item.places)
    )
    if len(own) < MIN_HEADLINE_WORDS and not names:
        return lambda _group: 0
    stems = [
        frozenset().union(*(_headline_stems(v.item.headline) for v in g.originals)) for g in groups
    ]
    seen: dict[str, int] = {}
    for group_stems in stems:
        for stem in group_stems & own:
            seen[stem] = seen.get(stem, 0) + 1
    text_stems: dict[int, frozenset[str]] = {}

    def named_by_no_other(stem: str, group: _Group) -> bool:
        """A name no other story's originals write, in their headlines or their text: a
        name two stories' texts have ("Радев") tells them apart no better than chance."""
        for other in groups:
            if other is not group:
                if id(other) not in text_stems:
                    text_stems[id(other)] = _text_stems(other)
                if stem in text_stems[id(other)]:
                    return False
        return True

    distinct = {}
    for group, group_stems in zip(groups, stems, strict=True):
        shared = {stem for stem in group_stems & own if seen[stem] == 1}
        enough = len(shared) >= MIN_HEADLINE_WORDS or any(
            named_by_no_other(stem, group) for stem in shared & names
        )
        distinct[id(group)] = len(shared) if enough else 0
    return lambda group: distinct[id(group)]


def _text_stems(group: _Group) -> frozenset[str]:
    """The first five letters of the words of five letters or more in a story's originals."""
    words = keys.words(" ".join(p for v in group.originals for p in v.item.paragraphs))
    return frozenset(word[:5] for word in words if len(word) >= 5)


def _rank(group: _Group, update: Version, evidence: tuple[int, int]) -> tuple[Any, ...]:
    """Higher is better: the evidence (paragraphs kept, then shared trigrams plus
    :data:`HEADLINE_WORD_WEIGHT` for each headline word only this story's headlines have), same
    sign-off, shared authors, then the earliest original."""
    item = update.item
    same_signoff = any(
        item.signoff is not None and v.item.signoff == item.signoff for v in group.members
    )
    authors = set(item.authors)
    shared_authors = max((len(authors & set(v.item.authors)) for v in group.members), default=0)
    return (
        evidence,
        same_signoff,
        shared_authors,
        _Descending(version_order(group.anchor)),
    )


@dataclass(frozen=True, slots=True, order=False)
class _Descending:
    """Wraps a sort key so that max() prefers the smallest one."""

    value: tuple[bool, int, datetime, bool, str]

    def __lt__(self, other: _Descending) -> bool:
        return self.value > other.value

    def __gt__(self, other: _Descending) -> bool:
        return self.value < other.value


# --- one arrival: group again, keep the published keys, say what changed ----------------------


def merge(bucket: Bucket | None, item: WireItem) -> Merged:
    """Merge one parsed version into its bucket. Pure: same inputs, same result."""
    arriving = Version.of(item)
    record = arriving.record
    if bucket is None or not (bucket.versions or bucket.stories or bucket.retired):
        return _first_version(arriving, record)
    known = bucket.version(arriving.content_hash)
    if known is None:
        holder = _folded_holder(bucket, arriving.content_hash)
        if holder is not None:  # a re-delivery of a version the story no longer keeps in full
            return Merged(bucket, Outcome.DUPLICATE, holder, holder, record, state_changed=False)
    if known is not None:
        learned = arriving.provider_ids - known.provider_ids
        if not learned:
            story = _story_of(bucket, arriving.content_hash)
            return Merged(bucket, Outcome.DUPLICATE, story, story, record, state_changed=False)
        # A re-delivery that brings an article id: remember it; it may join stories.
        grown = replace(known, provider_ids=known.provider_ids | learned)
        versions = tuple(grown if v is known else v for v in bucket.versions)
    else:
        joined = _join_the_only_story(bucket, arriving, record)
        if joined is not None:
            return joined
        versions = (*bucket.versions, arriving)
    return _regroup(bucket, versions, arriving, record, is_new=known is None)


def _first_version(arriving: Version, record: VersionRecord) -> Merged:
    """The first version of a bucket: one story under its plain key, nothing else to decide.

    Most arrivals open a bucket of their own; this is what :func:`_regroup` gives for a single
    version (``test_merge.py`` checks that it stays so), without the grouping machinery.
    """
    key = keys.base_story_key(arriving.item)
    entry = StoryEntry(key, frozenset((arriving.content_hash,)), 1)
    story = Story(key, (record,), arriving.item)
    return Merged(Bucket((arriving,), (entry,)), Outcome.CREATED, story, None, record)


def _join_the_only_story(bucket: Bucket, arriving: Version, record: VersionRecord) -> Merged | None:
    """A new update of a bucket's one story, from that story's first place: it joins it.

    The common arrival after a bucket's first. When the bucket holds exactly one live story
    (no retired key), with an original, every version in it, and room for one more update
    (nothing to fold), an update of the original's first place is claimed by it (rule 2), and
    joining only adds ids and text, so no other version moves (the bar for joining by text
    counts the originals' paragraphs alone: :func:`_paragraphs_of`). The result is what
    :func:`_regroup` gives (``test_properties.py`` checks that it stays so); anything else
    returns None and takes the full grouping.
    """
    if not arriving.item.is_update or len(bucket.stories) != 1 or bucket.retired:
        return None
    entry = bucket.stories[0]
    versions = bucket.versions
    if len(entry.members) != len(versions) or not entry.members.issuperset(
        v.content_hash for v in versions
    ):
        return None
    # The story's members are the bucket's versions: sort them once, for both views.
    members = sorted(versions, key=version_order)
    originals = [v for v in members if not v.item.is_update]
    if not originals or len(versions) - len(originals) + 1 > KEEP_UPDATES:
        return None
    anchor = originals[0]
    if not keys.places_match(arriving.first_place, anchor.first_place):
        return None
    if keys.plain_key(entry.key) != keys.base_story_key(anchor.item):
        return None
    previous = _story(entry, members)
    joined = StoryEntry(
        entry.key,
        entry.members | {arriving.content_hash},
        entry.revision + 1,
        None,
        entry.folded,
    )
    bisect.insort(members, arriving, key=version_order)
    story = _story(joined, members)
    outcome = Outcome.UPDATED if members[-1] is arriving else Outcome.BACKFILLED
    new_bucket = Bucket((*versions, arriving), (joined,), ())
    return Merged(new_bucket, outcome, story, previous, record)


def _folded_holder(bucket: Bucket, content_hash: str) -> Story | None:
    """The live story that folded this version (a retired key points at its survivor)."""
    for entry in (*bucket.stories, *bucket.retired):
        if entry.folded.knows(content_hash):
            story = bucket.story(entry.merged_into or entry.key)
            if story is not None:
                return story
    return None


def _story_of(bucket: Bucket, content_hash: str) -> Story:
    for entry in bucket.stories:
        if content_hash in entry.members:
            story = bucket.story(entry.key)
            assert story is not None
            return story
    raise KeyError(content_hash)


def _regroup(
    bucket: Bucket,
    versions: tuple[Version, ...],
    arriving: Version,
    record: VersionRecord,
    *,
    is_new: bool,
) -> Merged:
    by_hash = {v.content_hash: v for v in versions}
    newcomer = arriving.content_hash if is_new else None
    keyed, retired_into = _assign_keys(bucket, group_versions(versions, newcomer), by_hash)
    live = {entry.key for entry in bucket.stories}
    old = {entry.key: entry for entry in (*bucket.retired, *bucket.stories)}
    # A retired key's versions may since have been folded by its survivor: no view then.
    old_views = {
        key: _view(entry, by_hash)
        for key, entry in old.items()
        if entry.members and entry.members <= by_hash.keys()
    }
    own_key = next(key for key, members in keyed if arriving.content_hash in members)
    own_newest = max((by_hash[h] for h in dict(keyed)[own_key]), key=version_order)
    folded_keyed, by_hash = _fold(keyed, old, by_hash)
    versions = tuple(v for v in versions if v.content_hash in by_hash)
    versions = tuple(by_hash[v.content_hash] for v in versions)

    entries: list[StoryEntry] = []
    others: list[Change] = []
    outcome = Outcome.DUPLICATE
    for key, members, folded in folded_keyed:
        before = old.get(key)
        changed = (
            before is None
            or key not in live
            or before.members != members
            or before.folded != folded
        )
        revision = (before.revision if before else 0) + int(changed)
        entry = StoryEntry(key, members, revision, None, folded)
        entries.append(entry)
        before_view = old_views.get(key)
        if key == own_key and is_new:
            if before is None:
                outcome = Outcome.CREATED
            elif own_newest.content_hash == arriving.content_hash:
                outcome = Outcome.UPDATED
            else:
                outcome = Outcome.BACKFILLED
        elif changed:
            kind = ChangeKind.CREATED if before is None else ChangeKind.REGROUPED
            others.append(Change(kind, key, entry.revision, _view(entry, by_hash), before_view))

    kept = {key for key, _ in keyed}
    retired: list[StoryEntry] = []
    live_views = {entry.key: _view(entry, by_hash) for entry in entries}
    for entry in bucket.retired:
        if entry.key in kept:
            continue  # revived above
        target = entry.merged_into
        if target in retired_into:
            # Its survivor is being merged in turn: point it at the new survivor.
            target = retired_into[target]
            others.append(
                Change(
                    ChangeKind.MERGED,
                    entry.key,
                    entry.revision + 1,
                    live_views[target],
                    old_views.get(entry.key),
                    target,
                )
            )
            retired.append(replace(entry, revision=entry.revision + 1, merged_into=target))
        else:
            retired.append(entry)
    for key, survivor in sorted(retired_into.items()):
        gone = old[key]
        retired.append(replace(gone, revision=gone.revision + 1, merged_into=survivor))
        others.append(
            Change(
                ChangeKind.MERGED,
                key,
                gone.revision + 1,
                live_views[survivor],
                old_views.get(key),
                survivor,
            )
        )
    new_bucket = Bucket(versions, tuple(entries), tuple(sorted(retired, key=lambda e: e.key)))
    own = live_views[own_key]
    if outcome is Outcome.DUPLICATE:
        # Only a provider id was learned, or it moved other stories: no event of its own.
        return Merged(new_bucket, outcome, own, own, record, tuple(others))
    previous = old_views.get(own_key) if outcome is not Outcome.CREATED else None
    return Merged(new_bucket, outcome, own, previous, record, tuple(others))


def _fold(
    keyed: list[tuple[str, frozenset[str]]],
    old: dict[str, StoryEntry],
    by_hash: dict[str, Version],
) -> tuple[list[tuple[str, frozenset[str], Folded]], dict[str, Version]]:
    """Keep each story's originals and newest :data:`KEEP_UPDATES` updates; fold the rest.

    A folded update's provider ids move to the story's anchor (its earliest kept original,
    else its earliest kept update), so the story still answers to them.
    """
    by_hash = dict(by_hash)
    out: list[tuple[str, frozenset[str], Folded]] = []
    for key, grouped in keyed:
        before = old.get(key)
        folded = before.folded if before is not None else NOTHING_FOLDED
        members = grouped
        updates = sorted(
            (by_hash[h] for h in members if by_hash[h].item.is_update), key=version_order
        )
        dropped = updates[:-KEEP_UPDATES] if len(updates) > KEEP_UPDATES else []
        if dropped:
            members = grouped - {v.content_hash for v in dropped}
            folded = folded.plus(v.content_hash for v in dropped)
            anchor = min(
                (by_hash[h] for h in members),
                key=lambda v: (v.item.is_update, version_order(v)),
            )
            ids = set(anchor.provider_ids).union(*(v.provider_ids for v in dropped))
            if len(ids) > MAX_PROVIDER_IDS:  # keep the newest-looking: longest, then greatest
                ids = set(sorted(ids, key=lambda i: (len(i), i))[-MAX_PROVIDER_IDS:])
            by_hash[anchor.content_hash] = replace(anchor, provider_ids=frozenset(ids))
            for version in dropped:
                del by_hash[version.content_hash]
        out.append((key, members, folded))
    return out, by_hash


def _assign_keys(
    bucket: Bucket, groups: list[frozenset[str]], by_hash: dict[str, Version]
) -> tuple[list[tuple[str, frozenset[str]]], dict[str, str]]:
    """Give each group a key it had where it can; new keys for the rest.

    A key names a minute and a first place: a group can only keep a key of its own place (that
    of its earliest original, else of its earliest update). It keeps the key of the story that
    had its original (the plain key first, when stories joined); failing that, of the story
    that had most of its versions (a live key before a retired one). A group with none takes
    its plain key unless a story, live or retired, ever had it; else the plain key with a
    suffix. Live keys left without a group are retired into the group
    that holds most of their versions (``story.merged``). Groups come out in version order, so
    the order of the stored stories does not depend on arrival order; which key a story keeps
    does, where stories of one minute and place compete for the plain key (README, "Story
    keys and merging").
    """

    def originals(members: frozenset[str]) -> int:
        return sum(1 for h in members if not by_hash[h].item.is_update)

    def anchor(members: frozenset[str]) -> Version:
        return min(
            (by_hash[h] for h in members), key=lambda v: (v.item.is_update, version_order(v))
        )

    # The stories, live then retired, that had each version: a group meets only those.
    had: dict[str, list[tuple[int, StoryEntry]]] = {}
    for was_retired, entries in enumerate((bucket.stories, bucket.retired)):
        for entry in entries:
            for content_hash in entry.members:
                had.setdefault(content_hash, []).append((was_retired, entry))
    pairs = []
    for index, members in enumerate(groups):
        place_key = keys.base_story_key(anchor(members).item)
        met = {
            id(entry): (was_retired, entry)
            for h in members
            for was_retired, entry in had.get(h, ())
        }
        for was_retired, entry in met.values():
            if keys.plain_key(entry.key) == place_key:
                shared = members & entry.members
                suffixed = entry.key != place_key
                rank = (-originals(shared), suffixed, was_retired, -len(shared), entry.key)
                pairs.append((rank, index))
    key_of: dict[int, str] = {}
    taken: set[str] = set()
    for (*_, key), index in sorted(pairs):
        if index not in key_of and key not in taken:
            key_of[index] = key
            taken.add(key)
    order = sorted(
        range(len(groups)), key=lambda i: min(version_order(by_hash[h]) for h in groups[i])
    )
    given = {e.key for e in (*bucket.stories, *bucket.retired)}
    for index in order:
        if index not in key_of:
            fresh = _fresh_key(anchor(groups[index]), taken | given)
            key_of[index] = fresh
            taken.add(key_of[index])
    retired_into = {
        entry.key: key_of[max(order, key=lambda i: (len(groups[i] & entry.members), -i))]
        for entry in bucket.stories
        if entry.key not in taken
    }
    return [(key_of[i], groups[i]) for i in order], retired_into


def _fresh_key(anchor: Version, used: set[str]) -> str:
    """The plain story key, or, when a twin of this minute and place holds it, one with a suffix."""
    key = keys.base_story_key(anchor.item)
    width = 8
    while key in used:
        key = f"{keys.base_story_key(anchor.item)}-{anchor.content_hash[:width]}"
        width += 2
    return key
