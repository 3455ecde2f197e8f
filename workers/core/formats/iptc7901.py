"""IPTC 7901 (the IPTC "recommended message format", as dpa sends it): framed text to a WireItem.

The layout, top to bottom (optional parts in brackets)::

    SOH <source><number> <priority> <category> <word count> [<originator> <more>]
    <keyword/keyword/>                          the story's keyword (slug)
    [<take key>]...                             "1ST LEAD", "REFILE", "KILL"... one a line
    STX <headline> [=]
    [By <name>[ and <name>]] =
                                                a blank line
    <Place> (<agency>) - <first paragraph>      lines wrapped; blank lines part paragraphs
    <paragraph>...
    [# Notebook ... / * * * * / The following information is not for publication ...]
    [<agency> <editor initials>...]             the sign-off, e.g. "dpa grj rmo"
    ETX <DDHHMM> GMT [<Mon> [<YY>]]             the trailer: day, hour, minute, month, year
    [EOT]

The trailer is a date-time group: "131137 GMT Nov 26" is the 13th, 11:37 GMT, November 2026.
Without a year (or a month) the time is put nearest to when the input was received.

Everything between the framing is decoded as UTF-8 when it is valid UTF-8, else as Windows-1252
(ISO 8859-1 as Windows systems write it); control characters but the framing are dropped.
Structural regexes are anchored, free of nested quantifiers, and run on lines whose length is
capped, so hostile input cannot make them backtrack; nothing here raises.
"""

from __future__ import annotations

import codecs
import re
from datetime import UTC, datetime
from string import ascii_lowercase, digits

from workers.core.decode import normalise_text
from workers.core.formats.text import has_glyph
from workers.core.formats.types import EARLIEST_YEAR, LATEST_YEAR
from workers.core.model import StoryLink, WireItem
from workers.core.rejects import Reject, RejectReason

NAME = "iptc7901"

SOH, STX, ETX, EOT = "\x01", "\x02", "\x03", "\x04"
_UTF8_BOM = b"\xef\xbb\xbf"
# Lines longer than this are never structural (header, trailer) and are never regex-scanned.
_MAX_LINE = 400
# How much of a first paragraph can hold its dateline.
_MAX_DATELINE = 200

# SOH (maybe after blanks or SYN idles, and before blanks), then "<letters><digits> ": ANPA
# 1312 has a unit separator (US) right after its four digits, so the two never claim the same
# bytes.
_DETECT = re.compile(rb"[\r\n ]*\x16*\x01[\r\n ]*[A-Za-z]{1,8}[0-9]{1,6}[ \r\n]")
_HEADER = re.compile(
    r"^(?P<source>[A-Za-z]{1,8})(?P<number>[0-9]{1,6}) +(?P<priority>[0-9]) +"
    r"(?P<category>[A-Za-z]{1,3}) +(?P<words>[0-9]{1,5})(?: +(?P<rest>.*))?$"
)
_TRAILER = re.compile(
    r"^(?P<day>[0-9]{2})(?P<hour>[0-9]{2})(?P<minute>[0-9]{2}) ?(?:GMT|UTC|UT|Z)"
    r"(?: (?P<month>[^\W\d_]{3,9})\.?(?: (?P<year>[0-9]{4}|[0-9]{2}))?)?$"
)
_DATELINE = re.compile(
    r"^(?P<place>[^\W\d_][^()]{0,79}?) \((?P<agency>[A-Za-z][A-Za-z0-9/-]{0,29})\)"
    r" ?(?:-|–|—|_)? ?"
)
_ORDINAL = re.compile(r"^[0-9]{1,2}(?:ST|ND|RD|TH)$", re.IGNORECASE)
_KILL = re.compile(r"\b(?:KILL|KILLED|ELIMINATION|WITHDRAWAL|WITHDRAWN)\b", re.IGNORECASE)
_NOT_FOR_PUBLICATION = re.compile(
    r"^the following information is not (?:intended )?for publication", re.IGNORECASE
)
_AUTHOR_SPLIT = re.compile(r",|\band\b|\bund\b")
# Words a take key is made of, after the keyword or on lines of their own.
_TAKE_WORDS = frozenset(
    {
        "LEAD",
        "REFILE",
        "EXTRA",
        "KILL",
        "ELIMINATION",
        "CORRECTION",
        "CORRECTED",
        "WITHDRAWAL",
        "URGENT",
        "UPDATE",
        "REPEAT",
    }
)
MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "mär": 3,
    "mrz": 3,
    "apr": 4,
    "may": 5,
    "mai": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "okt": 10,
    "nov": 11,
    "dec": 12,
    "dez": 12,
}
# A text that is no UTF-8 is ISO 8859-1 as Windows writes it: its bytes 0x80-0x9F, C1 controls
# in ISO 8859-1 that no 7901 text uses, are the Windows-1252 signs ("„", "“", "–", "€") that a
# newsroom's Windows system sends there; dropped as controls, "10–12 Uhr" would read
# "1012 Uhr". The five bytes Windows-1252 leaves unassigned stay the C1 controls (as in the
# WHATWG Encoding Standard), and are dropped.
_WINDOWS_1252 = "".join(
    bytes([byte]).decode("cp1252", errors="ignore") or chr(byte) for byte in range(256)
)
# C0 controls but TAB, LF and CR; DEL; C1 controls: dropped from the text.
_CONTROLS = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)])
_PROVIDER_CHARS = frozenset(ascii_lowercase + digits)


