"""IPTC ninjs items (News in JSON), 1.x to 3.x, to a WireItem.

ninjs 1.x spells its keys in lowercase (``versioncreated``, ``body_text``, ``byline``); 2.x
and 3.x in camelCase, with lists of renditions (``headlines``, ``bodies``, ``descriptions``).
Both spellings are read; where an item has both, the older key wins, as it is the one a
producer of that generation fills first. Every field read is type-checked: a wrong type is a
Reject that names the field, never an exception. HTML is read with the stdlib html.parser,
which never fetches anything and keeps no tree, so hostile markup costs only its length.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import orjson

from workers.core.formats.text import (
    ParagraphCollector,
    flat,
    has_glyph,
    plain_paragraphs,
    provider_slug,
    strip_by,
)
from workers.core.formats.types import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    rfc3339_time,
    start_of_day,
    whole_minute_offset,
)
from workers.core.model import StoryLink, WireItem
from workers.core.rejects import Reject, RejectReason

NAME = "ninjs"
# The provider when the item names none usable: the format's name.
FALLBACK_PROVIDER = "ninjs"

_UTF8_BOM = b"\xef\xbb\xbf"
# Keys of which a ninjs item has at least one, and a BTA envelope none.
_ITEM_KEYS = (
    "headline",
    "headlines",
    "body_text",
    "body_html",
    "bodies",
    "versioncreated",
    "versionCreated",
)
_NON_TEXT_TYPES = frozenset({"picture", "graphic", "audio", "video"})
_PUB_STATUS = {
    "usable": "usable",
    "withheld": "withheld",
    "canceled": "canceled",
    "cancelled": "canceled",
}
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_MAX_VERSION_DIGITS = 18
# A tag longer than this is dropped rather than given to html.parser's regexes.
_MAX_TAG = 2048
# An HTML body with more '<' than this is no story's: refused before html.parser reads it.
_MAX_TAGS = 20_000
# ...and the HTML texts html.parser reads for one item may have this many in all: the bodies
# are read until one shows text, so bodies of invisible markup would each be read in full
# (3.3 s a MiB of them). A story reads one body, its headline and its description.
_MAX_ITEM_TAGS = 2 * _MAX_TAGS

# HTML: paragraphs are the text of these elements.
_BLOCKS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "li"})
# Elements inside a paragraph that do not break it.
_INLINE = frozenset(
    {
        *("a", "abbr", "b", "bdi", "bdo", "cite", "code", "dfn", "em", "font", "i", "kbd"),
        *("mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u"),
        *("var", "wbr"),
    }
)
# Text that is no paragraph. Not "head": html.parser sees an unclosed <head> as open to the end.
_SKIP = frozenset({"script", "style", "title", "template"})


class _RefusedError(Exception):
    """Carries a Reject out of the field readers; parse() turns it back into a value."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reject = Reject(reason, detail)


def _bad_type(key: str, expected: str) -> _RefusedError:
    return _RefusedError(RejectReason.BAD_ENVELOPE, f"ninjs field '{key}' must be {expected}")


def detect(data: bytes) -> bool:
    """A JSON object with a string ``uri`` and an item field, that is no BTA envelope."""
    body = data[len(_UTF8_BOM) :] if data.startswith(_UTF8_BOM) else data
    if body.lstrip()[:1] != b"{":
        return False
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("uri"), str)
        and not isinstance(doc.get("text"), str)  # a BTA envelope's text
        and any(key in doc for key in _ITEM_KEYS)
    )


def not_an_item(doc: dict[str, Any]) -> str | None:
    """Why a JSON object with ninjs item fields (and no BTA envelope's ``text``) is no ninjs
    item :func:`detect` claims: its ``uri``. None for any other object."""
    if isinstance(doc.get("text"), str) or not any(key in doc for key in _ITEM_KEYS):
        return None
    if "uri" not in doc:
        return "it has no 'uri'"
    return None if isinstance(doc["uri"], str) else "its 'uri' must be a string"


