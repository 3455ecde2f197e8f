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
follow the "|" of the publication line; anywhere, it makes the item an update. The sign-off is
any editor's initials ("/ИТ/", "/ДИ/", "/ПГ/"); the photo line may be a credit alone
("Снимка: Name/БТА").

The dateline, timestamps and agency tag may share one line or take several, and the
"| MARKER DD.MM.YYYY HH:MM" part may take a line of its own. Every regex here is anchored and
free of nested quantifiers, and runs on lines whose length is capped, so hostile input cannot
make it backtrack.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from workers.core.decode import Decoded
from workers.core.model import Photo, RelatedItem, WireItem
from workers.core.rejects import Reject, RejectReason

PROVIDER = "bta"
SOFIA = ZoneInfo("Europe/Sofia")

# Lines longer than this cannot be structural (headline aside) and are never regex-scanned.
_MAX_STRUCTURAL_LINE = 400
_MAX_HEADER_LINES = 12
_MIN_YEAR = 1900

# The two update markers: "ОБНОВЕНА" (updated) and "РАЗШИРЕНА" (expanded).
_MARKER_WORD = r"(?:ОБНОВЕНА|РАЗШИРЕНА)"
_MARKER = re.compile(r"^" + _MARKER_WORD + r"(?:\b|$)[\s:.,\-–—]*", re.IGNORECASE)
_STAMP = r"(\d{1,2})\.(\d{1,2})\.(\d{4}),?\s+(\d{1,2}):(\d{2})"
_STAMP_LINE = re.compile(
    r"^(?P<place>[^|()\d]{0,200}?)[,\s]*"
    r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4}),?\s+(?P<hh>\d{1,2}):(?P<mm>\d{2})"
    r"(?:\s*\|\s*" + _MARKER_WORD + r":?\s*(?P<upd>\d{1,2}\.\d{1,2}\.\d{4},?\s+\d{1,2}:\d{2}))?"
    r"\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
# The "| MARKER <stamp>" part of the publication line when it takes a line of its own.
_UPDATE_LINE = re.compile(
    r"^\|\s*" + _MARKER_WORD + r":?\s*"
    r"(?P<upd>\d{1,2}\.\d{1,2}\.\d{4},?\s+\d{1,2}:\d{2})\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_STAMP_ONLY = re.compile(r"^" + _STAMP + r"$")
_STAMP_PARTS = re.compile(_STAMP)
_AGENCY = re.compile(r"^\((?P<agency>[^()\s]{2,12})\)\s*(?P<rest>.*)$")
_SIGNOFF = re.compile(r"^/\s*(?P<initials>[^\s/][^/]{0,30}?)\s*/$")
_CAPTION_CREDIT = re.compile(r"\bСнимка\s*:\s*", re.IGNORECASE)
_AUTHOR_NAME = re.compile(r"^[^\W\d_][\w.'’\-]*(?: [^\W\d_][\w.'’\-]*){0,4}$")


def parse(decoded: Decoded) -> WireItem | Reject:
    """Parse one decoded BTA item; every failure is a :class:`Reject`, never an exception."""
    lines = decoded.text.split("\n")
    nonblank = [i for i, line in enumerate(lines) if line]
    if not nonblank:
        return Reject(RejectReason.EMPTY, "no text")
    head_idx, headline, is_update = _read_headline(lines, nonblank)
    if not headline:
        return Reject(RejectReason.NO_HEADLINE, "the first line holds no headline")

    header = [i for i in nonblank if i > head_idx][:_MAX_HEADER_LINES]
    stamp_at = next((i for i in header if _is_stamp_line(lines[i])), None)
    if stamp_at is None:
        return Reject(
            RejectReason.NO_TIMESTAMP,
            "no 'DD.MM.YYYY HH:MM' publication line in the item's header",
        )
    stamp = _STAMP_LINE.match(lines[stamp_at])
    assert stamp is not None  # _is_stamp_line just matched it
    first = _to_sofia(*stamp.group("d", "m", "y", "hh", "mm"))
    if isinstance(first, Reject):
        return first
    upd_text: str | None = stamp.group("upd")
    rest = stamp.group("rest").strip()
    body_from = stamp_at + 1
    if upd_text is None and not rest:
        upd_line = _update_line(lines, stamp_at + 1)
        if upd_line is not None:
            upd_text, rest, body_from = upd_line
    updated: datetime | None = None
    if upd_text:
        upd = _stamp_from_text(upd_text)
        if isinstance(upd, Reject):
            return upd
        if upd < first:
            return Reject(
                RejectReason.BAD_TIMESTAMP,
                f"updated {upd:%d.%m.%Y %H:%M} is before first published {first:%d.%m.%Y %H:%M}",
            )
        updated = upd
        is_update = True

    header_lines = [lines[i] for i in nonblank if head_idx < i < stamp_at]
    inline_place = stamp.group("place").strip().rstrip(",").strip()
    authors, photo, places = _read_header(header_lines, inline_place)

    after = [lines[i] for i in range(body_from, len(lines))]
    agency, body_start = _read_agency(rest, after)
    paragraphs, signoff, related_lines = _read_body(body_start)
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
        envelope=decoded.envelope,
    )