def detect(data: bytes) -> bool:
    """SOH, then (after any line breaks) a 7901 header's "<source><number> " in the first
    bytes."""
    head = data[:64]
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    return _DETECT.match(head) is not None


def parse(data: bytes, received_at: datetime | None) -> tuple[WireItem, ...] | Reject:
    """The one item of a 7901 message, or why there is none; never raises."""
    framed = frame(data)
    if isinstance(framed, Reject):
        return framed
    header, text, trailer = framed
    head = _read_header(header)
    if isinstance(head, Reject):
        return head
    originator, slug, take = head

    lines = normalised_lines(text)
    stamp = trailer_line(normalised_lines(trailer), lines, _TRAILER)
    if stamp is None:
        return Reject(RejectReason.NO_TIMESTAMP, "no trailer time ('DDHHMM GMT Mon YY')")
    match, lines = stamp
    when = _trailer_time(match, received_at)
    if isinstance(when, Reject):
        return when

    headline, authors, body = _read_headline(lines)
    if not headline:
        return Reject(RejectReason.NO_HEADLINE, "no headline line after STX")
    blocks = _blocks(body)
    cut = _notes_start(blocks)
    place, agency, paragraphs = read_dateline(tuple(map(" ".join, blocks[:cut])), _DATELINE)
    if agency is None and originator is not None:
        agency = originator
    provider = provider_of(agency) or NAME
    agencies = {provider, (originator or "").casefold()}
    notes = blocks[cut:]
    if notes and _is_signoff(" ".join(notes[-1]), agencies):
        notes.pop()
    elif paragraphs and _is_signoff(paragraphs[-1], agencies):
        paragraphs = paragraphs[:-1]
    ed_note = _notes(notes)
    canceled = take is not None and _KILL.search(take) is not None
    if not paragraphs and not canceled:
        return Reject(RejectReason.NO_BODY, "no paragraph after the headline")
    return (
        WireItem(
            provider=provider,
            headline=headline,
            is_update=take is not None,
            first_created=when,
            updated=None,
            paragraphs=paragraphs,
            authors=authors,
            places=(place,) if place else (),
            agency=agency,
            wire_format=NAME,
            link=story_link(provider, slug, when),
            pub_status="canceled" if canceled else "usable",
            slugline=slug,
            ed_note=ed_note,
            take=take,
        ),
    )