def parse(
    data: bytes,
    received_at: datetime | None,  # noqa: ARG001 - ninjs times carry their own date
) -> tuple[WireItem, ...] | Reject:
    """The one item of a ninjs document; any failure is a Reject, never raised."""
    body = data[len(_UTF8_BOM) :] if data.startswith(_UTF8_BOM) else data
    if not body.strip():
        return Reject(RejectReason.EMPTY, "no bytes but whitespace")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Reject(RejectReason.BAD_ENVELOPE, f"not JSON: {' '.join(str(exc).split())[:200]}")
    if not isinstance(doc, dict):
        return Reject(RejectReason.BAD_ENVELOPE, "a ninjs item must be a JSON object")
    try:
        return (_read_item(doc),)
    except _RefusedError as refused:
        return refused.reject


def _read_item(doc: dict[str, Any]) -> WireItem:
    uri = _string(doc, "uri")
    if not uri:
        raise _RefusedError(RejectReason.BAD_ENVELOPE, "ninjs field 'uri' is missing or blank")
    kind = _string(doc, "type")
    if kind is not None and kind.lower() in _NON_TEXT_TYPES:
        raise _RefusedError(RejectReason.NO_BODY, f"not a text item (type {kind[:40]!r})")
    version = _version(doc)
    pub_status = _pub_status(doc)

    budget = _TagBudget()
    headline = _headline(doc, budget)
    if not headline:
        raise _RefusedError(RejectReason.NO_HEADLINE, "no headline or main headlines entry")

    version_created = _time(doc, "versioncreated", "versionCreated")
    created = _time(doc, "firstcreated", "firstCreated")
    first_created = created if created is not None else version_created
    if first_created is None:
        raise _RefusedError(RejectReason.NO_TIMESTAMP, "no versionCreated or firstCreated")
    if version_created is not None and version_created < first_created:
        raise _RefusedError(
            RejectReason.BAD_TIMESTAMP,
            f"versionCreated {version_created.isoformat()} is before firstCreated "
            f"{first_created.isoformat()}",
        )
    updated = None
    if version_created is not None and version_created != first_created:
        updated = version_created
    # Without a version, an item is an update when it says it changed since first created.
    is_update = version > 1 if version is not None else created is not None and updated is not None

    description = _description(doc, budget)
    # A flash may carry its text only as a description (NTB's do): then that is the body.
    paragraphs = _body(doc, budget) or ((description,) if description else ())
    # A headline alone is an item too (a flash; the IPTC's own example holds only comments):
    # the story is named by its guid, so it needs no text to find its versions.

    provider, agency = _provider(doc, uri)
    return WireItem(
        provider=provider,
        headline=headline,
        is_update=is_update,
        first_created=first_created,
        updated=updated,
        paragraphs=paragraphs,
        authors=_authors(doc),
        places=_places(doc),
        agency=agency,
        wire_format=NAME,
        # Every version states the same firstCreated; without one, each version has only its
        # own time, and its day is what the versions can share.
        link=StoryLink(ref=uri, since=created or start_of_day(first_created)),
        version=version,
        pub_status=pub_status,
        slugline=_string(doc, "slugline"),
        language=_string(doc, "language"),
        description=description,
        ed_note=_string(doc, "ednote", "edNote"),
        take=None,
    )


def _field(doc: dict[str, Any], *keys: str) -> tuple[str, Any]:
    """The first of ``keys`` that is set (not null), and its value; ("", None) if none is."""
    for key in keys:
        value = doc.get(key)
        if value is not None:
            return key, value
    return "", None


def _string(doc: dict[str, Any], *keys: str) -> str | None:
    """A string field on one line; None when absent or blank; a non-string is refused."""
    key, value = _field(doc, *keys)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad_type(key, "a string")
    return flat(value) or None


