"""IPTC NewsML-G2 text items: a ``newsItem``, or a ``newsMessage`` of them, to WireItems.

XML from the wire is hostile until shown otherwise. defusedxml refuses DTDs, entity
declarations and external references (billion laughs, XXE); the tree builder counts depth and
elements as expat reports them and stops a too-deep or too-large document before it is built,
so nothing here recurses over unbounded input. ``remoteContent`` is never fetched.

Elements are matched by local name: the NAR namespace has had several versions and
producers mix prefixes, but the root must be in it, or the bytes are not NewsML-G2.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

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
    start_of_day,
    whole_minute_offset,
)
from workers.core.model import StoryLink, WireItem
from workers.core.rejects import Reject, RejectReason

NAME = "newsml-g2"
# The provider when the item names none usable: the format's name, as a key allows it.
FALLBACK_PROVIDER = "newsmlg2"

# Bounds checked while expat reads, before a tree of that size exists.
MAX_DEPTH = 100
MAX_ELEMENTS = 100_000

_DETECT_WINDOW = 2048
_UTF8_BOM = b"\xef\xbb\xbf"
_NAR = ("http://iptc.org/std/nar/", "https://iptc.org/std/nar/")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# G2 item kinds that carry no story text: known, so refused as such rather than as bad XML.
_NON_TEXT_ROOTS = frozenset(
    {"packageItem", "conceptItem", "knowledgeItem", "planningItem", "catalogItem"}
)
# ninat: item classes (the part after the colon) that are not text.
_NON_TEXT_CLASSES = frozenset({"picture", "graphic", "audio", "video", "interactive"})
_PUB_STATUS = {
    "usable": "usable",
    "withheld": "withheld",
    "canceled": "canceled",
    "cancelled": "canceled",
}

# Body markup: paragraphs are the text of these elements (XHTML, and NITF's subhead).
_BLOCKS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "hl2"})
# Elements inside a paragraph that do not break it (XHTML and NITF inline markup).
_INLINE = frozenset(
    {
        *("a", "abbr", "b", "bdi", "bdo", "cite", "code", "dfn", "em", "i", "kbd", "mark"),
        *("q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var"),
        *("chron", "classifier", "copyrite", "event", "function", "location", "money"),
        *("num", "object.title", "org", "person", "postaddr", "pronounce", "virtloc"),
    }
)
# Metadata whose text is no paragraph: XHTML head, NITF head and body head (hedline, byline).
_SKIP = frozenset({"head", "title", "script", "style", "body.head"})


class _RefusedError(Exception):
    """Carries a Reject out of the helpers of one item; parse() turns it back into a value."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reject = Reject(reason, detail)


class _NotTextError(_RefusedError):
    """The item is no text (a picture, a video): a message skips it beside its text items."""


def detect(data: bytes) -> bool:
    """XML whose root element is a newsItem or newsMessage (in any namespace, or none: the
    parser refuses one outside NAR's with a detail that says so), or whose first 2 KiB from
    the root name one in the IPTC NAR namespace. What may stand before the root (the XML
    declaration, comments such as a long copyright notice, processing instructions, a
    DOCTYPE) is passed over first."""
    prolog = _PROLOG.match(data, len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0)
    root = prolog.end() if prolog else 0  # the pattern matches the empty prolog too
    if _G2_ROOT.match(data, root):
        return True
    head = data[root : root + _DETECT_WINDOW]
    return (
        head.startswith(b"<")
        and (b"newsItem" in head or b"newsMessage" in head)
        and b"iptc.org/std/nar" in head
    )


# A root element named newsItem or newsMessage, with or without a namespace prefix.
_G2_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,63}:)?news(?:Item|Message)[\s/>]")


# The XML prolog, each part up to its own end. Possessive quantifiers: nothing is given back
# for another try, so an unclosed part fails in one pass (an internal DTD subset that
# nests brackets is no prolog here; defusedxml refuses a DOCTYPE anyway).
_PROLOG = re.compile(
    rb"(?:\s++|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*+(?:\[[^\]]*+\])?+\s*+>)*+", re.DOTALL
)