def frame(data: bytes) -> tuple[str, str, str] | Reject:
    """The decoded header, text and trailer between SOH, STX, ETX and the optional EOT.

    UTF-8 if the bytes are valid UTF-8, else Windows-1252 (:data:`_WINDOWS_1252`, which
    decodes any byte); the framing characters are ASCII either way, so they are looked for in
    the decoded text.
    """
    body = data[len(_UTF8_BOM) :] if data.startswith(_UTF8_BOM) else data
    body = body.lstrip(b"\x16\r\n\t ")
    if not body.strip(b"\x00\x16\r\n\t "):
        return Reject(RejectReason.EMPTY, "no bytes but whitespace and idles")
    if body[:1] != SOH.encode():
        return Reject(RejectReason.BAD_FRAMING, "no SOH at the start of the message")
    try:
        text = body[1:].decode("utf-8")
    except UnicodeDecodeError:
        text = codecs.charmap_decode(body[1:], "strict", _WINDOWS_1252)[0]
    stx = text.find(STX)
    if stx < 0:
        return Reject(RejectReason.BAD_FRAMING, "no STX after the header")
    early_etx = text.find(ETX, 0, stx)
    if early_etx >= 0:
        return Reject(RejectReason.BAD_FRAMING, f"ETX at character {early_etx + 1} before STX")
    etx = text.find(ETX, stx + 1)
    if etx < 0:
        return Reject(RejectReason.BAD_FRAMING, "no ETX after the text (truncated message?)")
    eot = text.find(EOT, etx + 1)
    return text[:stx], text[stx + 1 : etx], text[etx + 1 : eot if eot >= 0 else len(text)]


def clean(text: str) -> str:
    """LF line ends, control characters but TAB and LF dropped."""
    text = text.translate(_CONTROLS)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def normalised_lines(text: str) -> list[str]:
    """The lines of ``text`` (controls dropped), each as normalise_text leaves it.

    One normalise_text call for all of them: a sentinel line at each end keeps blank first and
    last lines, so line i of the result is line i of the text.
    """
    return normalise_text(f".\n{clean(text)}\n.").split("\n")[1:-1]


def _read_header(header: str) -> tuple[str | None, str | None, str | None] | Reject:
    """The originator ("dpa" of "... 342  dpa 0512"), the keyword and the take key(s)."""
    lines = [line for line in normalised_lines(header) if line]
    if not lines:
        return Reject(RejectReason.BAD_FRAMING, "nothing between SOH and STX")
    first = lines[0]
    match = _HEADER.match(first) if len(first) <= _MAX_LINE else None
    if match is None:
        return Reject(
            RejectReason.BAD_FRAMING,
            f"header {first[:40]!r} is not '<source><number> <priority> <category> <words>'",
        )
    rest = (match.group("rest") or "").split()
    word = rest[0] if rest else ""
    originator = word if word.isascii() and word.replace("-", "").isalpha() else None
    slug: str | None = None
    takes: list[str] = []
    for position, line in enumerate(lines[1:]):
        if position == 0:
            keyword, take = _split_take(line)
            slug = keyword.rstrip("/ ").strip() or None
            if take:
                takes.append(take)
        else:
            takes.append(line)
    return originator, slug, " ".join(takes) or None


def _split_take(line: str) -> tuple[str, str]:
    """A keyword line into the keyword and a take key written after it ("Yemen/ 1ST LEAD")."""
    tokens = line.split(" ")
    cut = len(tokens)
    while cut > 0 and (tokens[cut - 1].upper() in _TAKE_WORDS or _ORDINAL.match(tokens[cut - 1])):
        cut -= 1
    taken = tokens[cut:]
    if not any(token.upper() in _TAKE_WORDS for token in taken):
        return line, ""
    return " ".join(tokens[:cut]), " ".join(taken)