def _objects(doc: dict[str, Any], *keys: str) -> tuple[str, list[dict[str, Any]]]:
    """A list-of-objects field (``headlines``, ``bodies``, ``people``...); [] when absent."""
    key, value = _field(doc, *keys)
    if value is None:
        return key, []
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise _bad_type(key, "a list of objects")
    return key, value


def _version(doc: dict[str, Any]) -> int | None:
    """The version as a number (so "1542761538" comes after "978556838"); None if absent."""
    value = doc.get("version")
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit() and len(digits) <= _MAX_VERSION_DIGITS:
            return int(digits)
    raise _bad_type("version", "a non-negative integer or a string of digits")


def _pub_status(doc: dict[str, Any]) -> str:
    """usable / withheld / canceled; an unknown status is refused rather than published."""
    value = _string(doc, "pubstatus", "pubStatus")
    if value is None:
        return "usable"
    status = _PUB_STATUS.get(value.lower().rpartition(":")[2])
    if status is None:
        raise _RefusedError(RejectReason.BAD_ENVELOPE, f"unknown pubStatus {value[:40]!r}")
    return status


def _time(doc: dict[str, Any], *keys: str) -> datetime | None:
    """An ISO 8601 time as an aware datetime (a time without zone is UTC); None if absent."""
    key, value = _field(doc, *keys)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad_type(key, "an ISO 8601 time string")
    try:
        when = rfc3339_time(value.strip())
    except ValueError:
        raise _RefusedError(
            RejectReason.BAD_TIMESTAMP, f"{key} {value[:40]!r} is no ISO 8601 time"
        ) from None
    if not EARLIEST_YEAR <= when.year <= LATEST_YEAR:
        raise _RefusedError(RejectReason.BAD_TIMESTAMP, f"{key} {value[:40]!r} is out of range")
    if not whole_minute_offset(when):
        raise _RefusedError(
            RejectReason.BAD_TIMESTAMP, f"{key} {value[:40]!r} has a zone offset in seconds"
        )
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _content_type(entry: dict[str, Any], key: str) -> str:
    """A rendition's media type without parameters; text/plain when it names none."""
    value = entry.get("contentType")
    if value is None:
        return "text/plain"
    if not isinstance(value, str):
        raise _bad_type(f"{key}[].contentType", "a string")
    return value.partition(";")[0].strip().lower()


