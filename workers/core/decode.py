"""Bytes to normalised text: encoding detection, the optional JSON envelope, hygiene.

Real wire traffic arrives as UTF-8 (with or without BOM) or Windows-1251, with CRLF or CR line
ends, trailing spaces and non-breaking spaces. Everything after this module sees LF-separated,
NFC-normalised lines with no leading or trailing blanks and single inner spaces.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import orjson

from workers.core.model import Envelope
from workers.core.rejects import Reject, RejectReason

DEFAULT_MAX_BYTES = 1024 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
# C0 controls other than TAB/LF/VT/FF/CR, DEL and C1 controls: their presence means binary junk.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_BTA_URL_ID = re.compile(r"/(\d{3,12})(?:-[^/?#]*)?/?(?:[?#]|$)")
_ENVELOPE_KEYS = ("text", "source", "url", "receivedAt")


@dataclass(frozen=True, slots=True)
class Decoded:
    """Normalised text of one raw item plus what its envelope (if any) said."""

    text: str
    envelope: Envelope
    encoding: str


def decode(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Decoded | Reject:
    """Turn one Kafka message value into normalised text, or say why it cannot be."""
    if len(raw) > max_bytes:
        return Reject(RejectReason.TOO_LARGE, f"{len(raw)} bytes is over the {max_bytes} limit")
    body = raw[len(_UTF8_BOM) :] if raw.startswith(_UTF8_BOM) else raw
    if not body.strip():
        return Reject(RejectReason.EMPTY, "no bytes but whitespace")
    if body.lstrip()[:1] == b"{":
        return _decode_envelope(body)
    text = _bytes_to_text(body)
    if isinstance(text, Reject):
        return text
    return _finish(text[0], Envelope(), text[1])  # controls were checked on the bytes


# Bytes that never occur in text: C0 controls but TAB, LF, VT, FF, CR; and DEL.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
# UTF-8 encodings of the C1 controls U+0080..U+009F.
_UTF8_C1 = re.compile(rb"\xc2[\x80-\x9f]")


def _control_byte(body: bytes) -> int | None:
    """Offset of the first control byte, found with C-speed byte operations."""
    if len(body.translate(None, _CONTROL_BYTES)) == len(body):
        return None
    return next(i for i, byte in enumerate(body) if byte in _CONTROL_BYTES)


def _bytes_to_text(body: bytes) -> tuple[str, str] | Reject:
    if b"\x00" in body:
        return Reject(RejectReason.NOT_TEXT, "contains NUL bytes")
    bad = _control_byte(body)
    if bad is not None:
        return Reject(RejectReason.NOT_TEXT, f"control character 0x{body[bad]:02X} at byte {bad}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            # UTF-8 cut inside its last character (a truncated item): not Windows-1251.
            body = body[: exc.start]
        else:
            return _cp1251(body)
        text = body.decode("utf-8")
    c1 = _UTF8_C1.search(body)
    if c1 is not None:
        return Reject(RejectReason.NOT_TEXT, f"C1 control character at byte {c1.start()}")
    return text, "utf-8"


def _cp1251(body: bytes) -> tuple[str, str] | Reject:
    """Windows-1251 maps 0x80-0x9F to letters and signs; only 0x98 is undefined."""
    try:
        return body.decode("cp1251"), "cp1251"
    except UnicodeDecodeError as exc:
        return Reject(RejectReason.NOT_TEXT, f"neither UTF-8 nor Windows-1251 at byte {exc.start}")


def _decode_envelope(body: bytes) -> Decoded | Reject:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Reject(RejectReason.BAD_ENVELOPE, f"value starts with '{{' but is not JSON: {exc}")
    if not isinstance(obj, dict):
        return Reject(RejectReason.BAD_ENVELOPE, "JSON value is not an object")
    text = obj.get("text")
    if not isinstance(text, str):
        return Reject(RejectReason.BAD_ENVELOPE, "envelope field 'text' must be a string")
    for key in _ENVELOPE_KEYS[1:]:
        if obj.get(key) is not None and not isinstance(obj[key], str):
            return Reject(RejectReason.BAD_ENVELOPE, f"envelope field '{key}' must be a string")
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        return Reject(RejectReason.NOT_TEXT, "envelope text contains NUL characters")
    bad = _CONTROL.search(text)
    if bad is not None:
        return Reject(
            RejectReason.NOT_TEXT,
            f"control character U+{ord(bad.group()):04X} at offset {bad.start()}",
        )
    url = obj.get("url")
    envelope = Envelope(
        source=obj.get("source"),
        url=url,
        received_at=obj.get("receivedAt"),
        provider_id=_provider_id(url),
    )
    return _finish(text, envelope, "json")


def _provider_id(url: str | None) -> str | None:
    """The article id: the numeric start of the URL's last path segment (``/1234567-slug``)."""
    if not url:
        return None
    match = _BTA_URL_ID.search(url)
    return match.group(1) if match else None


def _finish(text: str, envelope: Envelope, encoding: str) -> Decoded | Reject:
    normalised = normalise_text(text)
    if not normalised:
        return Reject(RejectReason.EMPTY, "no text but whitespace")
    return Decoded(normalised, envelope, encoding)


def normalise_text(text: str) -> str:
    """LF line ends, NFC, single inner spaces, no blanks at line ends, no blank edges."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    # str.split() knows every Unicode space (NBSP included) and runs in C: much faster than a
    # regex over the whole text. A line that is printable (so has no space but " "), with no
    # double space and no space at its ends, is already what the split would give.
    return "\n".join(
        line
        if line.isprintable() and "  " not in line and line[:1] != " " and line[-1:] != " "
        else " ".join(line.split())
        for line in text.split("\n")
    ).strip("\n")
