"""ANPA 1312 (the newspaper wire format, as AP filed it): framed text to a WireItem.

The layout, top to bottom (optional parts in brackets; ^ < = are AP's typesetting marks)::

    SYN SYN SOH <level><number>[<upi>] US <selector>
    <priority> <category><format id> <keyword> [<version>] [<reference>] <MM-DD> <words>
    STX
    ^<cycle>-<keyword>,[<version>,]<words><    the keyword slug line: BC-Storm,1stLd-Writethru,0520
    [^Eds: <note><]...                          editors' notes
    ^<headline><
    [^By <NAME>=]
    [^Associated Press Writer=]
    TAB   <PLACE, State> (AP) _ <first paragraph><
    TAB   <paragraph>...                        a TAB (or an indent) opens each paragraph
    ETX <agency>-<desk>-<MM>-<DD>[-<YY>] <HHMM>GMT   the trailer (AP sometimes put it before ETX)
    EOT

The format id is DC3 or DC4 then DC1 or DC2 (text or tabular). The keyword section is the cycle
designator (BC-, AM-, PM-, AP-), a hyphen and the keyword; every lead and writethru repeats it,
so it names the story; the version section ("1stLd-Writethru", "Correction", "Kill") is the take.

The text is 7-bit ASCII, read as UTF-8 when valid, else as Windows-1252 (ISO 8859-1 as Windows
writes it; the framing of IPTC 7901, :func:`iptc7901.frame`); control characters but the
framing are dropped. Structural regexes are anchored, free of nested quantifiers, and run on
capped lines; nothing here raises.
"""

from __future__ import annotations

import re
from datetime import datetime

from workers.core.decode import normalise_text
from workers.core.formats import iptc7901
from workers.core.formats.iptc7901 import (
    clean,
    frame,
    normalised_lines,
    provider_of,
    read_dateline,
    split_authors,
    story_link,
    trailer_line,
    utc_time,
)
from workers.core.model import WireItem
from workers.core.rejects import Reject, RejectReason

NAME = "anpa1312"

_UTF8_BOM = b"\xef\xbb\xbf"
_MAX_LINE = 400
# SOH (maybe after SYN idles; maybe followed by line breaks), a letter and four digits, an
# optional UPI run, then US.
_DETECT = re.compile(rb"[\r\n]*\x16*\x01[\r\n]*[A-Za-z]?[0-9]{4}[^\x1f\s]{0,16}\x1f")
_SYN_SYN_SOH = b"\x16\x16\x01"
_LINE1 = re.compile(
    r"^(?P<level>[A-Za-z]?)(?P<number>[0-9]{4})(?P<upi>[^\x1f\s]{0,16})\x1f(?P<selector>.{0,40})$"
)
_LINE2 = re.compile(
    r"^(?P<priority>[A-Za-z]) (?P<category>[A-Za-z]) (?P<keyword>[^ ]{1,80})(?: (?P<rest>.*))?$"
)
_KEYWORD_LINE = re.compile(r"^(?P<keyword>(?:AM|PM|BC|AP)-[^\s,]{1,80}) ?(?:,(?P<rest>.*))?$")
_CYCLE = re.compile(r"^(?:AM|PM|BC|AP)-", re.IGNORECASE)
_DESK_PREFIX = re.compile(r"^[A-Z]{2,4}--")
_FILING_DATE = re.compile(r"^[0-9]{1,2}-[0-9]{1,2}$")
_REFERENCE = re.compile(r"^[A-Za-z]?[0-9]{3,5}$")
_TRAILER = re.compile(
    r"^(?P<agency>[A-Za-z]{1,8})(?:-(?P<desk>[A-Za-z]{1,4}))?-(?P<month>[0-9]{1,2})"
    r"-(?P<day>[0-9]{1,2})(?:-(?P<year>[0-9]{4}|[0-9]{2}))? (?P<hour>[0-9]{2}):?"
    r"(?P<minute>[0-9]{2}) ?(?:GMT|UTC|Z)$"
)
_DATELINE = re.compile(
    r"^(?P<place>[^\W\d_][^()_]{0,79}?) \((?P<agency>[A-Za-z][A-Za-z0-9/-]{0,29})\)"
    r" ?(?:_|--|-|–|—)? ?"
)
_BYLINE_TITLE = re.compile(r"^(?:The )?(?:Associated Press|AP)\b")
_KILL_TAKE = re.compile(r"\b(?:KILL|KILLED|ELIMINATION|WITHDRAWAL|WITHDRAWN)\b", re.IGNORECASE)
_KILL_NOTE = re.compile(r"^(?:KILL|ELIMINATION|WITHDRAWAL)\b", re.IGNORECASE)
# Flags AP put on a line of their own above the headline.
_FLAGS = frozenset({"URGENT", "BULLETIN", "FLASH", "APNEWSALERT", "ADVISORY"})


