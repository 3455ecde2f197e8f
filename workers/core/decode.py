"""Bytes to normalised text: encoding detection, the optional JSON envelope, hygiene.

Real wire traffic arrives as UTF-8 (with or without BOM) or Windows-1251 (sometimes a few of
its bytes, or whole lines of it, in UTF-8 text from a legacy system), with CRLF or CR line
ends, trailing spaces and non-breaking spaces. Everything after this module sees
LF-separated, NFC-normalised lines with no leading or trailing blanks and single inner spaces.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from workers.core.model import Envelope
from workers.core.rejects import Reject, RejectReason

DEFAULT_MAX_BYTES = 1024 * 1024
# The most of a raw value a DLQ record keeps: base64 grows bytes by 4/3, and 8 MiB still fit a
# 16 MiB DLQ message. So it is also the largest item limit a worker accepts (settings.py).
DLQ_MAX_RAW_BYTES = 8 * 1024 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
# C0 controls other than TAB/LF/VT/FF/CR, DEL and C1 controls: their presence means binary junk.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_ENVELOPE_KEYS = ("text", "source", "url", "receivedAt")


@dataclass(frozen=True, slots=True)
class Decoded:
    """Normalised text of one raw item plus what its envelope (if any) said."""

    text: str
    envelope: Envelope
    encoding: str


# What an item without an envelope carries; frozen, so one instance serves every item.
_NO_ENVELOPE = Envelope()


def without_bom(data: bytes) -> bytes:
    """The bytes after any UTF-8 byte order marks: a feed that re-encodes an item may add a
    second one, which must not become part of its headline (and of its content hash)."""
    start = 0
    while data.startswith(_UTF8_BOM, start):
        start += len(_UTF8_BOM)
    return data[start:] if start else data


def decode(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Decoded | Reject:
    """Turn one Kafka message value into normalised text, or say why it cannot be."""
    if len(raw) > max_bytes:
        return Reject(RejectReason.TOO_LARGE, f"{len(raw)} bytes is over the {max_bytes} limit")
    body = without_bom(raw)
    start = body.lstrip()[:1]
    if not start:
        return Reject(RejectReason.EMPTY, "no bytes but whitespace")
    if start == b"{":
        return _decode_envelope(body)
    if start in _JSON_STARTS and _is_json(body):
        # A feed that sends JSON of another kind than an envelope: say so, rather than read
        # it as an item's text and refuse it for a missing publication line.
        return Reject(RejectReason.BAD_ENVELOPE, "JSON value is not an object")
    text = _bytes_to_text(body)
    if isinstance(text, Reject):
        return text
    return _finish(*text, _NO_ENVELOPE)  # controls were checked on the bytes


# The first bytes of a JSON value that is no object and no item's text begins with: an array,
# a string, null, true, false.
_JSON_STARTS = frozenset((b"[", b'"', b"n", b"t", b"f"))


def _is_json(body: bytes) -> bool:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


# Bytes that never occur in text: C0 controls but TAB, LF, VT, FF, CR; and DEL.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
# UTF-8 encodings of the C1 controls U+0080..U+009F.
_UTF8_C1 = re.compile(rb"\xc2[\x80-\x9f]")
# Bytes that need no second look in UTF-8 text: LF, printable ASCII, continuation bytes, and the
# lead bytes of U+00C0..U+02FF and U+0400..U+047F (Latin, Cyrillic). Deleting them (one C-speed
# pass) leaves a few "notable" bytes that say which checks the text needs: C0 controls (TAB,
# VT, FF and CR among them), DEL, 0xC2 (lead byte of the C1 controls and NBSP), other leads.
_QUIET_BYTES = bytes([0x0A, *range(0x20, 0x7F), *range(0x80, 0xC0), *range(0xC3, 0xCC), 0xD0, 0xD1])
# Left of the notable bytes by deleting these: the lead bytes of scripts this wire does not
# carry, whose text takes the general path.
_FAMILIAR_BYTES = bytes([*range(0x00, 0x80), 0xC2, 0xE2])
# The pass that keeps the notable bytes writes, in place of each, the byte that stands for its
# kind, so that one memchr in the few bytes left answers each question. The kinds are ints:
# ``b"x" in data`` first tries its needle as an int, a failure that costs more than the search.
_NUL = 0x00
_OTHER_CONTROL = 0x01  # the other bytes of _CONTROL_BYTES
_TAB_VT_FF = 0x09
_CR = 0x0D
_LEAD_C2 = 0xC2
_LEAD_E2 = 0xE2
_OTHER_SCRIPT = 0xFF  # what deleting _FAMILIAR_BYTES leaves


def _notable_kinds() -> bytes:
    """The translate table that maps each notable byte to the byte standing for its kind."""
    kinds = bytearray(range(256))
    for byte in set(range(256)) - set(_FAMILIAR_BYTES):
        kinds[byte] = _OTHER_SCRIPT
    for byte in _CONTROL_BYTES[1:]:  # NUL is a kind of its own
        kinds[byte] = _OTHER_CONTROL
    kinds[0x0B] = kinds[0x0C] = _TAB_VT_FF
    return bytes(kinds)


_NOTABLE_KINDS = _notable_kinds()
# Among U+2000..U+2FFF (lead byte 0xE2), in UTF-8: the blanks U+2000..U+200A, U+2028, U+2029,
# U+202F, U+205F; and what NFC may change: U+2000, U+2001, the combining marks U+20D0..U+20FF,
# U+2CEF..U+2CF1, U+2D7F, U+2DE0..U+2DFF, and U+2126, U+212A, U+212B, U+2329, U+232A, U+2ADC.
_UTF8_E2_NOTABLE = re.compile(
    rb"\xe2(?:\x80[\x80-\x8a\xa8\xa9\xaf]|\x81\x9f|\x83[\x90-\xbf]|\x84[\xa6\xaa\xab]"
    rb"|\x8c[\xa9\xaa]|\xab\x9c|\xb3[\xaf-\xb1]|\xb5\xbf|\xb7[\xa0-\xbf])"
)


def _bytes_to_text(body: bytes) -> tuple[str, str, str | None] | Reject:
    """The text, its encoding, and what :func:`_finish` takes as ``spaced`` (or None).

    UTF-8 text comes with LF line ends. For the common item, UTF-8 of Latin, Cyrillic and
    general punctuation, the bytes alone show that the text is NFC and which blanks it holds.
    """
    kinds = body.translate(_NOTABLE_KINDS, _QUIET_BYTES)  # the kinds of the notable bytes
    if _NUL in kinds:
        return Reject(RejectReason.NOT_TEXT, "contains NUL bytes" + _utf16_hint(body))
    if _OTHER_CONTROL in kinds:
        bad = next(i for i, byte in enumerate(body) if byte in _CONTROL_BYTES)
        return Reject(RejectReason.NOT_TEXT, f"control character 0x{body[bad]:02X} at byte {bad}")
    mixed: str | None = None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            # UTF-8 cut inside its last character (a truncated item): not Windows-1251.
            body = body[: exc.start]
        else:
            mixed = _utf8_with_stray_cp1251(body)
            if mixed is None:
                return _utf8_and_cp1251_lines(body)
        text = body.decode("utf-8") if mixed is None else mixed
    # Valid UTF-8 of a C1 control (a stray 0xC2 before such a byte would be that too).
    c1 = _search_span(_UTF8_C1, body, b"\xc2") if _LEAD_C2 in kinds else None
    if c1 is not None:
        return Reject(RejectReason.NOT_TEXT, f"C1 control character at byte {c1.start()}")
    if mixed is not None:
        return mixed, "utf-8+cp1251", None  # normalised in full: NFC and blanks not checked
    if _CR in kinds:
        text = _lf(text)
    if _OTHER_SCRIPT in kinds or (
        _LEAD_E2 in kinds and _search_span(_UTF8_E2_NOTABLE, body, b"\xe2") is not None
    ):
        return text, "utf-8", None
    # Every character is now ASCII, in U+0080..U+02FF, U+0400..U+047F, or one of U+2000..U+2FFF
    # that NFC keeps as it is (no combining mark among them): the text is NFC. Its only blanks
    # but space and LF can be TAB, VT, FF and NBSP (the C0 and C1 blanks were refused).
    spaced = text.replace("\xa0", " ") if _LEAD_C2 in kinds else text
    if _TAB_VT_FF in kinds:
        spaced = spaced.replace("\t", " ").replace("\x0b", " ").replace("\x0c", " ")
    return text, "utf-8", spaced


def _utf16_hint(body: bytes) -> str:
    """What to add to the refusal of bytes with NULs that look like UTF-16: the byte order
    mark that would say so is missing, and without it no reader can tell. In UTF-16 text of
    one script, every other byte is one of a few (0x00 for ASCII, 0x04 for Cyrillic, 0x20
    for punctuation): three values make at least nine in ten of one side's bytes."""
    for side in (body[0::2], body[1::2]):
        if len(side) >= 4 and sum(sorted(map(side.count, set(side)))[-3:]) * 10 >= len(side) * 9:
            return " (UTF-16 without a byte order mark?)"
    return ""


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# An XML declaration's encoding, which the UTF-8 bytes of a UTF-16 document must not keep.
_DECLARED_ENCODING = re.compile(r"""\A(\s*<\?xml\s[^>]*?\bencoding\s*=\s*)(?:"[^"]*"|'[^']*')""")


