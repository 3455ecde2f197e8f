"""workers.core.keys: deterministic fingerprints and keys."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fixtures import REPO_ROOT, SEED_ORIGINAL, SEED_STORY, SEED_UPDATED
from tests.unit.core.items import seed_updated, wire_item
from workers.core import keys
from workers.core.formats.bta import SOFIA
from workers.core.model import Envelope, Photo, StoryLink, WireItem
from workers.core.pipeline import parse_raw

SEED_UPDATED_HASH = "777534a031f49cd30c743d9987b32bda8376879367d4c381b7078c7b1e6bf917"
SEED_ORIGINAL_HASH = "c2cb23c71c2450d843dadd0688ed2e37a250c0be199e1fffaf862b1ef814c068"
SEED_UPDATED_PARAGRAPH_IDS = (
    "p66e415b9f788",
    "p5449969613d3",
    "p201a254b6c0d",
    "p2ac57982e378",
    "p23b303e91864",
    "pa1d79dbb8475",
    "p57ee85551af9",
    "p00800b8876d9",
)


def seed(path: Path = SEED_UPDATED) -> WireItem:
    item = parse_raw(path.read_bytes())
    assert isinstance(item, WireItem)
    return item


def simple(
    paragraphs: tuple[str, ...] = ("Първи абзац.",),
    places: tuple[str, ...] = ("София",),
    when: datetime = datetime(2025, 8, 12, 20, 57, tzinfo=SOFIA),
) -> WireItem:
    return WireItem("bta", "Заглавие", False, when, None, paragraphs, places=places)


def test_seed_fingerprints_are_pinned() -> None:
    # Keys and hashes must be the same in every process and on every machine: pinned values.
    updated, original = seed(SEED_UPDATED), seed(SEED_ORIGINAL)
    assert keys.content_hash(updated) == SEED_UPDATED_HASH
    assert keys.content_hash(original) == SEED_ORIGINAL_HASH
    assert keys.paragraph_ids(updated) == SEED_UPDATED_PARAGRAPH_IDS
    assert keys.bucket_key(updated) == keys.bucket_key(original) == "bta:20250812T1757Z"
    assert keys.base_story_key(updated) == keys.base_story_key(original) == SEED_STORY
    assert keys.first_place(updated) == "москва"


def test_fingerprints_do_not_depend_on_the_hash_seed() -> None:
    code = (
        "from pathlib import Path\n"
        "from workers.core import keys\n"
        "from workers.core.pipeline import parse_raw\n"
        f"item = parse_raw(Path({str(SEED_UPDATED)!r}).read_bytes())\n"
        "print(keys.content_hash(item), keys.base_story_key(item), keys.paragraph_ids(item))\n"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO_ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
        )
        outputs.add(result.stdout)
    item = seed()
    assert outputs == {
        f"{SEED_UPDATED_HASH} {SEED_STORY} {keys.paragraph_ids(item)}\n",
    }


def test_content_hash_ignores_the_envelope_but_not_what_a_reader_sees() -> None:
    item = seed()
    enveloped = dataclasses.replace(item, envelope=Envelope("x", "https://a/1234567", "t", "123"))
    assert keys.content_hash(enveloped) == keys.content_hash(item)
    changes = {
        "headline": dataclasses.replace(item, headline=item.headline + "!"),
        "is_update": dataclasses.replace(item, is_update=False),
        "updated": dataclasses.replace(item, updated=None),
        "authors": dataclasses.replace(item, authors=item.authors[:1]),
        "photo": dataclasses.replace(item, photo=Photo("Друг надпис.", None)),
        "places": dataclasses.replace(item, places=item.places[:1]),
        "agency": dataclasses.replace(item, agency=None),
        "paragraphs": dataclasses.replace(item, paragraphs=item.paragraphs[:-1]),
        "signoff": dataclasses.replace(item, signoff="ВК"),
        "related": dataclasses.replace(item, related=item.related[:1]),
        "provider": dataclasses.replace(item, provider="dpa"),
        "first_created": dataclasses.replace(
            item, first_created=datetime(2025, 8, 12, tzinfo=SOFIA)
        ),
    }
    assert set(changes) == set(keys.HASHED_FIELDS)
    hashes = {name: keys.content_hash(changed) for name, changed in changes.items()}
    assert SEED_UPDATED_HASH not in hashes.values()
    assert len(set(hashes.values())) == len(hashes)


def test_every_item_field_is_hashed_or_named_as_not_content() -> None:
    """A new WireItem field must be placed on purpose: hashing it changes every eventId."""
    fields = {f.name for f in dataclasses.fields(WireItem)}
    groups = (keys.HASHED_FIELDS, keys.FORMAT_HASHED_FIELDS, keys.UNHASHED_FIELDS)
    assert fields == set().union(*groups)
    assert sum(map(len, groups)) == len(fields)  # no field in two groups


def test_every_format_field_changes_the_hash_of_an_item_of_another_format() -> None:
    base = dataclasses.replace(seed_updated(), wire_format="newsml-g2")
    since = base.first_created
    changes = {
        "wire_format": dataclasses.replace(base, wire_format="ninjs"),
        "link": dataclasses.replace(base, link=StoryLink("urn:x", since)),
        "version": dataclasses.replace(base, version=2),
        "pub_status": dataclasses.replace(base, pub_status="canceled"),
        "slugline": dataclasses.replace(base, slugline="fire"),
        "language": dataclasses.replace(base, language="en"),
        "description": dataclasses.replace(base, description="A fire."),
        "ed_note": dataclasses.replace(base, ed_note="Embargoed."),
        "take": dataclasses.replace(base, take="1ST LEAD"),
    }
    assert set(changes) == set(keys.FORMAT_HASHED_FIELDS)
    hashes = {keys.content_hash(changed) for changed in changes.values()}
    assert len(hashes | {keys.content_hash(base), SEED_UPDATED_HASH}) == len(changes) + 2


def test_raw_sha256() -> None:
    raw = SEED_UPDATED.read_bytes()
    assert keys.raw_sha256(raw) == hashlib.sha256(raw).hexdigest()


@given(st.binary(max_size=9000))
@settings(max_examples=60)
def test_sha256_hex_is_sha256_in_chunks(data: bytes) -> None:
    assert keys.sha256_hex(data) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("size", [0, 2047, 2048, 4094, 4095, 6_200])
def test_sha256_hex_never_hands_hashlib_enough_bytes_to_let_go_of_the_gil(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hashlib releases the GIL from 2,048 bytes a call on (CPython's HASHLIB_GIL_MINSIZE)."""
    sizes: list[int] = []
    real_sha256 = hashlib.sha256

    class Spy:
        def __init__(self, data: bytes | memoryview = b"") -> None:
            self._inner = real_sha256()
            self.update(data)

        def update(self, data: bytes | memoryview) -> None:
            sizes.append(len(data))
            self._inner.update(data)

        def hexdigest(self) -> str:
            return self._inner.hexdigest()

    monkeypatch.setattr(keys.hashlib, "sha256", Spy)
    data = bytes(range(256)) * (size // 256 + 1)
    assert keys.sha256_hex(data[:size]) == real_sha256(data[:size]).hexdigest()
    assert sum(sizes) == size
    assert max(sizes) < 2048


@pytest.mark.parametrize(
    "variant",
    [
        "ПУТИН Е ПОЗДРАВИЛ КИМ ПО СЛУЧАЙ 80-АТА ГОДИШНИНА ОТ ОСВОБОЖДАВАНЕТО НА КОРЕЯ ОТ "
        "ЯПОНСКО КОЛОНИАЛНО ВЛАДИЧЕСТВО.",
        "Путин е поздравил Ким, по случай 80-ата годишнина от освобождаването на Корея от "
        "японско колониално владичество",
        "  Путин  е поздравил Ким по случай 80-ата годишнина от освобождаването на Корея от "
        "японско колониално владичество!  ",
    ],
)
def test_paragraph_id_survives_case_punctuation_and_spacing(variant: str) -> None:
    assert keys.paragraph_id(variant) == SEED_UPDATED_PARAGRAPH_IDS[-1]


def test_paragraph_id_changes_with_the_words() -> None:
    base = SEED_UPDATED_PARAGRAPH_IDS[-1]
    edited = (
        "Путин е поздравил Ким по случай 80-ата годишнина от освобождението на Корея от "
        "японско колониално владичество."
    )
    assert keys.paragraph_id(edited) != base
    assert keys.paragraph_id("") == "p" + hashlib.blake2b(b"", digest_size=6).hexdigest()


@pytest.mark.parametrize(
    ("when", "bucket"),
    [
        (datetime(2025, 8, 12, 20, 57, tzinfo=SOFIA), "bta:20250812T1757Z"),
        (datetime(2025, 12, 18, 14, 30, tzinfo=SOFIA), "bta:20251218T1230Z"),
        (datetime(2026, 1, 1, 1, 30, tzinfo=SOFIA), "bta:20251231T2330Z"),  # UTC date before
        (datetime(2025, 10, 26, 3, 30, tzinfo=SOFIA), "bta:20251026T0030Z"),
        (datetime(2025, 10, 26, 4, 30, tzinfo=SOFIA), "bta:20251026T0230Z"),
    ],
)
def test_bucket_key_is_the_first_published_minute_in_utc(when: datetime, bucket: str) -> None:
    assert keys.bucket_key(simple(when=when)) == bucket


def test_story_key_uses_the_casefolded_first_place() -> None:
    key = keys.base_story_key(simple(places=("Москва", "Пхенян")))
    assert key == SEED_STORY
    assert keys.base_story_key(simple(places=("МОСКВА",))) == key
    assert keys.base_story_key(simple(places=("Пхенян", "Москва"))) != key
    assert keys.base_story_key(simple(places=())) == "bta-20250812T1757Z-000000"
    assert keys.first_place(simple(places=())) is None


_WORD_RUNS = re.compile(r"\w+")


def test_the_words_shortcut_rests_on_two_facts_about_every_character() -> None:
    """``keys.words`` splits at whitespace and keeps ``isalnum()`` tokens whole: right only if
    no whitespace character is a word character and every ``isalnum()`` one is."""
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        is_word = _WORD_RUNS.fullmatch(char) is not None
        assert not (char.isspace() and is_word), hex(code)
        assert is_word == (char.isalnum() or char == "_"), hex(code)


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_words_are_the_word_runs_of_the_casefolded_text(text: str) -> None:
    assert keys.words(text) == _WORD_RUNS.findall(text.casefold())


@settings(max_examples=500)
@given(st.text(alphabet="Пути нКм,.;:!?\"'«»„“()-–—…/_№%12 ", max_size=120))
def test_words_of_wire_like_text(text: str) -> None:
    """Mostly letters, spaces and wire punctuation, where the tokens are words or nearly."""
    assert keys.words(text) == _WORD_RUNS.findall(text.casefold())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Путин, Ким; 80-ата!",
        "a_b c__d",
        "ß Straße",
        "x\u2003y\u00a0z",
        "١٢٣ ½ ²",
        "„Цитат“ (БТА) – край…",
        "– — …",
        "_край_ -_- «_»",
    ],
)
def test_words_of_edge_cases(text: str) -> None:
    assert keys.words(text) == _WORD_RUNS.findall(text.casefold())