def detect(data: bytes) -> bool:
    """SYN SYN SOH, or SOH and an ANPA header's "<level><number> US", in the first bytes.

    SYN SYN SOH followed by an IPTC 7901 header is 7901's: the two never claim the same bytes.
    """
    head = data[:64]
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    if _DETECT.match(head) is not None:
        return True
    return head.lstrip(b"\r\n").startswith(_SYN_SYN_SOH) and not iptc7901.detect(head)


def parse(data: bytes, received_at: datetime | None) -> tuple[WireItem, ...] | Reject:
    """The one item of an ANPA 1312 message, or why there is none; never raises."""
    framed = frame(data)
    if isinstance(framed, Reject):
        return framed
    header, text, trailer = framed
    head = _read_header(header)
    if isinstance(head, Reject):
        return head
    keyword, version = head

    raw_lines = clean(text).split("\n")
    lines = normalised_lines(text)
    stamp = trailer_line(normalised_lines(trailer), lines, _TRAILER)
    if stamp is None:
        return Reject(RejectReason.NO_TIMESTAMP, "no trailer time ('AP-XX-MM-DD-YY HHMMGMT')")
    match, lines = stamp
    when = utc_time(
        match.group(0),
        year=match.group("year"),
        month=int(match.group("month")),
        day=int(match.group("day")),
        hour=int(match.group("hour")),
        minute=int(match.group("minute")),
        received_at=received_at,
    )
    if isinstance(when, Reject):
        return when

    head_lines, paragraphs = _split_text(raw_lines[: len(lines)], lines)
    top = _read_top(head_lines, keyword)
    text_keyword, text_version, notes, authors, headline, description = top
    if not headline:
        return Reject(RejectReason.NO_HEADLINE, "no headline line after STX")
    keyword = keyword or text_keyword
    take = version or text_version
    authors, more_notes, paragraphs = _read_lead_lines(paragraphs, authors)
    notes += more_notes
    place, agency, paragraphs = read_dateline(paragraphs, _DATELINE)
    if agency is None:
        agency = match.group("agency")
    provider = provider_of(agency) or NAME
    canceled = (take is not None and _KILL_TAKE.search(take) is not None) or any(
        _KILL_NOTE.match(note) for note in notes
    )
    if not paragraphs and not canceled:
        return Reject(RejectReason.NO_BODY, "no paragraph after the headline")
    slug = _slug(keyword)
    return (
        WireItem(
            provider=provider,
            headline=headline,
            is_update=take is not None or canceled,
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
            description=description,
            ed_note=normalise_text("\n".join(notes)) or None,
            take=take,
        ),
    )


def _read_header(header: str) -> tuple[str | None, str | None] | Reject:
    """The keyword ("BC-Storm-Damage") and version ("1stLd-Writethru") of the two header lines."""
    lines = [line for line in header.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line]
    if not lines:
        return Reject(RejectReason.BAD_FRAMING, "nothing between SOH and STX")
    first = lines[0].rstrip(" \t")
    if len(first) > _MAX_LINE or _LINE1.match(first) is None:
        return Reject(
            RejectReason.BAD_FRAMING,
            f"header {clean(first)[:40]!r} is not '<level><number> US <selector>'",
        )
    second = normalise_text(clean(lines[1])) if len(lines) > 1 else ""
    match = _LINE2.match(second) if len(second) <= _MAX_LINE else None
    if match is None:
        return Reject(
            RejectReason.BAD_FRAMING,
            f"header {second[:40]!r} is not '<priority> <category> <keyword> ... <words>'",
        )
    keyword, _, after = match.group("keyword").partition(",")
    tokens = (match.group("rest") or "").split(" ")
    if tokens and tokens[-1].isdecimal():
        tokens.pop()  # the word count
    if tokens and _FILING_DATE.match(tokens[-1]):
        tokens.pop()
    tokens = [token for token in tokens if token]
    version = tokens[0] if tokens and not _REFERENCE.match(tokens[0]) else None
    if version is None and after and not after.isdecimal():
        version = after.split(",")[0] or None
    return keyword, version