def _rendition_value(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get("value")
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad_type(f"{key}[].value", "a string")
    return value


def _rendition_text(entry: dict[str, Any], key: str, budget: _TagBudget) -> str | None:
    """One rendition (headline, description) as one line of text, HTML stripped."""
    value = _rendition_value(entry, key)
    if value is None:
        return None
    if _content_type(entry, key) in _HTML_TYPES:
        return " ".join(_html_paragraphs(value, budget)) or None
    return flat(value) or None


def _headline(doc: dict[str, Any], budget: _TagBudget) -> str | None:
    """``headline``, else the ``headlines`` entry with role main, else the first one."""
    headline = _string(doc, "headline")
    if headline:
        return headline
    key, entries = _objects(doc, "headlines")
    main = [entry for entry in entries if entry.get("role") == "main"]
    for entry in (*main, *(entry for entry in entries if entry.get("role") != "main")):
        text = _rendition_text(entry, key, budget)
        if text:
            return text
    return None


def _description(doc: dict[str, Any], budget: _TagBudget) -> str | None:
    """``description_text``, else a plain ``descriptions`` entry, else an HTML one, stripped."""
    text = _string(doc, "description_text")
    if text:
        return text
    html = _string(doc, "description_html")
    if html:
        return " ".join(_html_paragraphs(html, budget)) or None
    key, entries = _objects(doc, "descriptions")
    marked_up = [entry for entry in entries if _content_type(entry, key) in _HTML_TYPES]
    plain = [entry for entry in entries if _content_type(entry, key) not in _HTML_TYPES]
    for entry in (*plain, *marked_up):
        text = _rendition_text(entry, key, budget)
        if text:
            return text
    return None


def _body(doc: dict[str, Any], budget: _TagBudget) -> tuple[str, ...]:
    """The first body that holds text a reader can see: HTML (its markup says where
    paragraphs end), then plain text; ``body_html``/``body_text`` before ``bodies``. An HTML
    body over the tag cap is refused (``too_large``) only if no other body serves."""
    html: list[str] = []
    plain: list[str] = []
    for key in ("body_html", "body_text"):
        value = doc.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _bad_type(key, "a string")
        (html if key == "body_html" else plain).append(value)
    key, entries = _objects(doc, "bodies")
    for entry in entries:
        value = _rendition_value(entry, key)
        kind = _content_type(entry, key)
        if value is None:
            continue
        if kind in _HTML_TYPES:
            html.append(value)
        elif kind == "text/plain":
            plain.append(value)
    too_large: _RefusedError | None = None
    for markup in html:
        try:
            paragraphs = _visible(_html_paragraphs(markup, budget))
        except _RefusedError as refused:  # over the tag cap: another body may serve
            too_large = too_large or refused
            continue
        if paragraphs:
            return paragraphs
    for text in plain:
        paragraphs = _visible(plain_paragraphs(text))
        if paragraphs:
            return paragraphs
    if too_large is not None:
        raise too_large
    return ()


def _visible(paragraphs: tuple[str, ...]) -> tuple[str, ...]:
    """Without the paragraphs a reader cannot see: a body of only those is no body, and the
    next one is read."""
    return tuple(filter(has_glyph, paragraphs))


def _authors(doc: dict[str, Any]) -> tuple[str, ...]:
    """The by-line ("By " dropped), else the names of ``people`` whose rel is author."""
    byline = strip_by(_string(doc, "byline", "by") or "")
    if byline:
        return (byline,)
    _, people = _objects(doc, "person", "people")
    names: list[str] = []
    for person in people:
        rel = person.get("rel")
        if isinstance(rel, str) and _is_author(rel):
            author = _string(person, "name", "literal")
            if author:
                names.append(author)
    return tuple(names)


def _is_author(rel: str) -> bool:
    rel = rel.strip().lower()
    return rel == "author" or rel.endswith(("/author", ":author"))


def _places(doc: dict[str, Any]) -> tuple[str, ...]:
    """``located``, then the names of ``places`` (1.x: ``place``), without repeats."""
    names: dict[str, None] = {}  # insertion-ordered, and a repeat costs one lookup
    located = _string(doc, "located")
    if located:
        names[located] = None
    _, places = _objects(doc, "place", "places")
    for place in places:
        name = _string(place, "name", "literal")
        if name:
            names.setdefault(name)
    return tuple(names)


def _provider(doc: dict[str, Any], uri: str) -> tuple[str, str | None]:
    """The key-safe provider name and the display name (agency).

    The first of ``infoSources`` names, ``copyrightHolder`` and ``provider`` that names one
    gives the agency; the provider is the first of those, then the uri's host, that leaves
    some ASCII letter or digit.
    """
    names: list[str] = []
    _, sources = _objects(doc, "infoSources")
    for source in sources:
        name = _string(source, "name")
        if name:
            names.append(name)
    for keys in (("copyrightholder", "copyrightHolder"), ("provider",)):
        key, value = _field(doc, *keys)
        if isinstance(value, dict):
            name = _string(value, "name")
        elif isinstance(value, str):
            name = flat(value) or None
        elif value is None:
            name = None
        else:
            raise _bad_type(key, "a string or an object with a name")
        if name:
            names.append(name)
    agency = names[0] if names else None
    for candidate in (*names, _uri_label(uri)):
        slug = provider_slug(candidate)
        if slug:
            return slug, agency
    return FALLBACK_PROVIDER, agency


def _uri_label(uri: str) -> str | None:
    """The first label of the uri's host ("www." skipped), or of the domain of a
    ``urn:newsml:<domain>:...`` uri."""
    if uri[:11].lower() == "urn:newsml:":
        host = uri[11:].partition(":")[0]
    else:
        try:
            host = urlsplit(uri).hostname or ""
        except ValueError:
            return None
    labels = host.lower().split(".")
    if labels[0] == "www" and len(labels) > 1:
        labels = labels[1:]
    return labels[0] or None


class _Paragraphs(HTMLParser):
    """Paragraphs from HTML: html.parser's events fed to a :class:`ParagraphCollector`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.collector = ParagraphCollector(_BLOCKS, _INLINE, _SKIP)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002
        self.collector.start(tag)

    def handle_endtag(self, tag: str) -> None:
        self.collector.end(tag)

    def handle_data(self, data: str) -> None:
        self.collector.data(data)

    def result(self) -> tuple[str, ...]:
        return self.collector.result()


class _TagBudget:
    """The tags html.parser may still read for one item (:data:`_MAX_ITEM_TAGS`)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = _MAX_ITEM_TAGS


def _html_paragraphs(markup: str, budget: _TagBudget) -> tuple[str, ...]:
    """The paragraphs of an HTML body; () if it is no news body or html.parser gives up.

    Refused (``too_large``) over :data:`_MAX_TAGS`, or past what is left of the item's
    ``budget``: html.parser takes microseconds a tag, and an item whose text was left out
    would read as one without."""
    tags = markup.count("<")
    if tags > _MAX_TAGS:
        raise _RefusedError(
            RejectReason.TOO_LARGE,
            f"an HTML text of {tags} tags, over the {_MAX_TAGS} a story's may have",
        )
    if tags > budget.left:
        raise _RefusedError(
            RejectReason.TOO_LARGE,
            f"HTML texts of over {_MAX_ITEM_TAGS} tags in all, read for one with text",
        )
    budget.left -= tags
    collector = _Paragraphs()
    try:
        collector.feed(_defuse(markup))
        collector.close()
    except AssertionError:
        # html.parser asserts on some malformed declarations ("<![foo"): no usable body.
        return ()
    return collector.result()


def _defuse(markup: str) -> str:
    """The markup with nothing left that makes html.parser rescan the rest of the input.

    html.parser rescans to the end from each '<' whose construct it cannot close (an unclosed
    tag, comment or declaration), so '<a' repeated takes quadratic time. Here, in one pass of
    str.find (each search starts past the last): comments, declarations and processing
    instructions are dropped (they hold no text); a tag longer than _MAX_TAG is dropped; a '<'
    with no '>' before the next '<' is text, so it is escaped. What is left is tags that close
    before the next '<', which html.parser reads in time linear in the input.
    """
    out: list[str] = []
    copied = 0  # markup[:copied] is in out
    gt = -2  # the next '>' after the current '<' (-1: none left; -2: not yet searched)
    at = markup.find("<")
    while at != -1:
        after = markup.find("<", at + 1)
        if markup.startswith("<!--", at):
            close = markup.find("-->", at + 2)
            end = len(markup) if close == -1 else close + 3
            out.append(markup[copied:at])
            copied = end
            at = markup.find("<", end)
            continue
        if gt != -1 and gt <= at:
            gt = markup.find(">", at + 1)
        closed = gt != -1 and (after == -1 or gt < after)
        if closed and markup[at + 1 : at + 2] not in {"!", "?"} and gt - at <= _MAX_TAG:
            at = after  # a tag html.parser closes at gt
            continue
        out.append(markup[copied:at])
        if closed:  # a declaration, processing instruction or over-long tag: no text in it
            out.append(" ")
            copied = gt + 1
        else:
            out.append("&lt;")
            copied = at + 1
        at = after
    out.append(markup[copied:])
    return "".join(out)