def utf16_as_utf8(body: bytes) -> bytes | Reject | None:
    """UTF-16 with a byte order mark, as UTF-8 bytes (None: no UTF-16 byte order mark).

    Every reader downstream takes bytes in UTF-8 or an 8-bit encoding; an XML declaration's
    encoding becomes UTF-8 with them (the mark decides the encoding, as XML 1.0 has it).
    """
    if body[:2] not in _UTF16_BOMS:
        return None
    try:
        text = body.decode("utf-16").lstrip("\ufeff")  # the mark, once more as a character
    except UnicodeDecodeError as exc:
        return Reject(RejectReason.NOT_TEXT, f"invalid UTF-16 at byte {exc.start}")
    text = _DECLARED_ENCODING.sub(r'\1"UTF-8"', text, count=1)
    return text.encode("utf-8")


def _search_span(pattern: re.Pattern[bytes], body: bytes, lead: bytes) -> re.Match[bytes] | None:
    """``pattern.search(body)`` for a pattern of at most 3 bytes, each match led by ``lead``.

    Only the span from the first to the last ``lead`` (found by memchr) can hold a match; the
    regex engine would otherwise step through every byte of the body.
    """
    return pattern.search(body, body.find(lead), body.rfind(lead) + 3)


# A UTF-8 item may carry Windows-1251 bytes that a legacy system spliced in (a dash 0x96,
# quotes 0x84/0x93/0x94): they are read as Windows-1251 in UTF-8 text that has at least
# MIN_UTF8_LETTERS characters beyond ASCII in valid UTF-8, and at most
# MAX_STRAY_CP1251_BYTES invalid bytes or one per STRAY_CP1251_PER_LETTERS of those letters.
# Text that is Windows-1251 throughout has nearly every Cyrillic letter an invalid UTF-8
# byte, and valid UTF-8 only by accident (a capital before a quote mark): a few characters.
# An item with more invalid bytes is read line by line (_utf8_and_cp1251_lines).
MAX_STRAY_CP1251_BYTES = 8
STRAY_CP1251_PER_LETTERS = 10
MIN_UTF8_LETTERS = 16
# Runs of the bytes "surrogateescape" could not decode, as it writes them: U+DC80..U+DCFF.
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")


