"""Hypothesis strategies: BTA wire items built from fields, rendered in many layouts.

:func:`bta_fields` draws the FIELDS of an item (what a correct parser must find) and a
:class:`Layout` (how the wire happened to lay them out); :func:`render` turns both into raw bytes.
Every layout of the same fields must parse to the same :class:`WireItem`.

The text is realistic Bulgarian wire copy: Cyrillic words (with the odd Latin name and number),
sentences that start with a capital and end with a period, one paragraph per line. What is NOT
generated, because the layout itself makes it ambiguous (a human reader could not tell either):

- a headline that starts with the word "обновена" or "разширена" (in any case), or a first line
  that is only such a word: those are the update markers;
- a line in the header (authors, caption) or body that starts with "(", "/", "|" or "{", that is
  a lone "DD.MM.YYYY HH:MM", or that holds "DD.MM.YYYY HH:MM" at all: those are the agency tag,
  the sign-off, the update stamp, a JSON envelope and timestamps;
- a photo caption without its "Снимка:" credit, or one that contains "Снимка" twice (a caption
  without a credit cannot be told from an authors line), and a credit that ends in a comma;
- author names that are not 1-5 capitalised words, and a dateline place with digits or
  punctuation, or more than four words;
- related items without a headline; a lead line that is a lone timestamp;
- wall times that do not exist in Sofia (the spring-forward gap) and years outside 2000-2035;
  an update time that is not after the first publication time;
- characters outside Windows-1251 (so every item can also be sent as cp1251), non-NFC text,
  and runs of blanks inside a line (the decoder collapses them by design);
- dateline, stamps, agency tag AND first paragraph on one line longer than 400 characters: the
  parser does not scan such long lines for the publication stamp (a guard against hostile
  input), so that layout falls back to the tag opening the first paragraph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from workers.core.formats.bta import SOFIA
from workers.core.model import Photo, RelatedItem, WireItem

WORDS = [
    "агенцията",
    "съобщи",
    "днес",
    "министерството",
    "правителството",
    "общината",
    "кметът",
    "президентът",
    "премиерът",
    "депутатите",
    "парламентът",
    "съдът",
    "прокуратурата",
    "полицията",
    "пожарникарите",
    "лекарите",
    "учителите",
    "студентите",
    "земеделците",
    "синоптиците",
    "експертите",
    "властите",
    "гражданите",
    "жителите",
    "приеха",
    "обявиха",
    "заявиха",
    "предупредиха",
    "отбелязаха",
    "уточниха",
    "подчертаха",
    "обсъдиха",
    "одобриха",
    "новия",
    "закон",
    "бюджета",
    "проекта",
    "ремонта",
    "строителството",
    "пътя",
    "моста",
    "училището",
    "болницата",
    "пристанището",
    "летището",
    "гарата",
    "площада",
    "парка",
    "реката",
    "морето",
    "планината",
    "границата",
    "региона",
    "вчера",
    "утре",
    "тази",
    "седмица",
    "следващия",
    "месец",
    "миналата",
    "година",
    "до",
    "края",
    "на",
    "от",
    "за",
    "в",
    "с",
    "по",
    "при",
    "след",
    "преди",
    "между",
    "срещу",
    "около",
    "над",
    "под",
    "без",
    "чрез",
    "и",
    "или",
    "но",
    "че",
    "които",
    "който",
    "която",
    "което",
    "според",
    "повече",
    "по-малко",
    "нови",
    "стари",
    "големи",
    "малки",
    "важни",
    "местни",
    "европейски",
    "национални",
    "временни",
    "сигнала",
    "мерки",
    "средства",
    "милиона",
    "хиляди",
    "души",
    "километра",
    "процента",
    "часа",
    "дни",
    "години",
]
NAMES = [
    "Иван",
    "Мария",
    "Георги",
    "Елена",
    "Николай",
    "Десислава",
    "Петър",
    "Анна",
    "Стефан",
    "Цветелина",
    "Ивайло",
    "Радослава",
    "Христо",
    "Теодора",
    "Васил",
    "Гергана",
    "Пламен",
    "Йоана",
    "Димитър",
    "Виолета",
]
SURNAMES = [
    "Петров",
    "Иванова",
    "Димитров",
    "Георгиева",
    "Николов",
    "Стоянова",
    "Колев",
    "Маринова",
    "Атанасов",
    "Тодорова",
    "Илиев",
    "Кънчева",
    "Йотински",
    "Живкова",
    "Тасев",
    "Христова",
    "Василев",
    "Ангелова",
    "Пенев",
    "Русева",
]
PLACES = (
    "София",
    "Пловдив",
    "Варна",
    "Бургас",
    "Русе",
    "Стара Загора",
    "Велико Търново",
    "Благоевград",
    "Москва",
    "Пхенян",
    "Брюксел",
    "Вашингтон",
    "Ню Йорк",
    "Атина",
    "Букурещ",
    "Скопие",
    "Анкара",
    "Киев",
    "Лондон",
    "Париж",
)
AGENCIES_IN_CREDIT = ("БТА", "АП", "Ройтерс", "ЕПА", '"Спутник" чрез АП', "АФП")
LATIN_NAMES = ("Kristina Kormilitsyna", "John Smith", "Anna Novak", "Marco Rossi")
SIGNOFF_LETTERS = "АБВГДЕЖЗИКЛМНОПРСТУФХЦЧШЯ"

MIN_TIME = datetime(2000, 1, 1)
MAX_TIME = datetime(2035, 12, 31, 23, 59)


def is_sofia_wall_time(naive: datetime) -> bool:
    """False for wall times inside the spring-forward gap (they never happen in Sofia)."""
    aware = naive.replace(tzinfo=SOFIA)
    return aware.astimezone(UTC).astimezone(SOFIA).replace(tzinfo=None) == naive


def _last_sunday(year: int, month: int) -> datetime:
    day = datetime(year, month, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


@st.composite
def sofia_times(draw: st.DrawFn) -> datetime:
    """A valid Sofia wall time (aware), often within two hours of a DST change."""
    if draw(st.booleans()):
        minutes = draw(st.integers(0, int((MAX_TIME - MIN_TIME).total_seconds() // 60)))
        naive = MIN_TIME + timedelta(minutes=minutes)
    else:
        year = draw(st.integers(2000, 2035))
        change = _last_sunday(year, draw(st.sampled_from((3, 10)))) + timedelta(hours=3)
        naive = change + timedelta(minutes=draw(st.integers(-120, 120)))
    if not is_sofia_wall_time(naive):
        naive += timedelta(hours=1)  # out of the gap
    return naive.replace(tzinfo=SOFIA)


def later_than(first: datetime) -> st.SearchStrategy[datetime]:
    """A valid Sofia wall time strictly after ``first`` (1 minute to 3 days)."""

    def shift(minutes: int) -> datetime:
        naive = first.replace(tzinfo=None) + timedelta(minutes=minutes)
        if not is_sofia_wall_time(naive):
            naive += timedelta(hours=1)
        return naive.replace(tzinfo=SOFIA)

    return st.integers(1, 3 * 24 * 60).map(shift)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


@st.composite
def sentences(draw: st.DrawFn, min_words: int = 4, max_words: int = 14) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=min_words, max_size=max_words))
    if draw(st.booleans()):  # a proper name somewhere
        where = draw(st.integers(1, len(words)))
        words.insert(where, f"{draw(st.sampled_from(NAMES))} {draw(st.sampled_from(SURNAMES))}")
    if draw(st.booleans()):  # a number
        words.insert(draw(st.integers(1, len(words))), str(draw(st.integers(2, 5000))))
    if len(words) > 4 and draw(st.booleans()):  # a quoted phrase
        start = draw(st.integers(1, len(words) - 2))
        words[start] = '"' + words[start]
        words[start + 1] = words[start + 1] + '"'
    if len(words) > 5 and draw(st.booleans()):
        cut = draw(st.integers(2, len(words) - 2))
        words[cut] += ","
    return _capitalised(" ".join(words)) + "."


def paragraphs() -> st.SearchStrategy[str]:
    return st.lists(sentences(), min_size=1, max_size=3).map(" ".join)


@st.composite
def headlines(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=3, max_size=14))
    if draw(st.booleans()):
        words.insert(0, draw(st.sampled_from(PLACES)))
    return _capitalised(" ".join(words))


@st.composite
def authors(draw: st.DrawFn) -> tuple[str, ...]:
    count = draw(st.integers(0, 3))
    return tuple(
        f"{draw(st.sampled_from(NAMES))} {draw(st.sampled_from(SURNAMES))}" for _ in range(count)
    )


@st.composite
def photos(draw: st.DrawFn) -> Photo | None:
    if draw(st.booleans()):
        return None
    caption = draw(st.one_of(st.just(""), sentences(min_words=3, max_words=20)))
    agency = draw(st.sampled_from(AGENCIES_IN_CREDIT))
    person = draw(
        st.one_of(
            st.sampled_from(LATIN_NAMES),
            st.builds(lambda n, s: f"{n} {s}", st.sampled_from(NAMES), st.sampled_from(SURNAMES)),
            st.just("Архив"),
        )
    )
    credit = draw(st.sampled_from((f"{agency}/{person}", f"{person}/{agency}")))
    return Photo(caption, credit)


@st.composite
def related_items(draw: st.DrawFn) -> RelatedItem:
    lead_lines = draw(st.lists(paragraphs(), min_size=0, max_size=2))
    return RelatedItem(draw(sofia_times()), draw(headlines()), "\n\n".join(lead_lines))


@st.composite
def signoffs(draw: st.DrawFn) -> str | None:
    if draw(st.booleans()):
        return None
    return "".join(draw(st.lists(st.sampled_from(SIGNOFF_LETTERS), min_size=2, max_size=3)))


@dataclass(frozen=True)
class Fields:
    """What one generated item says: the parsed fields, and whether the headline is marked."""

    item: WireItem
    marker: bool


@st.composite
def bta_fields(draw: st.DrawFn) -> Fields:
    """The fields of one item, as the parser must find them."""
    first = draw(sofia_times())
    updated = draw(st.one_of(st.none(), later_than(first)))
    marker = draw(st.booleans())
    item = WireItem(
        provider="bta",
        headline=draw(headlines()),
        is_update=marker or updated is not None,
        first_created=first,
        updated=updated,
        paragraphs=tuple(draw(st.lists(paragraphs(), min_size=1, max_size=6))),
        authors=draw(authors()),
        photo=draw(photos()),
        places=tuple(draw(st.lists(st.sampled_from(PLACES), max_size=3, unique=True))),
        agency=draw(st.sampled_from(("БТА", None))),
        signoff=draw(signoffs()),
        related=tuple(draw(st.lists(related_items(), max_size=4))),
    )
    return Fields(item, marker)


STAMP_LAYOUTS = (
    "seed",  # "Place,  " / "stamp | ОБНОВЕНА stamp" / " (БТА)" (or РАЗШИРЕНА, see separators)
    "joined",  # "Place, stamp | ОБНОВЕНА stamp (БТА)"
    "place+stamp",  # "Place, stamp" / "(БТА)"
    "stamp+tag",  # "Place," / "stamp (БТА)"
    "tag-opens-paragraph",  # "Place," / "stamp" / "(БТА) first paragraph"
    "joined+paragraph",  # "Place, stamp (БТА) first paragraph" (if that line is short enough)
    "update-own-line",  # "Place," / "stamp" / "| ОБНОВЕНА stamp" / "(БТА)"
)
# The two update markers, "updated" and "expanded"; each may stand in three places: before the
# headline (on its line, or on a line of its own above it: MARKER_POSITIONS) and after the "|"
# of the publication line (on that line, or on a line of its own: the "update-own-line" layout).
MARKER_WORDS = ("ОБНОВЕНА", "РАЗШИРЕНА")
# Not in capitals, a marker is set off by punctuation: "Обновена детска градина" is a headline.
MARKERS = (
    "ОБНОВЕНА ",
    "Обновена: ",
    "обновена - ",
    "ОБНОВЕНА: ",
    "оБнОвЕнА - ",
    "ОБНОВЕНА, ",
    "РАЗШИРЕНА ",
    "Разширена, ",
    "разширена: ",
    "РАЗШИРЕНА – ",
    "РаЗшИрЕнА, ",
    "ОБНОВЕНА И РАЗШИРЕНА ",
    "Обновена/разширена: ",
    "РАЗШИРЕНА, ОБНОВЕНА - ",
)
MARKER_POSITIONS = (
    "prefix",  # "ОБНОВЕНА headline"
    "own-line",  # "РАЗШИРЕНА" / "headline"
    "own-line+blank",  # "РАЗШИРЕНА" / "" / "headline"
)
UPDATE_SEPARATORS = (
    " | ОБНОВЕНА ",
    " | обновена ",
    "|ОБНОВЕНА: ",
    " | Обновена:",
    " | РАЗШИРЕНА ",
    " | разширена ",
    "|РАЗШИРЕНА: ",
    " | Разширена:",
)
TRAILING = ("", " ", "  ", "\t", "\u00a0", " \u00a0 ")


@dataclass(frozen=True)
class Layout:
    """How one rendering lays out the same fields."""

    stamp_layout: str = "seed"
    marker: str = "ОБНОВЕНА "
    marker_position: str = "prefix"
    update_separator: str = " | ОБНОВЕНА "
    padded: bool = True
    comma_in_stamp: bool = False
    blank_after_headline: bool = True
    blank_between_paragraphs: bool = True
    double_blank_lines: bool = False
    line_end: str = "\n"
    encoding: str = "utf-8"  # utf-8, utf-8-sig, cp1251 or json
    json_ascii: bool = False
    trailing: tuple[int, ...] = field(default=())  # index into TRAILING, cycled over lines
    leading: tuple[bool, ...] = field(default=())  # a leading blank, cycled over lines


def layouts() -> st.SearchStrategy[Layout]:
    return st.builds(
        Layout,
        stamp_layout=st.sampled_from(STAMP_LAYOUTS),
        marker=st.sampled_from(MARKERS),
        marker_position=st.sampled_from(MARKER_POSITIONS),
        update_separator=st.sampled_from(UPDATE_SEPARATORS),
        padded=st.booleans(),
        comma_in_stamp=st.booleans(),
        blank_after_headline=st.booleans(),
        blank_between_paragraphs=st.booleans(),
        double_blank_lines=st.booleans(),
        line_end=st.sampled_from(("\n", "\r\n", "\r")),
        encoding=st.sampled_from(("utf-8", "utf-8-sig", "cp1251", "json")),
        json_ascii=st.booleans(),
        trailing=st.lists(st.integers(0, len(TRAILING) - 1), max_size=8).map(tuple),
        leading=st.lists(st.booleans(), max_size=8).map(tuple),
    )


@st.composite
def marked_updates(draw: st.DrawFn) -> tuple[Fields, Layout]:
    """An update marked in exactly one place, by either marker word in any case.

    The place is the headline line, a line of its own above the headline, the publication line
    after "|", or the "| MARKER stamp" line of its own.
    """
    fields = draw(bta_fields())
    layout = draw(layouts())
    word = draw(st.sampled_from(MARKER_WORDS))
    word = draw(st.sampled_from((word, word.lower(), word.capitalize())))
    place = draw(st.sampled_from((*MARKER_POSITIONS, "publication-line", "update-line")))
    if place in MARKER_POSITIONS:
        item = replace(fields.item, is_update=True, updated=None)
        # Opening the headline in lower or mixed case, a marker is set off by punctuation: with
        # a space alone, it is the headline's adjective ("Обновена детска градина").
        set_off = place == "prefix" and not word.isupper()
        punctuation = draw(st.sampled_from(("", ":", " -", " –", ",")[set_off:]))
        return Fields(item, marker=True), replace(
            layout, marker=f"{word}{punctuation} ", marker_position=place
        )
    updated = draw(later_than(fields.item.first_created))
    item = replace(fields.item, is_update=True, updated=updated)
    stamp_layout = (
        "update-own-line"
        if place == "update-line"
        else draw(st.sampled_from([k for k in STAMP_LAYOUTS if k != "update-own-line"]))
    )
    separator = draw(st.sampled_from((f" | {word} ", f"|{word}: ", f" | {word}:")))
    return Fields(item, marker=False), replace(
        layout, stamp_layout=stamp_layout, update_separator=separator
    )


def stamp(when: datetime, layout: Layout) -> str:
    if layout.padded:
        date = f"{when.day:02d}.{when.month:02d}.{when.year}"
        time = f"{when.hour:02d}:{when.minute:02d}"
    else:
        date = f"{when.day}.{when.month}.{when.year}"
        time = f"{when.hour}:{when.minute:02d}"
    return f"{date}, {time}" if layout.comma_in_stamp else f"{date} {time}"


# The parser never scans a line this long for the publication stamp (a guard against hostile
# input), so "everything joined with the first paragraph" is only generated below it.
MAX_JOINED_LINE = 400


def _header_block(item: WireItem, layout: Layout) -> tuple[list[str], str | None]:
    """Dateline, stamps and agency tag; and the text that must open the first paragraph."""
    place = "/".join(item.places)
    first = stamp(item.first_created, layout)
    upd = (layout.update_separator + stamp(item.updated, layout)) if item.updated else ""
    tag = f"({item.agency})" if item.agency else ""
    kind = layout.stamp_layout
    if kind in ("tag-opens-paragraph", "joined+paragraph") and not tag:
        kind = "seed"
    if kind == "update-own-line" and not upd:
        kind = "seed"
    dateline = f"{place}," if place else ""

    def joined(*parts: str) -> str:
        return " ".join(p for p in parts if p)

    if kind == "seed":
        lines = [f"{dateline}  " if dateline else "", first + upd, f" {tag}" if tag else ""]
        return [line for line in lines if line], None
    if kind == "joined":
        return [joined(dateline, first + upd, tag)], None
    if kind == "place+stamp":
        return [line for line in (joined(dateline, first + upd), tag) if line], None
    if kind == "stamp+tag":
        return [line for line in (dateline, joined(first + upd, tag)) if line], None
    if kind == "tag-opens-paragraph":
        return [line for line in (dateline, first + upd) if line], tag
    if kind == "joined+paragraph":
        opener = joined(dateline, first + upd, tag)
        if len(f"{opener} {item.paragraphs[0]}") <= MAX_JOINED_LINE:
            return [], opener
        return [line for line in (dateline, first + upd) if line], tag
    # update-own-line
    return [line for line in (dateline, first, upd.strip(), tag) if line], None


def render_text(fields: Fields, layout: Layout) -> str:
    """The item as wire text (LF line ends, before line-end, blank and encoding variants)."""
    item = fields.item
    if not fields.marker:
        lines = [item.headline]
    elif layout.marker_position == "prefix":
        lines = [layout.marker + item.headline]
    else:
        blank = [""] if layout.marker_position == "own-line+blank" else []
        lines = [layout.marker.strip(), *blank, item.headline]
    if layout.blank_after_headline:
        lines.append("")
    if item.authors:
        lines.append(", ".join(item.authors))
    if item.photo is not None:
        caption = f"{item.photo.caption} " if item.photo.caption else ""
        lines.append(f"{caption}Снимка: {item.photo.credit}")
    block, opener = _header_block(item, layout)
    lines.extend(block)
    body = list(item.paragraphs)
    if opener is not None:
        body[0] = f"{opener} {body[0]}"
    for index, paragraph in enumerate(body):
        if index and layout.blank_between_paragraphs:
            lines.append("")
        lines.append(paragraph)
    if item.signoff:
        lines += ["", f"/{item.signoff}/"]
    for related in item.related:
        lines += ["", stamp(related.published, layout), "", related.headline]
        for lead_line in related.lead.split("\n\n") if related.lead else ():
            lines += ["", lead_line] if layout.blank_between_paragraphs else [lead_line]
    return "\n".join(lines) + "\n"


def _decorate(text: str, layout: Layout) -> str:
    lines = text.split("\n")
    out = []
    for index, line in enumerate(lines):
        decorated = line
        if layout.trailing:
            decorated += TRAILING[layout.trailing[index % len(layout.trailing)]]
        if layout.leading and layout.leading[index % len(layout.leading)]:
            decorated = " " + decorated
        out.append(decorated)
        if layout.double_blank_lines and not line:
            out.append("")
    return layout.line_end.join(out)


def render(fields: Fields, layout: Layout) -> bytes:
    """Raw bytes of one Kafka message value carrying ``fields`` laid out as ``layout`` says."""
    text = _decorate(render_text(fields, layout), layout)
    if layout.encoding == "json":
        envelope = {"text": text, "source": "bta.bg"}
        return json.dumps(envelope, ensure_ascii=layout.json_ascii).encode()
    return text.encode(layout.encoding)


def expected_dict(item: WireItem) -> dict[str, Any]:
    """What ``WireItem.to_dict`` of the parsed rendering must be, envelope aside."""
    out = item.to_dict()
    out.pop("envelope")
    return out


def _story_version(
    base: WireItem,
    headline: str,
    updated: datetime,
    lead: str | None,
    extras: tuple[str, ...],
    places: tuple[str, ...],
    authors_: tuple[str, ...],
) -> WireItem:
    body = ((lead,) if lead else ()) + base.paragraphs + extras
    return replace(
        base,
        headline=headline,
        is_update=True,
        updated=updated,
        paragraphs=body,
        places=places,
        authors=authors_,
    )


@st.composite
def story_versions(draw: st.DrawFn, max_updates: int = 3) -> tuple[Fields, ...]:
    """An original and 1..max_updates updates of one story.

    All versions share the first-published time, the first dateline place and 2-4 base
    paragraphs; each update has a later update time, may rewrite the headline and lead, adds
    paragraphs (kept by later updates), places and authors. That is how BTA updates a story, and
    it keeps every pair of versions well above the merge threshold.
    """
    first = draw(sofia_times())
    first_place = draw(st.sampled_from(PLACES))
    original = replace(
        draw(bta_fields()).item,
        is_update=False,
        first_created=first,
        updated=None,
        places=(first_place,),
        paragraphs=tuple(draw(st.lists(paragraphs(), min_size=2, max_size=4, unique=True))),
    )
    versions = [Fields(original, marker=False)]
    when = first
    extras: tuple[str, ...] = ()
    places = original.places
    authors_ = original.authors
    headline = original.headline
    lead: str | None = None
    for _ in range(draw(st.integers(1, max_updates))):
        when = draw(later_than(when))
        if draw(st.booleans()):
            headline = draw(headlines())
        if draw(st.booleans()):
            lead = draw(paragraphs())
        extras += tuple(draw(st.lists(paragraphs(), max_size=2)))
        if draw(st.booleans()):
            extra_place = draw(st.sampled_from(PLACES))
            if extra_place not in places:
                places += (extra_place,)
        if draw(st.booleans()):
            authors_ += (f"{draw(st.sampled_from(NAMES))} {draw(st.sampled_from(SURNAMES))}",)
        version = _story_version(original, headline, when, lead, extras, places, authors_)
        versions.append(Fields(version, marker=draw(st.booleans())))
    return tuple(versions)


def mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """The seed truncated, with bytes flipped, with NULs or junk inserted."""

    def truncate(cut: int) -> bytes:
        return seed[: cut % (len(seed) + 1)]

    def flip(edits: list[tuple[int, int]]) -> bytes:
        data = bytearray(seed)
        for position, mask in edits:
            data[position % len(data)] ^= mask
        return bytes(data)

    def insert(edits: list[tuple[int, bytes]]) -> bytes:
        data = seed
        for position, junk in edits:
            at = position % (len(data) + 1)
            data = data[:at] + junk + data[at:]
        return data

    positions = st.integers(0, 10 * len(seed))
    junk = st.one_of(st.just(b"\x00"), st.binary(min_size=1, max_size=8))
    mutate: list[st.SearchStrategy[bytes]] = [
        positions.map(truncate),
        st.lists(st.tuples(positions, st.integers(1, 255)), min_size=1, max_size=8).map(flip),
        st.lists(st.tuples(positions, junk), min_size=1, max_size=4).map(insert),
    ]
    return st.one_of(mutate)


FRAGMENTS: tuple[str, ...] = (
    "ОБНОВЕНА",
    "РАЗШИРЕНА",
    "| РАЗШИРЕНА",
    "(БТА)",
    "/ИТ/",
    "Снимка:",
    "| ОБНОВЕНА",
    "Москва/Пхенян,",
    "София,",
    "12.08.2025 20:57",
    "31.12.1999 23:59",
    "29.02.2024 00:00",
    "32.13.2025 10:00",
    "01.01.0001 00:00",
    "30.03.2025 03:30",
    "1.1.1900 0:00",
    "99.99.9999 99:99",
    ",",
    "/",
    "(",
    ")",
    "|",
    "{",
    "Пламен Йотински, Иво Тасев",
    "Абзац на новината.",
)


def wire_like_text() -> st.SearchStrategy[str]:
    """Lines glued from layout fragments and junk: reaches deep into the parser's branches."""
    piece = st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(max_size=12),
        st.text(alphabet="0123456789.:| ,/()", max_size=20),
    )
    line = st.lists(piece, max_size=5).map(" ".join)
    return st.lists(line, min_size=1, max_size=25).map("\n".join)