def trailer_line(
    after: list[str], text: list[str], pattern: re.Pattern[str]
) -> tuple[re.Match[str], list[str]] | None:
    """The trailer's match and the text lines: the first line after ETX, else the text's last.

    Both take normalised lines. A trailer found as the text's last line is cut off the text.
    """
    for raw in after:
        line = raw.rstrip("<= ")
        if line:
            match = pattern.match(line) if len(line) <= _MAX_LINE else None
            if match is not None:
                return match, text
            break
    for index in range(len(text) - 1, -1, -1):
        line = text[index].lstrip("^").rstrip("<= ")
        if line:
            match = pattern.match(line) if len(line) <= _MAX_LINE else None
            return (match, text[:index]) if match is not None else None
    return None


def _trailer_time(match: re.Match[str], received_at: datetime | None) -> datetime | Reject:
    day, hour, minute, month_name, year = match.group("day", "hour", "minute", "month", "year")
    month: int | None = None
    if month_name is not None:
        month = MONTHS.get(month_name[:3].casefold())
        if month is None:
            return Reject(RejectReason.BAD_TIMESTAMP, f"{month_name[:12]!r} is no month")
    return utc_time(
        match.group(0),
        year=year,
        month=month,
        day=int(day),
        hour=int(hour),
        minute=int(minute),
        received_at=received_at,
    )


def utc_time(
    text: str,
    *,
    year: str | None,
    month: int | None,
    day: int,
    hour: int,
    minute: int,
    received_at: datetime | None,
) -> datetime | Reject:
    """The trailer's UTC time; without a year (or month), the one nearest ``received_at``.

    A two-digit year is 20YY. A "Dec 31" trailer received on 1 January is last year's.
    """
    if year is not None and month is not None:
        full = int(year) + (2000 if len(year) == 2 else 0)
        try:
            return _in_range(text, datetime(full, month, day, hour, minute, tzinfo=UTC))
        except ValueError as exc:
            return Reject(RejectReason.BAD_TIMESTAMP, f"trailer {text!r} is no time: {exc}")
    if received_at is None:
        return Reject(
            RejectReason.NO_TIMESTAMP, "the trailer gives no year and no receive time was given"
        )
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and 1 <= day <= 31):
        return Reject(RejectReason.BAD_TIMESTAMP, f"trailer {text!r} is no time")
    try:
        received = (
            received_at.replace(tzinfo=UTC)
            if received_at.tzinfo is None
            else received_at.astimezone(UTC)
        )
    except (OverflowError, ValueError):
        return Reject(RejectReason.BAD_TIMESTAMP, "the receive time is out of range")
    candidates: list[datetime] = []
    steps = (-1, 0, 1)
    for step in steps:
        if month is not None:
            cy, cm = received.year + step, month
        else:
            cy, cm = divmod(received.year * 12 + received.month - 1 + step, 12)
            cm += 1
        try:
            candidates.append(datetime(cy, cm, day, hour, minute, tzinfo=UTC))
        except ValueError:
            continue
    if not candidates:
        return Reject(RejectReason.BAD_TIMESTAMP, f"trailer {text!r} is no time near {received}")
    return _in_range(text, min(candidates, key=lambda c: (abs(c - received), c)))


def _in_range(text: str, when: datetime) -> datetime | Reject:
    if not EARLIEST_YEAR <= when.year <= LATEST_YEAR:
        return Reject(
            RejectReason.BAD_TIMESTAMP,
            f"trailer {text!r} is in {when.year}, not in {EARLIEST_YEAR}-{LATEST_YEAR}",
        )
    return when


def _read_headline(lines: list[str]) -> tuple[str, tuple[str, ...], list[str]]:
    """The headline, the byline's names and the lines after them.

    The headline block runs from the first non-blank line to a blank line, or to the line that
    ends in "=" (dpa closes headline and byline with it); a line in it opening "By " is the
    byline.
    """
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    parts: list[str] = []
    authors: tuple[str, ...] = ()
    end = start
    while end < len(lines):
        line = lines[end]
        end += 1
        if not line:
            break
        closed = line.endswith("=")
        line = line.rstrip("= ")
        if line.startswith("By ") and len(line) <= _MAX_LINE:
            authors = split_authors(line[3:])
        elif line:
            parts.append(line)
        if closed:
            break
    return normalise_text(" ".join(parts)), authors, lines[end:]