def parse(
    data: bytes,
    received_at: datetime | None,  # noqa: ARG001 - G2 times carry their own date
) -> tuple[WireItem, ...] | Reject:
    """The text items of a newsItem or newsMessage; any failure is a Reject, never raised."""
    body = data[len(_UTF8_BOM) :] if data.startswith(_UTF8_BOM) else data
    body = body.lstrip()  # an XML declaration must open the document
    if not body:
        return Reject(RejectReason.EMPTY, "no bytes but whitespace")
    root = _read_tree(body)
    if isinstance(root, Reject):
        return root
    namespace, _, local = (
        root.tag[1:].rpartition("}") if root.tag[:1] == "{" else ("", "", root.tag)
    )
    local = local[:60]  # for the details: a name can be as long as the input
    if not namespace.startswith(_NAR):
        return Reject(
            RejectReason.BAD_XML, f"root element <{local}> is not in the NewsML-G2 namespace"
        )
    if local in _NON_TEXT_ROOTS:
        return Reject(RejectReason.NO_BODY, f"not a text newsItem: a {local}")
    if local == "newsItem":
        items = [root]
    elif local == "newsMessage":
        items = [
            item for group in _children(root, "itemSet") for item in _children(group, "newsItem")
        ]
        if not items:
            return Reject(RejectReason.NO_BODY, "not a text newsItem: the newsMessage holds none")
    else:
        return Reject(RejectReason.BAD_XML, f"root element <{local}> is no NewsML-G2 item")

    message_lang = root.get(_XML_LANG) if local == "newsMessage" else None
    parsed: list[WireItem] = []
    skipped: Reject | None = None
    for index, item in enumerate(items, 1):
        try:
            parsed.append(_read_item(item, message_lang))
        except _NotTextError as not_text:
            # A message may carry a story's pictures beside its text: they are no story.
            skipped = skipped or not_text.reject
        except _RefusedError as refused:
            if local == "newsItem":
                return refused.reject
            return Reject(
                refused.reject.reason, f"item {index} of {len(items)}: {refused.reject.detail}"
            )
    if not parsed:
        return skipped or Reject(RejectReason.NO_BODY, "not a text newsItem")
    return tuple(parsed)


class _BoundedBuilder:
    """A TreeBuilder that refuses, as expat reads, a tree too deep or too large to build."""

    def __init__(self) -> None:
        self._builder = TreeBuilder()
        self._depth = 0
        self._count = 0
        self.root: Element | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self._depth += 1
        self._count += 1
        if self._depth > MAX_DEPTH:
            raise _RefusedError(
                RejectReason.BAD_XML, f"elements nest deeper than {MAX_DEPTH} levels"
            )
        if self._count > MAX_ELEMENTS:
            raise _RefusedError(RejectReason.BAD_XML, f"more than {MAX_ELEMENTS} elements")
        return self._builder.start(tag, attrs)

    def end(self, tag: str) -> Element:
        self._depth -= 1
        return self._builder.end(tag)

    def data(self, data: str) -> None:
        self._builder.data(data)

    def close(self) -> Element:
        self.root = self._builder.close()
        return self.root


def _read_tree(body: bytes) -> Element | Reject:
    """The document's root, read with DTDs, entities and external references forbidden."""
    builder = _BoundedBuilder()
    parser = DefusedXMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(body)
        parser.close()
    except _RefusedError as refused:
        return refused.reject
    except DefusedXmlException as exc:
        return Reject(RejectReason.BAD_XML, f"forbidden XML construct: {_one_line(repr(exc))}")
    except (ParseError, ValueError, LookupError, AssertionError) as exc:
        # ParseError: not well-formed; ValueError/LookupError: an encoding expat cannot use;
        # AssertionError: TreeBuilder.close() on a document expat ended early.
        return Reject(RejectReason.BAD_XML, f"not well-formed XML: {_one_line(str(exc))}")
    if builder.root is None:
        return Reject(RejectReason.BAD_XML, "no root element")
    return builder.root


