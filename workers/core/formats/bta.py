"""The BTA (Bulgarian News Agency) wire layout: normalised text to a :class:`WireItem`.

The layout, top to bottom (optional parts in brackets)::

    [MARKER]
    [MARKER] headline
    [authors, comma separated]
    [photo caption ... Снимка: credit]
    [Place/Place,]  DD.MM.YYYY HH:MM [| MARKER DD.MM.YYYY HH:MM]  [(БТА)]
    body paragraphs, one per line
    [/ИТ/]
    [DD.MM.YYYY HH:MM / related headline / related lead]...

MARKER is either update marker, "ОБНОВЕНА" (updated) or "РАЗШИРЕНА" (expanded), in any case. It
may open the headline line (then it is cut off the headline, with any ":" or dash after it),
stand on a line of its own above the headline (then the headline is the next non-blank line), or
follow the "|" of the publication line; anywhere, it makes the item an update. Opening the
headline in lower or mixed case with only a space after it, the word is the headline's own
adjective ("Обновена детска градина ...": renovated), not a marker. The sign-off is
any editor's initials ("/ИТ/", "/ДИ/", "/ПГ/"); the photo line may be a credit alone
("Снимка: Name/БТА").

The dateline, timestamps and agency tag may share one line or take several, and the
"| MARKER DD.MM.YYYY HH:MM" part may take a line of its own. Every regex here is anchored and
free of nested quantifiers, and runs on lines whose length is capped, so hostile input cannot
make it backtrack.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timezone
from functools import lru_cache
from itertools import compress
from zoneinfo import ZoneInfo

from workers.core import keys
from workers.core.decode import DEFAULT_MAX_BYTES, Decoded, decode, text_lines
from workers.core.formats.types import EARLIEST_YEAR, LATEST_YEAR
from workers.core.model import Envelope, Photo, RelatedItem, WireItem
from workers.core.rejects import Reject, RejectReason

NAME = "bta"
PROVIDER = "bta"
SOFIA = ZoneInfo("Europe/Sofia")
# What a BTA item does not say of itself: its language and the agency's name (the ninjs item).
LANGUAGE = "bg"
AGENCY = "БТА"
# The article id in a bta.bg URL: the numeric start of its last path segment.
_ARTICLE_ID = re.compile(r"/(\d{3,12})(?:-[^/?#]*)?/?(?:[?#]|$)")

# Lines longer than this cannot be structural (headline aside) and are never regex-scanned.
_MAX_STRUCTURAL_LINE = 400
_MAX_HEADER_LINES = 12

# The two update markers: "ОБНОВЕНА" (updated) and "РАЗШИРЕНА" (expanded).
_MARKER_WORD = r"(?:ОБНОВЕНА|РАЗШИРЕНА)"
# Either marker, or the two joined: by "и" or "/" in any case ("ОБНОВЕНА И РАЗШИРЕНА",
# "обновена/разширена"), by a comma or a space only in capitals ("РАЗШИРЕНА, ОБНОВЕНА"): in
# "ОБНОВЕНА Разширена зона за паркиране" the second word is the headline's own.
_MARKER_WORDS = (
    _MARKER_WORD
    + r"(?:\b|$)(?:(?:\s*/\s*|\s+и\s+)"
    + _MARKER_WORD
    + r"(?:\b|$)|\s*,?\s+(?-i:ОБНОВЕНА|РАЗШИРЕНА)(?:\b|$))*"
)
# A headline's marker and the punctuation that sets it off.
_MARKER = re.compile(r"^" + _MARKER_WORDS + r"[\s:.,\-–—]*", re.IGNORECASE)
# Punctuation between or after the marker words: a marker set off by it is no adjective.
_MARKER_PUNCTUATION = re.compile(r"[:.,/\-–—]")
_STAMP = r"(\d{1,2})\.(\d{1,2})\.(\d{4}),?\s+(\d{1,2}):(\d{2})"
_STAMP_LINE = re.compile(
    r"^(?P<place>[^|()\d]{0,200}?)[,\s]*"
    r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4}),?\s+(?P<hh>\d{1,2}):(?P<mm>\d{2})"
    r"(?:\s*\|\s*" + _MARKER_WORDS + r":?\s*(?P<upd>\d{1,2}\.\d{1,2}\.\d{4},?\s+\d{1,2}:\d{2}))?"
    r"\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
# The "| MARKER <stamp>" part of the publication line when it takes a line of its own.
_UPDATE_LINE = re.compile(
    r"^\|\s*" + _MARKER_WORDS + r":?\s*"
    r"(?P<upd>\d{1,2}\.\d{1,2}\.\d{4},?\s+\d{1,2}:\d{2})\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_STAMP_ONLY = re.compile(r"^" + _STAMP + r"$")
_STAMP_PARTS = re.compile(_STAMP)
_AGENCY = re.compile(r"^\((?P<agency>[^()\s]{2,12})\)\s*(?P<rest>.*)$")
_SIGNOFF = re.compile(r"^/\s*(?P<initials>[^\s/][^/]{0,30}?)\s*/$")
_CAPTION_CREDIT = re.compile(r"\bСнимка\s*:\s*", re.IGNORECASE)
_AUTHOR_NAME = re.compile(r"^[^\W\d_][\w.'’\-]*(?: [^\W\d_][\w.'’\-]*){0,4}$")
_NOT_IN_PLACE = re.compile(r'[.:;!?"]')
# An abbreviated word of a place name, another word after it: a capital and at most two small
# letters ("В. Търново", "Ст. Загора"), or the settlement words "гр." and "с." ("гр. Пловдив",
# "с. Лозен"). Its dot is no sentence's end; "МВР.", "го." or "т.е." stay full stops.
_ABBREVIATION_DOT = re.compile(r"(?<!\w)([^\W\d_]{1,3})\.(?=\s*[^\W\d_])")


def detect(data: bytes) -> bool:  # noqa: ARG001 - the interface's signature
    """BTA is the fallback: text that no other format claimed is read as a BTA item."""
    return True


def parse(data: bytes, received_at: datetime | None) -> tuple[WireItem, ...] | Reject:  # noqa: ARG001
    """Decode (encoding, envelope, hygiene) and parse one BTA item."""
    decoded = decode(data, max(len(data), DEFAULT_MAX_BYTES))  # the registry checked the size
    if isinstance(decoded, Reject):
        return decoded
    parsed = parse_decoded(decoded)
    return parsed if isinstance(parsed, Reject) else (parsed,)


def article_id(url: str | None) -> str | None:
    """The article id of a bta.bg URL (``/1234567-slug``): what ties deliveries of a story."""
    if not url:
        return None
    match = _ARTICLE_ID.search(url)
    return match.group(1) if match else None


def parse_decoded(decoded: Decoded) -> WireItem | Reject:
    """Parse one decoded BTA item; every failure is a :class:`Reject`, never an exception."""
    lines = text_lines(decoded.text)
    # Indexes of the non-blank lines, selected in C: only the header ever looks them up.
    nonblank = list(compress(range(len(lines)), lines))
    if not nonblank:
        return Reject(RejectReason.EMPTY, "no text")
    head_pos, headline, is_update = _read_headline(lines, nonblank)
    if not headline:
        return Reject(RejectReason.NO_HEADLINE, "the first line holds no headline")

    header = nonblank[head_pos + 1 : head_pos + 1 + _MAX_HEADER_LINES]
    stamp: re.Match[str] | None = None
    stamp_pos = 0
    for stamp_pos in range(len(header)):
        line = lines[header[stamp_pos]]
        stamp = _stamp_line(line) if ":" in line else None  # "HH:MM": no colon, no call
        if stamp is not None:
            break
    if stamp is None:
        return Reject(
            RejectReason.NO_TIMESTAMP,
            "no 'DD.MM.YYYY HH:MM' publication line in the item's header",
        )
    # One groups() call for all of them: each group() by name costs about as much.
    place, day, month, year, hour, minute, upd_text, rest = stamp.groups()
    first = _to_sofia(day, month, year, hour, minute)
    if isinstance(first, Reject):
        return first
    rest = rest.strip()
    body_from = header[stamp_pos] + 1
    if upd_text is None and not rest:
        next_pos = head_pos + stamp_pos + 2  # the non-blank line after the publication line
        upd_line = _update_line(lines, nonblank[next_pos]) if next_pos < len(nonblank) else None
        if upd_line is not None:
            upd_text, rest, body_from = upd_line
    updated: datetime | None = None
    if upd_text:
        upd = _stamp_from_text(upd_text)
        if isinstance(upd, Reject):
            return upd
        if upd < first:
            upd = _after_the_clocks_went_back(upd, first)
        if upd < first:
            return Reject(
                RejectReason.BAD_TIMESTAMP,
                f"updated {upd:%d.%m.%Y %H:%M} is before first published {first:%d.%m.%Y %H:%M}",
            )
        updated = upd
        is_update = True

    header_lines = [lines[i] for i in header[:stamp_pos]]
    inline_place = place.strip().rstrip(",").strip()
    authors, photo, places = _read_header(header_lines, inline_place)

    # From here on blank lines only separate: the body and related list get non-blank ones.
    agency, body = _read_agency(rest, list(filter(None, lines[body_from:])))
    paragraphs, signoff, related_lines = _read_body(body)
    if not paragraphs:
        return Reject(RejectReason.NO_BODY, "no body paragraph after the publication line")
    related = _read_related(related_lines)
    return WireItem(
        provider=PROVIDER,
        headline=headline,
        is_update=is_update,
        first_created=first,
        updated=updated,
        paragraphs=tuple(paragraphs),
        authors=authors,
        photo=photo,
        places=places,
        agency=agency,
        signoff=signoff,
        related=related,
        envelope=_with_article_id(decoded.envelope),
    )


def _read_headline(lines: Sequence[str], nonblank: list[int]) -> tuple[int, str, bool]:
    """The headline's position in ``nonblank``, its text without the marker, and whether marked.

    Update markers on lines of their own ("РАЗШИРЕНА" above the headline) are skipped: the
    headline is the next non-blank line, unless that is already the publication line.
    """
    is_update = False
    position = 0
    while True:
        line = lines[nonblank[position]]
        marker = _MARKER.match(line)
        if marker is None or _opens_as_an_adjective(line, marker):
            return position, line, is_update
        headline = line[marker.end() :].strip()
        last = position + 1 == len(nonblank)
        if headline or last or _stamp_line(lines[nonblank[position + 1]]) is not None:
            return position, headline, True
        is_update = True
        position += 1


def _opens_as_an_adjective(line: str, marker: re.Match[str]) -> bool:
    """Whether the marker word is the headline's own first word: "Обновена детска градина
    отвори врати" (a renovated kindergarten) or "Обновена Столична библиотека ..." is no update.

    A marker is written in capitals ("ОБНОВЕНА ..."), or set off by punctuation ("Обновена:
    ...", "обновена - ..."), or stands on a line of its own. A word in lower or mixed case with
    only spaces before the next word is the headline's adjective, and so are both marker words
    joined by "и" ("Обновена и разширена детска градина").
    """
    word_end = len("РАЗШИРЕНА") if line[:1] in "Рр" else len("ОБНОВЕНА")
    return (
        not line[:word_end].isupper()
        and _MARKER_PUNCTUATION.search(line, word_end, marker.end()) is None
        and marker.end() < len(line)
    )


def _stamp_line(line: str) -> re.Match[str] | None:
    """The match of a publication line (None for any other line), for the caller to reuse."""
    if len(line) > _MAX_STRUCTURAL_LINE or not _has_clock(line):
        return None
    match = _STAMP_LINE.match(line)
    if match is None:
        return None
    # A sentence that merely mentions a date is not the publication line: whatever stands
    # before the stamp must be a dateline (short, ends in a comma or is empty).
    place, rest = match.group("place", "rest")
    place, rest = place.strip(), rest.strip()
    if place and (len(place) > 80 or not _looks_like_dateline(place + ",")):
        return None
    return match if not rest or _AGENCY.match(rest) is not None else None


def _has_clock(line: str) -> bool:
    """Whether a digit, a colon and a digit stand in a row: a stamp's "HH:MM" needs them.

    A regex search for that tries every position; most lines have no colon, or one or two,
    and find() runs in C. ``\\d`` in a str pattern is what :meth:`str.isdecimal` says.
    """
    colon = line.find(":", 1)
    while colon != -1:
        if line[colon - 1].isdecimal() and line[colon + 1 : colon + 2].isdecimal():
            return True
        colon = line.find(":", colon + 1)
    return False


def _update_line(lines: Sequence[str], index: int) -> tuple[str, str, int] | None:
    """'| ОБНОВЕНА DD.MM.YYYY HH:MM [(БТА)]' as line ``index``: stamp, rest, body start."""
    if len(lines[index]) > _MAX_STRUCTURAL_LINE:
        return None
    match = _UPDATE_LINE.match(lines[index])
    if match is None:
        return None
    rest = match.group("rest").strip()
    if rest and _AGENCY.match(rest) is None:
        return None
    return match.group("upd"), rest, index + 1


def _looks_like_dateline(text: str) -> bool:
    """'Москва/Пхенян,' — a few short place names joined by '/', ending in a comma."""
    return text.endswith(",") and len(text) <= 80 and _are_place_names(text[:-1])


def _without_an_abbreviations_dot(match: re.Match[str]) -> str:
    word = match.group(1)
    short = word[0].isupper() and word[1:] == word[1:].lower()  # "В", "Ст"; not "МВР"
    return word if short or word in _TOWN_OR_VILLAGE else match.group(0)


# The settlement words whose dot a name may hold anywhere ("Москва, гр. Подолск"); the other
# kinds of place only open a name (:func:`_are_place_names`): "През м. май," is no dateline.
_TOWN_OR_VILLAGE = frozenset({"гр", "с"})
# A quoted part of a name opens with a capital ('Летище "Васил Левски"'); 'Той каза "да"' is
# a sentence.
_QUOTED = re.compile(r'"([^"]*)"')


@lru_cache(maxsize=4096)
def _are_place_names(names: str) -> bool:
    """Whether '/' joins one to a few short names; cached, as datelines ("София,") recur.

    A name holds no punctuation but an abbreviation's dot ("В. Търново") and quotes around a
    part of it ('Летище "Васил Левски"'); a lower-case word in front may say what kind of
    place it is ("к.к. Слънчев бряг", "к.к.Слънчев бряг", "м. Пампорово":
    :func:`keys.split_settlement`).
    """
    for name in names.split("/"):
        words = keys.split_settlement(name)[1].split()
        if not words or len(words) > 4:
            return False
        rest = " ".join(words)
        if '"' in rest:
            quoted = _QUOTED.findall(rest)
            if rest.count('"') % 2 or not all(part[:1].isupper() for part in quoted):
                return False
            rest = rest.replace('"', "")
        if _NOT_IN_PLACE.search(rest) is not None and (
            "." not in rest
            or _NOT_IN_PLACE.search(_ABBREVIATION_DOT.sub(_without_an_abbreviations_dot, rest))
            is not None
        ):
            return False
    return True


@lru_cache(maxsize=4096)
def _to_sofia(day: str, month: str, year: str, hour: str, minute: str) -> datetime | Reject:
    """Sofia wall time to an aware datetime; the zone database picks +02:00 or +03:00.

    Cached: an item's related list repeats the stamps of earlier items, and both answers are
    immutable, so sharing them is safe.
    """
    try:
        # tzinfo given by position: the constructor parses keywords much more slowly.
        value = datetime(int(year), int(month), int(day), int(hour), int(minute), 0, 0, SOFIA)
    except ValueError as exc:
        return Reject(
            RejectReason.BAD_TIMESTAMP, f"{day}.{month}.{year} {hour}:{minute} is no time: {exc}"
        )
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        # Before 1894 Sofia kept local mean time (+01:33:16), which RFC 3339 cannot write, and
        # year 1 overflows on the way to UTC: such a stamp is a typo, not a wire item.
        return Reject(
            RejectReason.BAD_TIMESTAMP,
            f"{day}.{month}.{year} {hour}:{minute} is not in {EARLIEST_YEAR}-{LATEST_YEAR}",
        )
    return value


def _after_the_clocks_went_back(update: datetime, first: datetime) -> datetime:
    """An update stamped in the hour the clocks repeat in autumn ("03:10" after "03:40") is
    the second reading of that hour, if that one is not before the first publication: as a
    fixed UTC offset (+02:00), which every comparison takes by the instant, not the wall
    clock (two datetimes of one zone compare by wall time, the fold ignored)."""
    later = update.replace(fold=1)
    offset = later.utcoffset()
    if offset is None or offset == update.utcoffset():
        return update  # no repeated hour
    fixed = later.astimezone(timezone(offset))
    return fixed if fixed >= first.astimezone(UTC) else update


def _stamp_from_text(text: str) -> datetime | Reject:
    match = _STAMP_PARTS.search(text)
    if match is None:
        return Reject(RejectReason.BAD_TIMESTAMP, f"cannot read a time from {text[:40]!r}")
    return _to_sofia(*match.groups())


def _read_header(
    header: list[str], inline_place: str
) -> tuple[tuple[str, ...], Photo | None, tuple[str, ...]]:
    """Classify the lines between headline and publication line: authors, caption, dateline."""
    authors: tuple[str, ...] = ()
    caption_parts: list[str] = []
    credit: str | None = None
    dateline = inline_place
    remaining = list(header)
    if not dateline and remaining and _looks_like_dateline(remaining[-1]):
        dateline = remaining.pop()[:-1].strip()
    for position, line in enumerate(remaining):
        split = _caption_credit(line) if len(line) <= 4 * _MAX_STRUCTURAL_LINE else None
        byline = split is None and position == 0 and len(line) <= 200
        names = _authors(line) if byline else None
        if split is not None:
            caption_parts.append(line[: split.start()].strip())
            credit = line[split.end() :].strip() or None
        elif names is not None:
            authors = names
        else:
            caption_parts.append(line)
    caption = " ".join(filter(None, caption_parts))
    photo = Photo(caption, credit) if caption or credit else None
    return authors, photo, _place_names(dateline) if dateline else ()


@lru_cache(maxsize=4096)
def _place_names(dateline: str) -> tuple[str, ...]:
    """The places of a dateline ("Москва/Пхенян"); cached, as datelines recur all day."""
    return tuple(filter(None, map(str.strip, dateline.split("/"))))


def _caption_credit(line: str) -> re.Match[str] | None:
    """_CAPTION_CREDIT's first match, the search started near it rather than at the line's start.

    A match is "Снимка", blanks, then a colon. If it takes the line's first colon, the word
    ends where the text before that colon ends once its trailing blanks are stripped; if a
    later colon, the first one lies before the match. Either way no match starts more than six
    characters before that end, and the search from there finds the same first match.
    """
    colon = line.find(":")
    if colon < 0:
        return None
    return _CAPTION_CREDIT.search(line, max(len(line[:colon].rstrip()) - 6, 0))


@lru_cache(maxsize=4096)
def _authors(line: str) -> tuple[str, ...] | None:
    """The names of an authors line ("Name Surname, Name Surname"), or None if it is not one.

    Cached, as bylines recur all day (a tuple of str can be shared); the caller asks only of
    lines up to 200 characters, longer are never bylines, so the cache stays small.
    """
    names = tuple(map(str.strip, line.split(",")))
    for name in names:
        if not name or len(name) > 60 or _AUTHOR_NAME.match(name) is None:
            return None
    return names


def _read_agency(inline_rest: str, after: list[str]) -> tuple[str | None, list[str]]:
    """The '(БТА)' tag: on the publication line, on its own line, or opening the first paragraph.

    ``after`` is the non-blank lines after the publication line.
    """
    line = inline_rest or (after[0] if after else "")
    tag = _AGENCY.match(line) if len(line) <= 4 * _MAX_STRUCTURAL_LINE else None
    if tag is None:
        return None, after
    rest = tag.group("rest").strip()
    return tag.group("agency"), ([rest] if rest else []) + after[0 if inline_rest else 1 :]


def _read_body(lines: list[str]) -> tuple[list[str], str | None, list[str]]:
    """Paragraphs (one per non-blank line) up to the sign-off, or up to a lone timestamp.

    ``lines`` are non-blank, so the paragraphs are the lines before the one that ends them.
    """
    for index, line in enumerate(lines):
        if len(line) <= 40:
            signoff = _SIGNOFF.match(line)
            if signoff is not None:
                return lines[:index], signoff.group("initials").strip(), lines[index + 1 :]
            if _STAMP_ONLY.match(line):
                return lines[:index], None, lines[index:]
    return lines, None, []


def _read_related(lines: list[str]) -> tuple[RelatedItem, ...]:
    """Groups of 'time / headline / lead lines' after the sign-off; malformed groups are skipped.

    ``lines`` are non-blank. A group starts at a lone timestamp that is a real time and takes
    the lines up to the next such; lines before the first are no group's.
    """
    related: list[RelatedItem] = []
    when: datetime | None = None
    start = 0
    for index, line in enumerate(lines):
        stamped = _lone_time(line) if len(line) <= 40 else None
        if stamped is not None:
            if when is not None and start + 1 < index:
                lead = "\n\n".join(lines[start + 2 : index])
                related.append(RelatedItem(when, lines[start + 1], lead))
            when, start = stamped, index
    if when is not None and start + 1 < len(lines):
        related.append(RelatedItem(when, lines[start + 1], "\n\n".join(lines[start + 2 :])))
    return tuple(related)


@lru_cache(maxsize=4096)
def _lone_time(line: str) -> datetime | None:
    """The time of a line that is a lone 'DD.MM.YYYY HH:MM' and a real time, else None.

    Cached: related lists repeat the stamps of earlier items.
    """
    stamp = _STAMP_ONLY.match(line)
    when = _to_sofia(*stamp.groups()) if stamp else None
    return when if isinstance(when, datetime) else None


def _with_article_id(envelope: Envelope) -> Envelope:
    """The envelope with the article id its URL names (none without a URL)."""
    if envelope.url is None:
        return envelope
    return Envelope(envelope.source, envelope.url, envelope.received_at, article_id(envelope.url))