def _read_headline(lines: list[str], nonblank: list[int]) -> tuple[int, str, bool]:
    """The headline's line index, its text without the update marker, and whether it is marked.

    Update markers on lines of their own ("РАЗШИРЕНА" above the headline) are skipped: the
    headline is the next non-blank line, unless that is already the publication line.
    """
    is_update = False
    position = 0
    while True:
        index = nonblank[position]
        marker = _MARKER.match(lines[index])
        if marker is None:
            return index, lines[index], is_update
        headline = lines[index][marker.end() :].strip()
        last = position + 1 == len(nonblank)
        if headline or last or _is_stamp_line(lines[nonblank[position + 1]]):
            return index, headline, True
        is_update = True
        position += 1


def _is_stamp_line(line: str) -> bool:
    if len(line) > _MAX_STRUCTURAL_LINE:
        return False
    match = _STAMP_LINE.match(line)
    if match is None:
        return False
    # A sentence that merely mentions a date is not the publication line: whatever stands
    # before the stamp must be a dateline (short, ends in a comma or is empty).
    place = match.group("place").strip()
    rest = match.group("rest").strip()
    if place and (len(place) > 80 or not _looks_like_dateline(place + ",")):
        return False
    return not rest or _AGENCY.match(rest) is not None


def _update_line(lines: list[str], start: int) -> tuple[str, str, int] | None:
    """'| ОБНОВЕНА DD.MM.YYYY HH:MM [(БТА)]' as the next non-blank line: stamp, rest, body start."""
    index = next((i for i in range(start, len(lines)) if lines[i]), None)
    if index is None or len(lines[index]) > _MAX_STRUCTURAL_LINE:
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
    if not text.endswith(",") or len(text) > 80:
        return False
    parts = [p.strip() for p in text[:-1].split("/")]
    return all(p and len(p.split()) <= 4 and not any(c in p for c in '.:;!?"') for p in parts)


def _to_sofia(day: str, month: str, year: str, hour: str, minute: str) -> datetime | Reject:
    """Sofia wall time to an aware datetime; the zone database picks +02:00 or +03:00."""
    try:
        value = datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=SOFIA)
    except ValueError as exc:
        return Reject(
            RejectReason.BAD_TIMESTAMP, f"{day}.{month}.{year} {hour}:{minute} is no time: {exc}"
        )
    if value.year < _MIN_YEAR:
        # Before 1894 Sofia kept local mean time (+01:33:16), which RFC 3339 cannot write, and
        # year 1 overflows on the way to UTC: such a stamp is a typo, not a wire item.
        return Reject(
            RejectReason.BAD_TIMESTAMP,
            f"{day}.{month}.{year} {hour}:{minute} is before {_MIN_YEAR}",
        )
    return value


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
        split = _CAPTION_CREDIT.search(line) if len(line) <= 4 * _MAX_STRUCTURAL_LINE else None
        if split is not None:
            caption_parts.append(line[: split.start()].strip())
            credit = line[split.end() :].strip() or None
        elif position == 0 and not caption_parts and _looks_like_authors(line):
            authors = tuple(name.strip() for name in line.split(",") if name.strip())
        else:
            caption_parts.append(line)
    caption = " ".join(p for p in caption_parts if p)
    photo = Photo(caption, credit) if caption or credit else None
    places = tuple(p.strip() for p in dateline.split("/") if p.strip()) if dateline else ()
    return authors, photo, places


def _looks_like_authors(line: str) -> bool:
    if len(line) > 200:
        return False
    names = [n.strip() for n in line.split(",")]
    return all(n and len(n) <= 60 and _AUTHOR_NAME.match(n) for n in names)


def _read_agency(inline_rest: str, after: list[str]) -> tuple[str | None, list[str]]:
    """The '(БТА)' tag: on the publication line, on its own line, or opening the first paragraph."""
    if inline_rest:
        tag = _AGENCY.match(inline_rest)
        if tag is None:
            return None, after
        rest = tag.group("rest").strip()
        return tag.group("agency"), ([rest] if rest else []) + after
    for index, line in enumerate(after):
        if not line:
            continue
        tag = _AGENCY.match(line) if len(line) <= 4 * _MAX_STRUCTURAL_LINE else None
        if tag is None:
            return None, after
        rest = tag.group("rest").strip()
        return tag.group("agency"), ([rest] if rest else []) + after[index + 1 :]
    return None, after


def _read_body(lines: list[str]) -> tuple[list[str], str | None, list[str]]:
    """Paragraphs (one per non-blank line) up to the sign-off, or up to a lone timestamp."""
    paragraphs: list[str] = []
    for index, line in enumerate(lines):
        if not line:
            continue
        short = len(line) <= 40
        signoff = _SIGNOFF.match(line) if short else None
        if signoff is not None:
            return paragraphs, signoff.group("initials").strip(), lines[index + 1 :]
        if short and _STAMP_ONLY.match(line):
            return paragraphs, None, lines[index:]
        paragraphs.append(line)
    return paragraphs, None, []


def _read_related(lines: list[str]) -> tuple[RelatedItem, ...]:
    """Groups of 'time / headline / lead lines' after the sign-off; malformed groups are skipped."""
    related: list[RelatedItem] = []
    current: tuple[datetime, list[str]] | None = None

    def close() -> None:
        if current is not None and current[1]:
            when, texts = current
            related.append(RelatedItem(when, texts[0], "\n\n".join(texts[1:])))

    for line in lines:
        if not line:
            continue
        stamp = _STAMP_ONLY.match(line) if len(line) <= 40 else None
        when = _to_sofia(*stamp.groups()) if stamp else None
        if isinstance(when, datetime):
            close()
            current = (when, [])
        elif current is not None:
            current[1].append(line)
    close()
    return tuple(related)