def test_wire_punctuation_holds_no_word_character() -> None:
    """The fast path of ``keys.words`` makes these spaces: right only if none is in a word."""
    for mark in keys._WIRE_PUNCTUATION:
        assert _WORD_RUNS.search(mark) is None, mark
        assert not mark.isspace(), mark


@settings(max_examples=500)
@given(st.text(alphabet="Пути нКм,.;:!?\"'«»„“”()[]-–—…/_№%12 \n\u00a0ß", max_size=120))
def test_fold_is_the_word_runs_single_spaced(text: str) -> None:
    """Both paths of ``keys.fold``: text of words and wire punctuation, and anything else."""
    assert keys.fold(text) == " ".join(_WORD_RUNS.findall(text.casefold()))


@pytest.mark.parametrize(
    ("left", "right", "same", "abbreviated"),
    [
        ("София", "СОФИЯ", True, False),
        ("Пловдив", "гр. Пловдив", True, False),
        ("град Бургас", "Бургас", True, False),
        ("Санкт Петербург", "Санкт-Петербург", True, False),
        ("Ню Йорк", "Ню-Йорк", True, False),
        ("Велико Търново", "В. Търново", False, True),
        ("В.Търново", "велико търново", False, True),
        ("Санкт Петербург", "С. Петербург", False, True),  # a capital "С." is no village
        ("Стара Загора", "Ст. Загора", False, True),
        ("Стара Загора", "Нова Загора", False, False),
        ("Кувейт Сити", "Канзас Сити", False, False),
        ("Златен бряг", "Западен бряг", False, False),
        ("Голямо Дряново", "Горно Дряново", False, False),
        ("с. Бяла", "гр. Бяла", False, False),  # a village and a town
        ("к.к. Слънчев бряг", "Слънчев бряг", True, False),
        ("к.к.Слънчев бряг", "к.к. Слънчев бряг", True, False),
        ("к. к. Слънчев бряг", "к.к. Слънчев бряг", True, False),  # spaced as many write it
        ("ж. к. Люлин", "ж.к. Люлин", True, False),
        ("к. к.Златни пясъци", "Златни пясъци", True, False),
        ("гр.Пловдив", "Пловдив", True, False),
        ("кв.Лозенец", "гр. Лозенец", False, False),
        ("м. Пампорово", "Пампорово", True, False),
        ("кв. Лозенец", "Лозенец", True, False),
        ("кв. Лозенец", "гр. Лозенец", False, False),  # a quarter and a town
        ('Летище "Васил Левски"', "Летище „Васил Левски“", True, False),
        ("Търново", "Велико Търново", False, False),
        ("Ст. Загора", "С. Загора", False, False),  # two abbreviations: nothing to go by
    ],
)
def test_two_spellings_of_a_place(left: str, right: str, same: bool, abbreviated: bool) -> None:
    a, b = keys.place_name(left), keys.place_name(right)
    assert (keys.same_place(a, b), keys.abbreviated_place(a, b)) == (same, abbreviated)
    assert (keys.same_place(b, a), keys.abbreviated_place(b, a)) == (same, abbreviated)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Лясковец", "Лесковец"),  # two towns one letter apart
        ("Белград", "Болград"),
        ("Николаев", "Николаево"),
        ("Оряхово", "Орехово"),
        ("Йерусалим", "Ерусалим"),  # one city spelt two ways: two places all the same
    ],
)
def test_places_one_letter_apart_are_other_places(left: str, right: str) -> None:
    assert not keys.places_match(keys.place_name(left), keys.place_name(right))


def test_no_place_is_the_same_as_no_place_only() -> None:
    assert keys.same_place(None, None)
    assert not keys.same_place(None, keys.place_name("София"))
    assert not keys.places_match(keys.place_name("София"), None)


def test_story_keys_keep_the_place_as_spelt() -> None:
    """Keys published before the place identity existed stay as they were."""
    assert keys.first_place(wire_item(("Текст.",), places=("В. Търново",))) == "в. търново"