def _utf8_with_stray_cp1251(body: bytes) -> str | None:
    """UTF-8 text whose invalid bytes are read as Windows-1251, or None when the item is not
    that (too many such bytes for its UTF-8 letters, too few of those, or a byte that
    Windows-1251 does not define either). A UTF-8 character cut at the end is dropped.

    Whole-string passes in C decide (the valid text, without the invalid bytes, says how many
    there are and how many letters beyond ASCII it has); only an item that is UTF-8 with a few
    stray bytes is decoded again with them escaped, and those read as Windows-1251.
    """
    body = body[: _without_a_cut_character(body)]
    valid = body.decode("utf-8", "ignore")  # drops the bytes surrogateescape would escape
    stray = len(body) - len(valid.encode())
    letters = len(valid) - len(valid.encode("ascii", "ignore"))
    if letters < MIN_UTF8_LETTERS:
        return None
    if stray > MAX_STRAY_CP1251_BYTES and stray * STRAY_CP1251_PER_LETTERS > letters:
        return None
    read = _utf8_with_cp1251_runs(body)
    return read if isinstance(read, str) else None  # 0x98, which Windows-1251 leaves undefined


def _utf8_and_cp1251_lines(body: bytes) -> tuple[str, str, None] | Reject:
    """An item of too many invalid bytes for the rule above, read line by line (LF, CRLF or
    CR): a line of valid UTF-8 as UTF-8; one with three UTF-8 Cyrillic letters in a row, or
    with more UTF-8 characters beyond ASCII than invalid bytes, as UTF-8 with those bytes
    read as Windows-1251; any other as Windows-1251.

    A legacy system may also write whole lines in Windows-1251 (a body under a UTF-8 headline
    and dateline); read as one, the item would be published as mojibake. Two Cyrillic
    letters of Windows-1251 in a row are valid UTF-8 only when the second is one Bulgarian
    does not use ("Ё", "Ї", "Ђ": 0x80-0xBF); А-я (0xC0-0xFF) are no continuation bytes, so a
    line of its words is not, and reads as before. An item with no valid UTF-8 character
    beyond ASCII, or of more than MAX_LINES_READ_APART lines (no news item has as many;
    reading them one by one would cost a second a MiB), is read as Windows-1251 at once. A
    line that is valid UTF-8 with C1 controls and no three Cyrillic letters in a row is
    Windows-1251 ("В…", 0xC2 0x85). A short line of Windows-1251 capitals and signs alone may
    be valid UTF-8 ("Её", 0xC5 0xB8: "Ÿ"), and reads as that.
    """
    if body.decode("utf-8", "ignore").isascii() or _more_lines_than(body, MAX_LINES_READ_APART):
        return _whole_cp1251(body)
    spans = []
    start = 0
    for line_end in _LINE_END.finditer(body):
        spans.append((start, line_end.start()))
        start = line_end.end()
    spans.append((start, len(body)))
    texts: list[str] = []
    utf8_lines = 0
    for number, (start, end) in enumerate(spans, 1):
        line = body[start:end]
        if number == len(spans):  # a truncated item's last line may end in a cut character
            line = line[: _without_a_cut_utf8_character(line)]
        read = _read_line(line)
        if isinstance(read, int):
            at = start + read
            return Reject(RejectReason.NOT_TEXT, f"neither UTF-8 nor Windows-1251 at byte {at}")
        text, as_utf8 = read
        if as_utf8:
            c1 = _UTF8_C1.search(line)
            if c1 is not None:
                at = start + c1.start()
                return Reject(RejectReason.NOT_TEXT, f"C1 control character at byte {at}")
            utf8_lines += not text.isascii()
        texts.append(text)
    text = "\n".join(texts)
    return text, "utf-8+cp1251" if utf8_lines else "cp1251", None