def _read_item(item: Element, message_lang: str | None) -> WireItem:
    """One newsItem; a failure raises _RefusedError, which parse() returns."""
    guid = flat(item.get("guid") or "")
    if not guid:
        raise _RefusedError(RejectReason.BAD_XML, "newsItem has no guid")
    version = _version(item.get("version"))
    meta = _child(item, "itemMeta")
    content = _child(item, "contentMeta")

    item_class = _code(_child(meta, "itemClass"))
    if item_class in _NON_TEXT_CLASSES:
        raise _NotTextError(RejectReason.NO_BODY, f"not a text newsItem (itemClass {item_class})")
    pub_status = _pub_status(_child(meta, "pubStatus"))

    headline = _text(_child(content, "headline"))
    if not headline:
        raise _RefusedError(RejectReason.NO_HEADLINE, "contentMeta has no headline")

    version_created = _time(_text(_child(meta, "versionCreated")), "versionCreated")
    stated_first = _time(_text(_child(meta, "firstCreated")), "firstCreated")
    first_created = stated_first if stated_first is not None else version_created
    if first_created is None:
        raise _RefusedError(
            RejectReason.NO_TIMESTAMP, "itemMeta has no versionCreated or firstCreated"
        )
    if version_created is not None and version_created < first_created:
        raise _RefusedError(
            RejectReason.BAD_TIMESTAMP,
            f"versionCreated {version_created.isoformat()} is before firstCreated "
            f"{first_created.isoformat()}",
        )
    updated = None
    if version_created is not None and version_created != first_created:
        updated = version_created

    description = _text(_child(content, "description"))
    # A flash may carry its text only as a description: then that is the body.
    paragraphs = _paragraphs(_child(item, "contentSet")) or ((description,) if description else ())
    # A headline alone is an item too (a flash; the IPTC's own example holds only comments):
    # the story is named by its guid, so it needs no text to find its versions.

    provider, agency = _provider(_child(meta, "provider"))
    language_tag = _child(content, "language")
    language = flat(
        item.get(_XML_LANG)
        or (language_tag.get("tag") if language_tag is not None else None)
        or message_lang
        or ""
    )
    return WireItem(
        provider=provider,
        headline=headline,
        is_update=version > 1,
        first_created=first_created,
        updated=updated,
        paragraphs=paragraphs,
        authors=_authors(content),
        places=_places(content),
        agency=agency,
        wire_format=NAME,
        # Every version states the same firstCreated; without one, each version has only its
        # own time, and its day is what the versions can share.
        link=StoryLink(ref=guid, since=stated_first or start_of_day(first_created)),
        version=version,
        pub_status=pub_status,
        slugline=_text(_child(content, "slugline")),
        language=language or None,
        description=description,
        ed_note=_text(_child(meta, "edNote")),
        take=None,
    )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(parent: Element | None, name: str) -> list[Element]:
    return [] if parent is None else [child for child in parent if _local(child.tag) == name]


def _child(parent: Element | None, name: str) -> Element | None:
    if parent is None:
        return None
    return next((child for child in parent if _local(child.tag) == name), None)


def _text(element: Element | None) -> str | None:
    """An element's whole text content on one line, markup dropped; None if blank."""
    if element is None:
        return None
    return flat("".join(element.itertext())) or None


def _name_of(element: Element) -> str | None:
    """A G2 concept's display name: its first ``name`` child, else its ``literal``."""
    return _text(_child(element, "name")) or flat(element.get("literal") or "") or None


def _code(element: Element | None) -> str | None:
    """The code of a qcode ("stat:usable" -> "usable"), or a uri's last segment."""
    if element is None:
        return None
    value = (element.get("qcode") or element.get("uri") or element.get("literal") or "").strip()
    code = value.rpartition(":")[2].rstrip("/").rpartition("/")[2]
    return code.lower() or None


def _version(value: str | None) -> int:
    """The version attribute as a number (versions compare numerically); G2's default is 1."""
    if value is None:
        return 1
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18 or int(digits) < 1:
        raise _RefusedError(RejectReason.BAD_XML, f"version {value[:40]!r} is no positive integer")
    return int(digits)


