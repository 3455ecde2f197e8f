"""Text helpers the NewsML-G2 and ninjs readers share: one-line text, plain-text paragraphs,
by-lines, key-safe provider names, and paragraphs from markup events (XML or HTML)."""

from __future__ import annotations

import unicodedata
from collections.abc import Set

from workers.core.decode import normalise_text

# A provider name goes into keys that use '-' and ':' as separators.
MAX_PROVIDER = 32
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


# C0 and C1 control characters and DEL that are not whitespace: never text. A JSON string
# may hold them (XML may not); they are dropped, as the IPTC 7901 and ANPA readers drop
# them. The blanks among them (TAB, LF, CR, ...) stay for split() to handle.
_CONTROLS = {
    code: None for code in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)) if not chr(code).isspace()
}


def _without_controls(text: str) -> str:
    return text if text.isprintable() else text.translate(_CONTROLS)


# General categories that show nothing on their own: controls, format characters (U+200B,
# U+FEFF, soft hyphens), surrogates, combining marks that sit on another character, blanks.
# Everything else is a glyph: letters, digits, punctuation, signs, spacing marks (a Devanagari
# vowel sign), private use, and code points this Python does not know yet (newer emoji).
_SHOWS_NOTHING = frozenset({"Cc", "Cf", "Cs", "Mn", "Me", "Zs", "Zl", "Zp"})


def has_glyph(text: str) -> bool:
    """Whether a reader sees anything in ``text``. Signs count: "***" between sections is
    the writer's."""
    return any(unicodedata.category(ch) not in _SHOWS_NOTHING for ch in text)


def flat(text: str) -> str:
    """Text on one line, normalised: source line breaks in markup are layout, not meaning."""
    return normalise_text(" ".join(_without_controls(text).split()))


def plain_paragraphs(text: str) -> tuple[str, ...]:
    """Plain text: paragraphs split on blank lines, or one a line if there are none."""
    text = normalise_text(_without_controls(text))
    blocks = text.split("\n\n") if "\n\n" in text else text.split("\n")
    return tuple(filter(None, (" ".join(block.split()) for block in blocks)))


def strip_by(byline: str) -> str:
    """The by-line without its leading "By " (any case); "" when that is all it holds."""
    if byline.lower() == "by":
        return ""
    return byline[3:].strip() if byline[:3].lower() == "by " else byline


def provider_slug(name: str | None) -> str:
    """Lowercase ASCII letters and digits only (accents dropped); "" if none is left."""
    if not name:
        return ""
    folded = unicodedata.normalize("NFKD", name).lower()
    return "".join(ch for ch in folded if ch in _ALNUM)[:MAX_PROVIDER]


class ParagraphCollector:
    """Paragraphs from markup events: the text of each block element, markup stripped; for
    markup with no block element at all, the text between elements, split like plain text.

    ``blocks`` make paragraphs, ``inline`` elements do not break one, the text of ``skip``
    elements is dropped; any other element breaks a paragraph's text with a space.
    """

    def __init__(self, blocks: Set[str], inline: Set[str], skip: Set[str]) -> None:
        self._blocks, self._inline, self._skip_names = blocks, inline, skip
        self.blocks: list[str] = []
        self.loose: list[str] = []
        self.saw_block = False
        self._block: list[str] = []
        self._loose: list[str] = []
        self._in_block = 0
        self._skip = 0

    def start(self, name: str) -> None:
        if name in self._skip_names:
            self._skip += 1
        elif name not in self._inline:
            self._flush_loose()
            if name in self._blocks:
                self._flush_block()
                self._in_block += 1
                self.saw_block = True
            elif self._in_block:
                self._block.append(" ")  # <br/> and the like: a space, not a new paragraph

    def end(self, name: str) -> None:
        if name in self._skip_names:
            self._skip = max(self._skip - 1, 0)
        elif name not in self._inline:
            self._flush_loose()
            if name in self._blocks and self._in_block:
                self._flush_block()
                self._in_block -= 1
            elif self._in_block:
                self._block.append(" ")

    def data(self, text: str) -> None:
        if not self._skip:
            self._loose.append(text)
            if self._in_block:
                self._block.append(text)

    def result(self) -> tuple[str, ...]:
        self._flush_block()
        self._flush_loose()
        return tuple(self.blocks) if self.saw_block else tuple(self.loose)

    def _flush_block(self) -> None:
        if self._block:
            text = flat("".join(self._block))
            if text:
                self.blocks.append(text)
            self._block.clear()

    def _flush_loose(self) -> None:
        if self._loose:
            self.loose.extend(plain_paragraphs("".join(self._loose)))
            self._loose.clear()