def _split_text(raw_lines: list[str], lines: list[str]) -> tuple[list[str], tuple[str, ...]]:
    """The lines above the first indented one (AP's ^ lines), and the paragraphs from it on.

    A TAB or two blanks open a paragraph; an unindented line continues the one before, unless
    it is a ^ line or follows a blank line. Above the paragraphs an unmarked line continues
    the ^ line before it.
    """
    head: list[list[str]] = []
    marked = False
    blocks: list[list[str]] = []
    in_body = False
    open_block = False
    for raw, normalised in zip(raw_lines, lines, strict=False):
        indented = raw[:1] == "\t" or raw[:2] == "  "
        caret = normalised[:1] == "^"
        line = normalised.lstrip("^").rstrip("<= ").strip()
        if not line:
            open_block = False
            continue
        if not in_body and not indented:
            if caret:
                marked = True
                head.append([line])
            elif marked and head:
                head[-1].append(line)
            else:
                head.append([line])
            continue
        in_body = True
        if indented or caret or not open_block:
            blocks.append([line])
        else:
            blocks[-1].append(line)
        open_block = True
    paragraphs = tuple(
        paragraph
        for paragraph in (" ".join(block) for block in blocks)
        if paragraph and paragraph.strip("_-*= ")
    )
    return [" ".join(parts) for parts in head], paragraphs


def _read_top(
    lines: list[str], keyword: str | None
) -> tuple[str | None, str | None, list[str], tuple[str, ...], str, str | None]:
    """The ^ lines: keyword line, Eds notes, byline, headline and any further summary lines."""
    text_keyword: str | None = None
    text_version: str | None = None
    notes: list[str] = []
    authors: tuple[str, ...] = ()
    rest: list[str] = []
    after_byline = False
    seen_keyword = False
    for line in lines:
        if len(line) > _MAX_LINE:
            rest.append(line)
            continue
        if not seen_keyword and _is_keyword_line(line, keyword):
            seen_keyword = True
            text_keyword, text_version = _keyword_parts(line)
            continue
        if line[:4].casefold() == "eds:":
            notes.append(line[4:].strip())
        elif line.startswith("By "):
            authors = split_authors(line[3:])
            after_byline = True
            continue
        elif after_byline and _BYLINE_TITLE.match(line):
            continue
        elif line.startswith("AP Photo") or line.upper() in _FLAGS:
            pass
        else:
            rest.append(line)
        after_byline = False
    headline = rest[0] if rest else ""
    return text_keyword, text_version, notes, authors, headline, " ".join(rest[1:]) or None


def _is_keyword_line(line: str, keyword: str | None) -> bool:
    if _KEYWORD_LINE.match(line) is not None:
        return True
    first = line.split(",", maxsplit=1)[0].strip()
    return keyword is not None and first.casefold() == keyword.casefold()


def _keyword_parts(line: str) -> tuple[str | None, str | None]:
    """ "BC-Storm,1stLd-Writethru,0520" -> ("BC-Storm", "1stLd-Writethru")."""
    parts = [part.strip() for part in line.split(",")]
    version = next((part for part in parts[1:] if part and not part.isdecimal()), None)
    return parts[0] or None, version


def _read_lead_lines(
    paragraphs: tuple[str, ...], authors: tuple[str, ...]
) -> tuple[tuple[str, ...], list[str], tuple[str, ...]]:
    """Eds notes and a byline that open the paragraphs (copy without ^ lines) come off them."""
    notes: list[str] = []
    start = 0
    after_byline = False
    while start < len(paragraphs):
        paragraph = paragraphs[start]
        if paragraph[:4].casefold() == "eds:":
            notes.append(paragraph[4:].strip())
        elif paragraph.startswith("By ") and len(paragraph) <= 200 and not authors:
            authors = split_authors(paragraph[3:])
            after_byline = True
            start += 1
            continue
        elif not (after_byline and _BYLINE_TITLE.match(paragraph) and len(paragraph) <= 60):
            break
        after_byline = False
        start += 1
    return authors, notes, paragraphs[start:]


def _slug(keyword: str | None) -> str | None:
    """The keyword without cycle designator and desk code: "BC-BKN--Heat-Hawks" -> "Heat-Hawks"."""
    if not keyword:
        return None
    slug = _CYCLE.sub("", keyword, count=1)
    slug = _DESK_PREFIX.sub("", slug, count=1)
    return slug.strip("-") or None