# Three Cyrillic letters in a row in UTF-8 ("Дан": 0xD0 0x94 0xD0 0xB0 0xD0 0xBD). Windows-1251
# text makes one such letter of a capital "Р" or "С" (0xD0, 0xD1) before a sign or a no-break
# space (0x80-0xBF), and never three in a row.
_UTF8_CYRILLIC_WORD = re.compile(rb"(?:[\xd0\xd1][\x80-\xbf]){3}")
_LINE_END = re.compile(rb"\r\n?|\n")


# More lines than a news item has: such an input is read as Windows-1251 throughout.
MAX_LINES_READ_APART = 5_000


def _more_lines_than(body: bytes, most: int) -> bool:
    return body.count(b"\n") + body.count(b"\r") > most  # a CRLF counts twice: a bound only


def _read_line(line: bytes) -> tuple[str, bool] | int:
    """A line's text and whether it was read as UTF-8 (:func:`_utf8_and_cp1251_lines`), or
    the offset of a byte neither encoding reads (0x98 where UTF-8 does not take it)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if _UTF8_C1.search(line) is None or _UTF8_CYRILLIC_WORD.search(line) is not None:
            return text, True  # with a C1 control, refused by the caller
        try:  # C1 controls in UTF-8 are junk; in Windows-1251 they are a capital and a sign
            return line.decode("cp1251"), False
        except UnicodeDecodeError:
            return text, True
    valid = line.decode("utf-8", "ignore")
    stray = len(line) - len(valid.encode())
    beyond_ascii = len(valid) - len(valid.encode("ascii", "ignore"))
    if beyond_ascii > stray or _UTF8_CYRILLIC_WORD.search(line) is not None:
        read = _utf8_with_cp1251_runs(line)
        return (read, True) if isinstance(read, str) else read
    try:
        return line.decode("cp1251"), False
    except UnicodeDecodeError as exc:
        return exc.start


def _whole_cp1251(body: bytes) -> tuple[str, str, None] | Reject:
    """Windows-1251 maps 0x80-0x9F to letters and signs; only 0x98 is undefined."""
    try:
        return body.decode("cp1251"), "cp1251", None
    except UnicodeDecodeError as exc:
        return Reject(RejectReason.NOT_TEXT, f"neither UTF-8 nor Windows-1251 at byte {exc.start}")


def _utf8_with_cp1251_runs(data: bytes) -> str | int:
    """``data`` as UTF-8 with its invalid bytes read as Windows-1251, or the offset of one
    that Windows-1251 leaves undefined (0x98)."""
    escaped = data.decode("utf-8", "surrogateescape")
    try:
        return _ESCAPED_BYTES.sub(_as_cp1251, escaped)
    except UnicodeDecodeError:
        return len(escaped[: escaped.index("\udc98")].encode("utf-8", "surrogateescape"))


def _as_cp1251(run: re.Match[str]) -> str:
    """A run of escaped bytes, read as Windows-1251."""
    return run.group().encode("utf-8", "surrogateescape").decode("cp1251")


def _without_a_cut_utf8_character(line: bytes) -> int:
    """:func:`_without_a_cut_character` for the last line of a mixed item, when the line
    shows it is UTF-8 (three Cyrillic letters in a row); else the whole length: its last
    byte is a Windows-1251 letter ("в", "г" after a year)."""
    cut = _without_a_cut_character(line)
    return cut if _UTF8_CYRILLIC_WORD.search(line, 0, cut) else len(line)


def _without_a_cut_character(body: bytes) -> int:
    """The length of ``body`` without a UTF-8 character cut short at its end (a truncated
    item), if it ends in one: a lead byte among its last three and too few bytes after it.

    A lead byte right after another byte of 0xC0-0xFF (which ends no UTF-8 character: an
    invalid byte, a Windows-1251 letter) ends that word as a letter of its own: "Заглавие"
    in Windows-1251 ends in 0xE8 0xE5, and 0xE5 would lead three UTF-8 bytes."""
    for back in range(1, min(len(body), 3) + 1):
        if body[-back] & 0xC0 != 0x80:  # not a continuation byte: a lead, or ASCII
            try:
                body[-back:].decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.start == 0 and exc.reason == "unexpected end of data":
                    cut = len(body) - back
                    return len(body) if cut and body[cut - 1] >= 0xC0 else cut
            return len(body)
    return len(body)


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
    text = text.lstrip("\ufeff")
    envelope = Envelope(
        source=obj.get("source"),
        url=obj.get("url"),
        received_at=obj.get("receivedAt"),
    )
    lf_text = _lf(text)
    spaced = _spaced(lf_text)
    if spaced is not None:  # printable characters and blanks: no NUL, no control character
        nfc = unicodedata.is_normalized("NFC", lf_text)
        return _finish(lf_text, "json", spaced if nfc else None, envelope)
    if "\x00" in text:
        return Reject(RejectReason.NOT_TEXT, "envelope text contains NUL characters")
    bad = _CONTROL.search(text)
    if bad is not None:
        return Reject(
            RejectReason.NOT_TEXT,
            f"control character U+{ord(bad.group()):04X} at offset {bad.start()}",
        )
    return _finish(text, "json", None, envelope)


def _finish(text: str, encoding: str, spaced: str | None, envelope: Envelope) -> Decoded | Reject:
    """Normalise the text and wrap it up.

    ``spaced``, when the caller knows the text is NFC with LF line ends: the text with every
    blank but LF made a space, which only needs :func:`_tidy`.
    """
    normalised = _tidy(spaced) if spaced is not None else normalise_text(text)
    if not normalised:
        return Reject(RejectReason.EMPTY, "no text but whitespace")
    return Decoded(normalised, envelope, encoding)


def normalise_text(text: str) -> str:
    """LF line ends, NFC, single inner spaces, no blanks at line ends, no blank edges."""
    text = _lf(text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    spaced = _spaced(text)
    if spaced is not None:
        return _tidy(spaced)
    # Some line holds a character that is neither printable nor a blank (a control character,
    # U+200B...): each line through str.split(), which knows every Unicode space. A line that
    # is printable (so has no space but " "), with no double space and no space at its ends,
    # is already what the split would give.
    return "\n".join(
        line
        if line.isprintable() and "  " not in line and line[:1] != " " and line[-1:] != " "
        else " ".join(line.split())
        for line in text.split("\n")
    ).strip("\n")


def _lf(text: str) -> str:
    if "\r" in text:  # a one-character search is a fast scan; most items have no CR
        return text.replace("\r\n", "\n").replace("\r", "\n")
    return text


# What str.split() splits on, but LF and the control characters decode refuses: in a line,
# each of these does what a space does. NBSP comes first, being the one common on the wire.
_BLANKS = (
    "\xa0",
    "\t",
    "\x0b",
    "\x0c",
    "\u1680",
    *map(chr, range(0x2000, 0x200B)),
    "\u2028",
    "\u2029",
    "\u202f",
    "\u205f",
    "\u3000",
)


def _spaced(text: str) -> str | None:
    """The text with every blank but LF made a space, if only printable characters are left.

    Printable text has no blank but the space. Whole-string scans in C, where a test of each
    line was a Python loop. None: some character is neither printable nor a blank (a CR too).
    """
    flat = text.replace("\n", "")
    if flat.isprintable():
        return text
    for blank in _BLANKS:
        if blank in flat:
            flat = flat.replace(blank, " ")
            text = text.replace(blank, " ")
    return text if flat.isprintable() else None


def _tidy(text: str) -> str:
    """Each line as " ".join(line.split()) leaves it, for text whose only blanks are " ", LF.

    The lines are stripped in C (map, join); runs of spaces left inside lines are then halved
    until none is left, a pass per doubling of the longest run. The lines of the result are
    kept for :func:`text_lines`.
    """
    lines = list(map(str.strip, text.split("\n")))
    text = "\n".join(lines)
    if "  " in text:
        while "  " in text:
            text = text.replace("  ", " ")
        return text.strip("\n")
    first, last = 0, len(lines)
    while first < last and not lines[first]:
        first += 1
    while last > first and not lines[last - 1]:
        last -= 1
    if first or last < len(lines):
        text = text.strip("\n")
        lines = lines[first:last] or [""]
    _LAST_LINES[0] = (text, lines)  # never changed from here on: text_lines() hands it out
    return text


# The last text _tidy made and its lines, as one tuple so that a reader never sees the text of
# one call with the lines of another.
_LAST_LINES: list[tuple[str, Sequence[str]]] = [("", ("",))]


def text_lines(text: str) -> Sequence[str]:
    """``text.split("\\n")``, but for the text decode() just made, the lines it split it from.

    The parser splits the decoded text right after decode() joined it from those very lines.
    The text is recognised by identity, so no other text ever gets these lines.
    """
    last_text, lines = _LAST_LINES[0]
    return lines if last_text is text else text.split("\n")
