"""The wire formats a newsroom takes, one module each, and the choice among them.

Which format an input is: the ``hint`` if one is given (a ``wire-format`` Kafka header, or the
``format`` field of a JSON envelope), else the first format whose ``detect`` claims the bytes,
else BTA text (the fallback). A JSON envelope (``{"text": ..., "source", "url", "receivedAt"}``)
may carry an item of any format in its ``text``; its fields travel with the item.

The contract of a format module is in :mod:`workers.core.formats.types`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson

from workers.core.decode import DEFAULT_MAX_BYTES, utf16_as_utf8, without_bom
from workers.core.formats import anpa1312, bta, iptc7901, newsml_g2, ninjs
from workers.core.formats.text import has_glyph
from workers.core.formats.types import EARLIEST_YEAR, WireFormat, rfc3339_time
from workers.core.model import Envelope, WireItem
from workers.core.rejects import Reject, RejectReason

# The Kafka headers a raw message may carry to say how to read it (the worker reads them, a
# DLQ record keeps them, `wire-ingest dlq replay` sends them again): the format, overriding
# detection, and when the newsroom received the item (ISO 8601), for times without a year.
FORMAT_HEADER = "wire-format"
RECEIVED_AT_HEADER = "wire-received-at"
INPUT_HEADERS = (FORMAT_HEADER, RECEIVED_AT_HEADER)

# Asked in this order; BTA claims whatever none of them did.
DETECTED: tuple[WireFormat, ...] = (newsml_g2, ninjs, anpa1312, iptc7901)
FORMATS: dict[str, WireFormat] = {f.NAME: f for f in (bta, *DETECTED)}


def parse_input(
    raw: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    received_at: datetime | None = None,
    hint: str | None = None,
) -> tuple[WireItem, ...] | Reject:
    """The items of one raw message value, or why there are none. Never raises."""
    parsed = _parse(raw, max_bytes, received_at, hint)
    if isinstance(parsed, Reject):
        return parsed
    for item in parsed:
        if not any(map(str.isalnum, item.headline)):
            # Blank to a reader (U+200B, U+FEFF, a lone combining mark) or only signs.
            return Reject(
                RejectReason.NO_HEADLINE,
                f"the headline {item.headline[:40]!r} holds no letter or digit",
            )
    if all(map(_each_starts_with_a_glyph, parsed)):
        return parsed
    return _without_blank_paragraphs(parsed)


# Formats whose items always have a body (their parsers refuse one without); a NewsML-G2 or
# ninjs item may be a flash, a headline alone.
_BODY_REQUIRED = frozenset({bta.NAME, iptc7901.NAME, anpa1312.NAME})


_first = itemgetter(0)


def _each_starts_with_a_glyph(item: WireItem) -> bool:
    """Whether every paragraph's first character is a letter, digit, sign or punctuation
    mark: then each has a glyph (:func:`has_glyph`). The common case, in one pass in C over
    the first characters, whose general categories start with a capital only in their first
    letter; any other first character takes the exact check."""
    try:
        kinds = "".join(map(unicodedata.category, map(_first, item.paragraphs)))
    except IndexError:  # an empty paragraph
        return False
    return "M" not in kinds and "C" not in kinds and "Z" not in kinds


def _without_blank_paragraphs(parsed: tuple[WireItem, ...]) -> tuple[WireItem, ...] | Reject:
    """The items without the paragraphs a reader cannot see; refused if a format that needs
    a body is left without one."""
    items = []
    for item in parsed:
        paragraphs = tuple(filter(has_glyph, item.paragraphs))
        if not paragraphs and (item.wire_format or bta.NAME) in _BODY_REQUIRED:
            return Reject(RejectReason.NO_BODY, "no body paragraph a reader can see")
        items.append(replace(item, paragraphs=paragraphs))
    return tuple(items)


def _parse(
    raw: bytes, max_bytes: int, received_at: datetime | None, hint: str | None
) -> tuple[WireItem, ...] | Reject:
    if len(raw) > max_bytes:
        return Reject(RejectReason.TOO_LARGE, f"{len(raw)} bytes is over the {max_bytes} limit")
    if hint is not None and hint not in FORMATS:
        return _unknown(hint)
    body = without_bom(raw)
    utf8 = utf16_as_utf8(body)
    if isinstance(utf8, Reject):
        return utf8
    if utf8 is None:
        return _parse_body(raw, body, received_at, hint)
    parsed = _parse_body(utf8, without_bom(utf8), received_at, hint)
    if isinstance(parsed, Reject) and " at byte " in parsed.detail:
        return replace(parsed, detail=f"{parsed.detail} of the UTF-16 item read as UTF-8")
    return parsed


def _parse_body(
    raw: bytes, body: bytes, received_at: datetime | None, hint: str | None
) -> tuple[WireItem, ...] | Reject:
    """The items of ``raw`` (``body``: without its byte order marks)."""
    doc = _json_object(body) if body.lstrip()[:1] == b"{" else None
    if doc is not None:
        inner = _enveloped(doc, body, received_at, hint)
        if inner is not None:
            return inner
        # Not an envelope around another format: a ninjs item, or BTA's envelope.
    if hint is not None:
        return FORMATS[hint].parse(body, received_at)  # as detected ones: without any BOM
    for candidate in DETECTED:
        if candidate.detect(body):
            return candidate.parse(body, received_at)
    why = ninjs.not_an_item(doc) if doc is not None else None
    if why is not None:  # else BTA's envelope reader says what is wrong with it
        detail = f"a JSON object with ninjs item fields but no ninjs item: {why}"
        return Reject(RejectReason.BAD_ENVELOPE, detail)
    return bta.parse(raw, received_at)


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The JSON object ``body`` is, or None (other JSON, or none: the readers say why)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _unknown(name: str) -> Reject:
    known = ", ".join(sorted(FORMATS))
    return Reject(RejectReason.UNKNOWN_FORMAT, f"unknown wire format {name!r} (known: {known})")


def _enveloped(
    doc: dict[str, Any], body: bytes, received_at: datetime | None, hint: str | None
) -> tuple[WireItem, ...] | Reject | None:
    """The items of a JSON envelope's ``text`` (``doc``, read from ``body``); None: not such
    an envelope (a ninjs item), or BTA text in an envelope that names no format (BTA reads
    its envelope itself).

    The envelope's ``format`` names the format, else the ``hint``, else the text is detected.
    Its ``receivedAt`` is when the newsroom received the item: it wins over the Kafka time.
    """
    if not isinstance(doc.get("text"), str):
        return None
    name = doc.get("format")
    if name is not None and not isinstance(name, str):
        return Reject(RejectReason.BAD_ENVELOPE, "envelope field 'format' must be a string")
    name = name or hint
    text: str = doc["text"]
    data = text.encode("utf-8", "surrogatepass")
    if name is None:
        chosen = next((f for f in DETECTED if f.detect(data)), None)
        if chosen is None:
            return None  # BTA text in a BTA envelope
    elif name == bta.NAME:
        return bta.parse(body, received_at)  # BTA reads its envelope itself, whatever the hint
    else:
        found = FORMATS.get(name)
        if found is None:
            return _unknown(name)
        chosen = found
    for key in ("source", "url", "receivedAt"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            return Reject(RejectReason.BAD_ENVELOPE, f"envelope field '{key}' must be a string")
    envelope = Envelope(
        source=doc.get("source"), url=doc.get("url"), received_at=doc.get("receivedAt")
    )
    parsed = chosen.parse(data, received_time(envelope.received_at) or received_at)
    if isinstance(parsed, Reject):
        return parsed
    return tuple(replace(item, envelope=envelope) for item in parsed)


def received_time(text: str | None) -> datetime | None:
    """A receive time (an envelope's ``receivedAt``, a ``wire-received-at`` header): ISO 8601,
    UTC when it names no zone; None when it does not read."""
    if not text:
        return None
    try:
        when = rfc3339_time(text)
    except ValueError:
        return None
    if when.year < EARLIEST_YEAR:
        return None  # not a receive time: the Kafka timestamp serves better
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