def split_authors(names: str) -> tuple[str, ...]:
    """ "Jane Doe and John Roe" -> ("Jane Doe", "John Roe")."""
    return tuple(filter(None, (name.strip() for name in _AUTHOR_SPLIT.split(names))))


def _blocks(lines: list[str]) -> list[list[str]]:
    """The non-blank lines (normalised), in blocks that blank lines part."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


# A heading: its marks and then a blank or the line's end ("# Notebook"), two marks or more
# ("##Note to editors"), or one mark before the notes' own name ("#Notebook", dpa's English and
# German). One mark before any other word is a hashtag: "#MeToo activists marched ...", or
# "#Wimbledon" alone, is text, and the story goes on after it.
_HEADING = re.compile(r"#+(?:\s|$)|##|#(?:notebook|notizblock)\b", re.IGNORECASE)


def _notes_start(blocks: list[list[str]]) -> int:
    """Where the editors' notes start: a "# Notebook" heading, a "* * * *" rule, or "The
    following information is not for publication"; the paragraphs (lines joined) come before.
    A heading's marks stand apart from its words: "#MeToo-Aktivistinnen ..." opens a paragraph.
    """
    for index, block in enumerate(blocks):
        first = block[0]
        lead = first[:1]
        if (
            (lead == "#" and _HEADING.match(first) is not None)
            or (lead in "*_-" and _is_rule(first))
            or (lead in "Tt" and _NOT_FOR_PUBLICATION.match(first[:80]))
        ):
            return index
    return len(blocks)


def _notes(blocks: list[list[str]]) -> str | None:
    """The notes' lines, heading marks and rules taken off."""
    lines = [line.lstrip("#").strip() for block in blocks for line in block]
    return normalise_text("\n".join(line for line in lines if line and not _is_rule(line))) or None


def _is_rule(line: str) -> bool:
    """A separator line: only '*', '_', '-' and spaces."""
    return bool(line) and not line.strip("*_- ")


def read_dateline(
    paragraphs: tuple[str, ...], pattern: re.Pattern[str]
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """The dateline's place and agency, and the paragraphs (those a reader can see) with it
    cut off the first one."""
    paragraphs = tuple(filter(has_glyph, paragraphs))
    if not paragraphs:
        return None, None, paragraphs
    match = pattern.match(paragraphs[0][:_MAX_DATELINE])
    if match is None:
        return None, None, paragraphs
    place = match.group("place").strip()
    agency = match.group("agency").split("/")[0]
    rest = paragraphs[0][match.end() :].strip()
    return place, agency, ((rest,) if rest else ()) + paragraphs[1:]


def provider_of(agency: str | None) -> str | None:
    """The agency's name as a provider id: lowercase ASCII letters and digits only."""
    if not agency:
        return None
    return "".join(c for c in agency.casefold() if c in _PROVIDER_CHARS) or None


def _is_signoff(text: str, agencies: set[str]) -> bool:
    """A sign-off: the agency, then a few editors' initials ("dpa grj rmo")."""
    words = text.split(" ")
    return (
        2 <= len(words) <= 12
        and words[0].casefold() in agencies
        and all(word.isalpha() and word.islower() and len(word) <= 5 for word in words[1:])
    )


def story_link(provider: str, slug: str | None, when: datetime) -> StoryLink | None:
    """Agency, slug and day: what ties an original to its leads (none without a slug)."""
    if not slug:
        return None
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return StoryLink(ref=f"{provider}|{slug.casefold()}|{day:%Y-%m-%d}", since=day)