def _pub_status(element: Element | None) -> str:
    """usable / withheld / canceled; an unknown status is refused rather than published."""
    code = _code(element)
    if code is None:
        return "usable"
    status = _PUB_STATUS.get(code)
    if status is None:
        raise _RefusedError(RejectReason.BAD_XML, f"unknown pubStatus {code[:40]!r}")
    return status


def _time(text: str | None, what: str) -> datetime | None:
    """An xs:dateTime as an aware datetime (a time without zone is UTC); None if absent."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _RefusedError(
            RejectReason.BAD_TIMESTAMP, f"{what} {text[:40]!r} is no ISO 8601 time"
        ) from None
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise _RefusedError(RejectReason.BAD_TIMESTAMP, f"{what} {text[:40]!r} is out of range")
    if not whole_minute_offset(value):
        raise _RefusedError(
            RejectReason.BAD_TIMESTAMP, f"{what} {text[:40]!r} has a zone offset in seconds"
        )
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _provider(element: Element | None) -> tuple[str, str | None]:
    """The key-safe provider name and the display name (agency), from itemMeta/provider."""
    if element is None:
        return FALLBACK_PROVIDER, None
    agency = _name_of(element)
    qcode = element.get("qcode") or ""
    for candidate in (qcode.rpartition(":")[2], agency, _host_label(element.get("uri"))):
        slug = provider_slug(candidate)
        if slug:
            return slug, agency
    return FALLBACK_PROVIDER, agency


def _host_label(uri: str | None) -> str | None:
    """The first label of a URL's host, "www." skipped ("http://www.acme.com/" -> "acme")."""
    if not uri:
        return None
    try:
        host = urlsplit(uri.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    labels = host.split(".")
    if labels[0] == "www" and len(labels) > 1:
        labels = labels[1:]
    return labels[0]


def _authors(content: Element | None) -> tuple[str, ...]:
    """The by-line ("By " dropped), else the names of the creators."""
    byline = strip_by(_text(_child(content, "by")) or "")
    if byline:
        return (byline,)
    names = (_name_of(creator) for creator in _children(content, "creator"))
    return tuple(name for name in names if name)


def _places(content: Element | None) -> tuple[str, ...]:
    """The names of the located concepts (not their broader ones), else the dateline's place."""
    names = tuple(
        name for name in (_name_of(located) for located in _children(content, "located")) if name
    )
    if names:
        return names
    dateline = _text(_child(content, "dateline"))
    place = dateline.partition(",")[0].strip() if dateline else ""
    return (place,) if place and len(place) <= 80 else ()


def _paragraphs(content_set: Element | None) -> tuple[str, ...]:
    """The first inlineXML or inlineData rendition that holds text a reader can see (its
    invisible paragraphs dropped); remoteContent is ignored."""
    for rendition in content_set if content_set is not None else ():
        kind = _local(rendition.tag)
        if kind == "inlineXML":
            paragraphs = _markup_paragraphs(rendition)
        elif kind == "inlineData" and not rendition.get("encoding"):
            paragraphs = plain_paragraphs("".join(rendition.itertext()))
        else:
            continue
        paragraphs = tuple(filter(has_glyph, paragraphs))
        if paragraphs:
            return paragraphs
    return ()


def _markup_paragraphs(inline: Element) -> tuple[str, ...]:
    """XHTML or NITF in inlineXML: each p, h1-h6, li (and NITF hl2) as one paragraph."""
    collector = ParagraphCollector(_BLOCKS, _INLINE, _SKIP)
    if inline.text:
        collector.data(inline.text)
    for child in inline:
        _walk(child, collector)
        if child.tail:
            collector.data(child.tail)
    return collector.result()


def _walk(element: Element, collector: ParagraphCollector) -> None:
    """Feed one element's events; recursion is bounded by MAX_DEPTH, checked while parsing."""
    name = _local(element.tag)
    collector.start(name)
    if element.text:
        collector.data(element.text)
    for child in element:
        _walk(child, collector)
        if child.tail:
            collector.data(child.tail)
    collector.end(name)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]
