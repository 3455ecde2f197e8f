"""Deterministic fingerprints: content hash, paragraph ids, bucket and story keys.

Nothing here uses Python's salted ``hash()``: every value must be the same in every process, so
a replay on another machine gives every story the key it had.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import orjson

from workers.core.isotime import isoformat
from workers.core.model import WireItem

_WORD = re.compile(r"\w+")


# What a reader sees, in a fixed order. A field added to WireItem changes no content hash
# (and so no eventId or stored state) until it is added here, with a new state format.
HASHED_FIELDS = (
    "provider",
    "headline",
    "is_update",
    "first_created",
    "updated",
    "authors",
    "photo",
    "places",
    "agency",
    "paragraphs",
    "signoff",
    "related",
)
# What the formats beyond BTA add (workers/core/formats/). They are hashed only when one is
# set, so a BTA item keeps the hash (and eventIds and stored state) it had before they existed.
FORMAT_HASHED_FIELDS = (
    "wire_format",
    "link",
    "version",
    "pub_status",
    "slugline",
    "language",
    "description",
    "ed_note",
    "take",
)
# Fields that are not content: the envelope says how an item travelled, not what it says.
UNHASHED_FIELDS = ("envelope",)


def content_hash(item: WireItem) -> str:
    """A hash of what a reader sees (:data:`HASHED_FIELDS`); layout whitespace does not count."""
    photo = item.photo
    fields: tuple[object, ...] = (
        item.provider,
        item.headline,
        item.is_update,
        isoformat(item.first_created),
        isoformat(item.updated) if item.updated else None,
        item.authors,
        (photo.caption, photo.credit) if photo else None,
        item.places,
        item.agency,
        item.paragraphs,
        item.signoff,
        [(isoformat(r.published), r.headline, r.lead) for r in item.related],
    )
    if item.wire_format is not None:
        link = item.link
        fields = (
            *fields,
            item.wire_format,
            (link.ref, isoformat(link.since)) if link else None,
            item.version,
            item.pub_status,
            item.slugline,
            item.language,
            item.description,
            item.ed_note,
            item.take,
        )
    return sha256_hex(orjson.dumps(fields))


def raw_sha256(raw: bytes) -> str:
    return sha256_hex(raw)


# hashlib lets go of the GIL to hash 2,048 bytes or more at once (CPython's
# HASHLIB_GIL_MINSIZE). In the worker another thread then takes it, and the event loop may
# wait for up to the switch interval (5 ms) to have it back, for a hash that takes 5 µs.
_GIL_HELD_CHUNK = 2047


def sha256_hex(data: bytes) -> str:
    """``hashlib.sha256(data).hexdigest()``, hashed in chunks that keep the GIL."""
    if len(data) <= _GIL_HELD_CHUNK:
        return hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    view = memoryview(data)
    for start in range(0, len(data), _GIL_HELD_CHUNK):
        digest.update(view[start : start + _GIL_HELD_CHUNK])
    return digest.hexdigest()


# The punctuation of wire text; none of it is a word character (a test checks). Made spaces,
# it leaves most paragraphs as words between spaces, which one isalnum() pass can confirm.
_WIRE_PUNCTUATION = tuple(",.;:!?\"'«»„“”()[]-–—…/")


def words(text: str) -> list[str]:
    """The case-folded words of a text (``\\w+`` runs): what paragraph ids and text evidence
    compare."""
    folded = _folded(text)
    return folded.split(" ") if folded is not None else _words_token_by_token(text)


def fold(text: str) -> str:
    """Words only, case-folded, single-spaced: the text a paragraph id hashes."""
    folded = _folded(text)
    return folded if folded is not None else " ".join(_words_token_by_token(text))


def _folded(text: str) -> str | None:
    """:func:`fold` for text of words, spaces and wire punctuation; None for any other text.

    Whole-string passes in C and no string per word: the punctuation made spaces, runs of
    spaces halved, the edges stripped. If the rest is alphanumeric, its space-separated
    tokens are exactly the ``\\w+`` runs (no space is a word character, every alphanumeric
    one is). Other text (empty, other blanks or signs, "_") takes the general path.
    """
    spaced = text.casefold()
    for mark in _WIRE_PUNCTUATION:
        if mark in spaced:  # a one-character search is a fast scan; most marks are absent
            spaced = spaced.replace(mark, " ")
    while "  " in spaced:
        spaced = spaced.replace("  ", " ")
    spaced = spaced.strip(" ")
    return spaced if spaced.replace(" ", "").isalnum() else None


def _words_token_by_token(text: str) -> list[str]:
    """:func:`words` for any text.

    Split at whitespace first, then run the regex only over the tokens that are not one word
    already: ``isalnum()`` is one C pass, where the regex tests Cyrillic letters one at a time.
    The same words: no whitespace character is a word character, and a token that
    ``isalnum()`` is one ``\\w+`` run (tests check both).
    """
    found: list[str] = []
    for token in text.casefold().split():
        if token.isalnum():
            found.append(token)
        else:
            found += _WORD.findall(token)
    return found


@lru_cache(maxsize=65536)
def paragraph_id(paragraph: str) -> str:
    """Stable id of a paragraph: case, punctuation and spacing edits keep the id."""
    digest = hashlib.blake2b(fold(paragraph).encode(), digest_size=6).hexdigest()
    return f"p{digest}"


def paragraph_ids(item: WireItem) -> tuple[str, ...]:
    return tuple(paragraph_id(p) for p in item.paragraphs)


def first_place(item: WireItem) -> str | None:
    """The first dateline place as story keys name it (case folded, spelling kept)."""
    return item.places[0].casefold() if item.places else None


@dataclass(frozen=True, slots=True)
class PlaceName:
    """A dateline place as the merge compares it: its words case folded (an abbreviated one,
    "в.", keeps its dot) and the kind of settlement a lower-case word in front named."""

    words: tuple[str, ...]
    settlement: str | None = None


def matching_place(item: WireItem) -> PlaceName | None:
    """The first dateline place as the merge compares it (:func:`same_place`)."""
    return place_name(item.places[0]) if item.places else None


# Lower-case words that say what kind of place follows: a town or a village ("гр. Пловдив",
# "с. Лозен"), a resort, a housing estate or a quarter ("к.к. Слънчев бряг", "ж.к. Люлин",
# "кв. Лозенец"), a locality, an island ("м. Пампорово", "о. Крит"), a province or a
# municipality ("обл. Бургас", "общ. Созопол"). "С. Петербург" is an abbreviated name.
SETTLEMENTS = {
    "гр.": "гр",
    "гр": "гр",
    "град": "гр",
    "с.": "с",
    "село": "с",
    "к.к.": "кк",
    "кк": "кк",
    "ж.к.": "жк",
    "жк": "жк",
    "кв.": "кв",
    "м.": "м",
    "о.": "о",
    "обл.": "обл",
    "общ.": "общ",
}
# Quotes around a part of a name ('Летище "Васил Левски"', „Васил Левски“): not its words.
_QUOTES = dict.fromkeys(map(ord, '"„“”«»'))
# An abbreviated word of a name: one to three letters and a dot ("В.", "Ст.", "Г.").
_ABBREVIATED = re.compile(r"^[^\W\d_]{1,3}\.$")


# The kind words written with a dot, longest first: they may be glued to the name they open
# ("к.к.Слънчев бряг", "гр.Пловдив").
_DOTTED_SETTLEMENTS = sorted((word for word in SETTLEMENTS if word.endswith(".")), key=len)[::-1]


# "к. к." and "ж. к.", spaced as many write them: the kind words "к.к." and "ж.к.".
_SPACED_KIND = re.compile(r"^([кж])\. +к\.")


def split_settlement(place: str) -> tuple[str | None, str]:
    """The kind of place a lower-case word in front names, and the name after it: "к.к.
    Слънчев бряг", "к. к. Слънчев бряг" and "к.к.Слънчев бряг" are ("кк", "Слънчев бряг");
    "Пловдив" is (None, "Пловдив"). A kind word alone names no place ("к.к." is (None,
    "к.к."))."""
    place = _SPACED_KIND.sub(r"\1.к.", place.strip())
    kind, _, rest = place.partition(" ")
    if kind in SETTLEMENTS and rest.strip():
        return SETTLEMENTS[kind], rest.strip()
    for word in _DOTTED_SETTLEMENTS:
        if place.startswith(word) and place[len(word) : len(word) + 1].isupper():
            return SETTLEMENTS[word], place[len(word) :]
    return None, place


@lru_cache(maxsize=4096)
def place_name(place: str) -> PlaceName:
    """The words of a place name: case, hyphens and spacing do not count ("Санкт-Петербург" is
    "Санкт Петербург"; "В.Търново" is "В. Търново")."""
    settlement, place = split_settlement(place)  # "к.к. Слънчев бряг": its dots split it below
    tokens = place.translate(_QUOTES).replace(".", ". ").replace("-", " ").split()
    if settlement is None and len(tokens) > 1 and tokens[0] in SETTLEMENTS:
        settlement = SETTLEMENTS[tokens[0]]
        tokens = tokens[1:]
    words = tuple(
        token.casefold() if _ABBREVIATED.match(token) else token.casefold().rstrip(".")
        for token in tokens
    )
    return PlaceName(words, settlement)


def same_place(a: PlaceName | None, b: PlaceName | None) -> bool:
    """The same words; a settlement word on one side only does not count ("гр. Пловдив" is
    "Пловдив"), two different ones do ("с. Бяла" is not "гр. Бяла"). No place is no place."""
    if a is None or b is None:
        return a is b
    return a.words == b.words and _settlements_agree(a, b)


def abbreviated_place(a: PlaceName | None, b: PlaceName | None) -> bool:
    """The same place with a word abbreviated on one side: "В. Търново" and "Велико Търново";
    not "Стара Загора" and "Нова Загора", nor "Кувейт Сити" and "Канзас Сити"."""
    if a is None or b is None or len(a.words) != len(b.words) or not _settlements_agree(a, b):
        return False
    shortened = False
    for left, right in zip(a.words, b.words, strict=True):
        if left == right:
            continue
        short, full = (left, right) if left.endswith(".") else (right, left)
        if not short.endswith(".") or full.endswith(".") or not full.startswith(short[:-1]):
            return False
        shortened = True
    return shortened


def places_match(a: PlaceName | None, b: PlaceName | None) -> bool:
    return same_place(a, b) or abbreviated_place(a, b)


def _settlements_agree(a: PlaceName, b: PlaceName) -> bool:
    return a.settlement is None or b.settlement is None or a.settlement == b.settlement


def _minute(item: WireItem) -> str:
    return _utc_minute(item.first_created)


@lru_cache(maxsize=4096)
def _utc_minute(when: datetime) -> str:
    """Every key of an arrival names its minute several times: format each minute once.

    Field by field, not with ``strftime``, which is several times slower and would write
    year 99 as "99" (the year always takes four digits: a key that :func:`bucket_minute`
    could not read back, expiry would never see)."""
    utc = when.astimezone(UTC)
    return f"{utc.year:04d}{utc.month:02d}{utc.day:02d}T{utc.hour:02d}{utc.minute:02d}Z"


def bucket_key(item: WireItem) -> str:
    """Where every version of a story meets: provider plus first-published minute (UTC).

    An update keeps its original's first-published time, so all versions share this key and
    land in one partition and one table entry, whichever raw partition they came from. A
    format that names its stories (:class:`StoryLink`) puts each story in a bucket of its own:
    provider, the link's minute, and a digest of the link.
    """
    link = item.link
    if link is None:
        return f"{item.provider}:{_minute(item)}"
    return f"{item.provider}:{_utc_minute(link.since)}:{_link_digest(link.ref)}"


@lru_cache(maxsize=4096)
def _link_digest(ref: str) -> str:
    return hashlib.blake2b(ref.encode(), digest_size=6).hexdigest()


def bucket_minute(key: str) -> datetime | None:
    """The first-published minute a bucket key names, or None for a key of another shape."""
    parts = key.split(":", 2)
    if len(parts) < 2:
        return None
    minute = parts[1]
    if len(minute) != len("20240522T1030Z"):
        return None
    try:
        return datetime.strptime(minute, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def base_story_key(item: WireItem) -> str:
    """The story key a version proposes: provider, first-published minute, first dateline place.

    Every version of a BTA story keeps its first-published minute and its first dateline place
    (updates append places), so the key does not depend on which version arrives first.
    """
    link = item.link
    if link is not None:  # the format names the story: its link's digest is the key's slug
        return f"{item.provider}-{_utc_minute(link.since)}-{_link_digest(link.ref)}"
    return f"{item.provider}-{_minute(item)}-{_place_slug(first_place(item) or '')}"


@lru_cache(maxsize=4096)
def _place_slug(place: str) -> str:
    """A story key's place part; a bucket's versions name few places, each many times."""
    return hashlib.blake2b(place.encode(), digest_size=3).hexdigest() if place else "000000"


def plain_key(story_key: str) -> str:
    """A story key without the suffix a twin gets: provider, minute and place slug."""
    return "-".join(story_key.split("-", 3)[:3])
