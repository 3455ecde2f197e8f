"""workers.core.decode: bytes to normalised text, the JSON envelope, and refusals."""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tests.support.fixtures import SEED_UPDATED
from workers.core import decode as decode_module
from workers.core.decode import (
    _FAMILIAR_BYTES,
    _QUIET_BYTES,
    _UTF8_E2_NOTABLE,
    DEFAULT_MAX_BYTES,
    Decoded,
    decode,
    normalise_text,
    text_lines,
)
from workers.core.model import Envelope
from workers.core.rejects import Reject, RejectReason

ITEM = "Заглавие\nСофия,\n12.08.2025 10:00\n(БТА)\nПърви абзац."


def decoded(raw: bytes) -> Decoded:
    result = decode(raw)
    assert isinstance(result, Decoded), result
    return result


def rejected(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Reject:
    result = decode(raw, max_bytes)
    assert isinstance(result, Reject), result
    return result


def test_utf8_text_passes_through_unchanged() -> None:
    result = decoded(ITEM.encode())
    assert result == Decoded(ITEM, Envelope(), "utf-8")


def test_utf8_bom_is_dropped() -> None:
    result = decoded(b"\xef\xbb\xbf" + ITEM.encode())
    assert (result.text, result.encoding) == (ITEM, "utf-8")


def test_windows_1251_is_detected() -> None:
    result = decoded(ITEM.encode("cp1251"))
    assert (result.text, result.encoding) == (ITEM, "cp1251")


def test_a_few_windows_1251_bytes_in_utf8_text_are_read_as_windows_1251() -> None:
    """A legacy system splices a dash (0x96) or quotes (0x93, 0x94) into UTF-8 text: the
    item reads as the UTF-8 one, not as Windows-1251 mojibake ("Р‘Р°РЅРєР°")."""
    raw = SEED_UPDATED.read_bytes()
    text = decoded(raw).text
    with_dash = decoded(raw.replace("Пхенян".encode(), "Пхенян –".encode(), 1)).text
    result = decoded(raw.replace("Пхенян".encode(), "Пхенян".encode() + b" \x96", 1))
    assert (result.text, result.encoding) == (with_dash, "utf-8+cp1251")
    quoted = raw.replace("Пхенян".encode(), b"\x93\xcf\xf5\xe5\xed\xff\xed\x94", 1)
    assert decoded(quoted).text == text.replace("Пхенян", "“Пхенян”", 1)


@pytest.mark.parametrize("stray", [17, 40])
def test_many_invalid_bytes_after_more_utf8_letters_on_their_line_read_as_windows_1251(
    stray: int,
) -> None:
    """Over 8 invalid bytes and over one per 10 UTF-8 letters of the item (168 here): too
    many for the whole item, so its lines are read one by one. This one has more UTF-8 letters
    than invalid bytes: UTF-8, with those bytes read as Windows-1251 (it was mojibake)."""
    text = "Заглавие\n" + "Първи абзац с текст. " * 10 + "ъ" * stray
    raw = text.encode("utf-8")[: -2 * stray] + "ъ".encode("cp1251") * stray
    assert (decoded(raw).text, decoded(raw).encoding) == (text, "utf-8+cp1251")


@pytest.mark.parametrize("stray", [9, 16])
def test_invalid_bytes_up_to_one_per_ten_utf8_letters_stay_stray(stray: int) -> None:
    text = "Заглавие\n" + "Първи абзац с текст. " * 10 + "ъ" * stray
    raw = text.encode("utf-8")[: -2 * stray] + "ъ".encode("cp1251") * stray
    assert (decoded(raw).text, decoded(raw).encoding) == (text, "utf-8+cp1251")


def test_a_seed_with_its_quotes_and_dashes_spliced_in_windows_1251_reads_as_utf8() -> None:
    """Four pairs of quotes and a dash, nine bytes, and 0x98 nowhere (the sign-off's "И" is
    valid UTF-8 0xD0 0x98, no stray): the item it was, with those signs."""
    raw = SEED_UPDATED.read_bytes()
    spliced, signs = raw, raw
    for word in ("Пхенян", "Путин", "Ким", "Русия"):
        assert word.encode() in raw
        spliced = spliced.replace(word.encode(), b"\x84" + word.encode() + b"\x93", 1)
        signs = signs.replace(word.encode(), f"„{word}“".encode(), 1)
    spliced = spliced.replace(b". ", b" \x96 ", 1)
    signs = signs.replace(b". ", " – ".encode(), 1)
    result = decoded(spliced)
    assert (result.text, result.encoding) == (decoded(signs).text, "utf-8+cp1251")


def test_a_character_cut_at_the_end_is_dropped_after_stray_bytes() -> None:
    text = "Първи абзац с текст. " * 3
    assert decoded(text.encode() + b"\x96" + "ъ".encode()[:1]).text == text.strip() + " –"
    assert decoded(text.encode() + b"\x96 " + "€".encode()[:2]).text == text.strip() + " –"


def test_a_word_in_windows_1251_after_two_utf8_letters_reads_as_both() -> None:
    """Two UTF-8 letters in a row ("Аб") are never Windows-1251 text: the line is mixed."""
    result = decoded("Абв ".encode() + "Заглавие".encode("cp1251"))
    assert (result.text, result.encoding) == ("Абв Заглавие", "utf-8+cp1251")


def test_invalid_bytes_in_text_without_two_utf8_letters_in_a_row_make_it_windows_1251() -> None:
    raw = "„ДПС“ и НАТО“ каза, че".encode("cp1251")  # "С“" is valid UTF-8 by accident
    assert (decoded(raw).text, decoded(raw).encoding) == (raw.decode("cp1251"), "cp1251")


def test_a_c1_control_in_utf8_with_stray_bytes_is_refused() -> None:
    raw = ("Първи абзац с текст. " * 3).encode() + b"\x96 \xc2\x85"
    assert rejected(raw).reason is RejectReason.NOT_TEXT


@pytest.mark.parametrize("utf8_lines", [1, 3, 6])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_a_seed_with_lines_in_windows_1251_under_utf8_ones_reads_as_the_seed(
    utf8_lines: int, line_end: str
) -> None:
    """A legacy system writes the body in Windows-1251 under a UTF-8 headline and dateline.
    Read as one Windows-1251 text, the headline and place were mojibake ("РџС…РµРЅСЏРЅ");
    and the item was refused when a UTF-8 line held an "И" (0xD0 0x98: 0x98 is no
    Windows-1251 byte)."""
    text = SEED_UPDATED.read_text(encoding="utf-8")
    lines = text.split("\n")
    raw = line_end.join(lines[:utf8_lines]).encode() + line_end.encode()
    raw += line_end.join(lines[utf8_lines:]).encode("cp1251")
    result = decoded(raw)
    assert (result.text, result.encoding) == (decoded(text.encode()).text, "utf-8+cp1251")


def test_the_last_line_ends_in_a_cut_utf8_character_only_if_it_is_utf8() -> None:
    """A truncated item: its last UTF-8 line loses the cut character. The last byte of a
    Windows-1251 line that could lead a UTF-8 character ("е", 0xE5) is its letter."""
    head = "Заглавие с текст\n".encode() + "Първи абзац.".encode("cp1251") + b"\n"
    assert decoded(head + "Втори абзац".encode() + "ъ".encode()[:1]).text == (
        "Заглавие с текст\nПърви абзац.\nВтори абзац"
    )
    assert decoded(head + "Заглавие".encode("cp1251")).text.endswith("\nЗаглавие")


@pytest.mark.parametrize(
    ("utf8", "cp1251"),
    [
        ("Той каза: ", "„Няма да подам оставка“."),  # more invalid bytes than UTF-8 letters
        ("Иван Петров каза: ", "„Няма да подам оставка“."),  # 0x98 in the UTF-8 "И"
        ("Заглавие ", "„Да“"),
    ],
)
@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_a_quote_in_windows_1251_on_a_utf8_line_reads_as_both(
    utf8: str, cp1251: str, line_end: str
) -> None:
    head = "Заглавие на новината".encode() + line_end.encode()
    body = "Първи абзац на текста, който е доста дълъг.".encode("cp1251")
    raw = head + utf8.encode() + cp1251.encode("cp1251") + line_end.encode() + body
    result = decoded(raw)
    assert (
        result.text
        == f"Заглавие на новината\n{utf8}{cp1251}\nПърви абзац на текста, който е доста дълъг."
    )
    assert result.encoding == "utf-8+cp1251"


@pytest.mark.parametrize(
    "text",
    [
        "Заглавие\nПърви абзац.\nС\xa0п",  # "С\xa0" is valid UTF-8 by accident
        "„ДПС“ и „БСП“\nПърви абзац.\nС",
        "„ДПС“ и „БСП“\nПърви абзац.\n2025 г",
    ],
)
def test_windows_1251_throughout_reads_as_it_whatever_its_last_byte(text: str) -> None:
    """A last byte that could lead a UTF-8 character is no cut one in Windows-1251 text."""
    raw = text.encode("cp1251")
    assert (decoded(raw).text, decoded(raw).encoding) == (normalise_text(text), "cp1251")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("Заглавие на новината\nПърви абзац на текста.\nВ".encode()[:-1], None),
        ("Reuters — Paris café".encode()[:-1], "Reuters — Paris caf"),
    ],
)
def test_a_utf8_item_cut_inside_its_last_character_loses_it(raw: bytes, text: str | None) -> None:
    result = decoded(raw)
    expected = text or "Заглавие на новината\nПърви абзац на текста."
    assert (result.text, result.encoding) == (expected, "utf-8")
    assert rejected(b"\xd0").reason is RejectReason.EMPTY


def test_a_spliced_windows_1251_word_ending_in_a_capital_and_a_quote_is_misread() -> None:
    """The README's limit: "С“" in Windows-1251 is 0xD1 0x93, valid UTF-8 for "ѓ"."""
    raw = "Заглавие на новината\nЛидерът на ".encode() + "„ДПС“".encode("cp1251")
    assert decoded(raw + " каза още.".encode()).text.endswith("„ДПѓ каза още.")


def test_a_short_windows_1251_line_valid_as_utf8_reads_as_utf8() -> None:
    """The README's limit: "Её" in Windows-1251 is 0xC5 0xB8, valid UTF-8 for "Ÿ"; a line of
    such capitals and signs alone reads as UTF-8 in a mixed item."""
    raw = "Заглавие\nПърви абзац.\n".encode("cp1251") + "Её".encode("cp1251")
    assert decoded(raw).text == "Заглавие\nПърви абзац.\nŸ"


def test_one_windows_1251_letter_ending_utf8_text_reads_as_a_cut_character() -> None:
    """The README's limit: 0xE2 ("в") would lead three UTF-8 bytes, and the rest is UTF-8."""
    raw = "Заглавие на новината\nПърви абзац ".encode() + "в".encode("cp1251")
    assert decoded(raw).text == "Заглавие на новината\nПърви абзац"


@pytest.mark.parametrize(
    "text",
    [
        "ПРОТЕСТИ И\xa0В\xa0ПЛОВДИВ\nТекст.",  # capital, no-break space: 0xC8 0xA0 0xC2 0xA0
        "«ИДЁТ…» заявил он.\nТекст.",
        "ИЗБОРИ И\xa0В\xa0СОФИЯ, КЛАС „В“\nТекст.",  # "В“" is 0xC2 0x93, a C1 control in UTF-8
    ],
)
def test_windows_1251_capitals_before_signs_are_no_utf8(text: str) -> None:
    raw = text.encode("cp1251")
    assert (decoded(raw).text, decoded(raw).encoding) == (normalise_text(text), "cp1251")


@pytest.mark.parametrize("sign", ["…", "“", "„"])
def test_a_windows_1251_line_of_a_capital_and_a_sign_is_no_c1_control(sign: str) -> None:
    """ "В…" in Windows-1251 is 0xC2 0x85, UTF-8 for a C1 control: such a line without
    Cyrillic letters in UTF-8 is the Windows-1251 it reads as, not a refusal."""
    text = f"„ДПС“ и „БСП“\nПърви абзац.\nВ{sign}"
    raw = text.encode("cp1251")
    assert (decoded(raw).text, decoded(raw).encoding) == (normalise_text(text), "cp1251")


def test_an_input_of_more_lines_than_an_item_is_read_as_windows_1251_throughout() -> None:
    """Read line by line, a MiB of short lines took over a second; no news item has them."""
    head = "Заглавие на новината\n".encode()
    line = "Първи абзац на текста.\n".encode("cp1251")
    few = head + line * 3
    assert decoded(few).encoding == "utf-8+cp1251"  # read apart
    raw = head + line * decode_module.MAX_LINES_READ_APART
    assert decoded(raw) == Decoded(normalise_text(raw.decode("cp1251")), Envelope(), "cp1251")


def test_an_undefined_byte_and_a_c1_control_on_a_mixed_line_are_refused_at_their_byte() -> None:
    head = "Заглавие с текст\n".encode() + "Първи абзац.".encode("cp1251") + b"\n"
    line = "Иван Петров каза ".encode() + "„Не“".encode("cp1251")
    stray = rejected(head + line + b" \x98")
    assert stray.detail == f"neither UTF-8 nor Windows-1251 at byte {len(head + line) + 1}"
    c1 = rejected(head + line + b" \xc2\x85")
    assert c1.detail == f"C1 control character at byte {len(head + line) + 1}"


def test_a_line_of_windows_1251_in_utf8_with_an_undefined_byte_is_refused_at_it() -> None:
    raw = "Заглавие с текст\n".encode() + "Първи абзац ".encode("cp1251") + b"\x98 ."
    reject = rejected(raw)
    assert (reject.reason, reject.detail) == (
        RejectReason.NOT_TEXT,
        f"neither UTF-8 nor Windows-1251 at byte {raw.index(0x98)}",
    )


def test_a_c1_control_in_a_utf8_line_over_windows_1251_lines_is_refused() -> None:
    raw = "Заглавие с текст \u0085\n".encode() + "Първи абзац.".encode("cp1251")
    assert rejected(raw).reason is RejectReason.NOT_TEXT


# With one-letter words ("в", "с"), whose Windows-1251 byte may lead a UTF-8 character, and
# signs that Windows-1251 writes as bytes a UTF-8 character may continue with („“—№…).
_BULGARIAN_WORDS = (
    *("Заглавие", "София", "абзац", "текст", "съд", "ъгъл", "юли", "Явор", "БТА", "ОБНОВЕНА"),
    *("в", "с", "и", "С", "Р", "„Да“", "—", "№", "…", "/ИТ/"),
)


@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from((*_BULGARIAN_WORDS, "12.08.2025", "(БТА)", "-")), max_size=8),
            st.sampled_from(["utf-8", "cp1251"]),
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["\n", "\r\n"]),
)
def test_lines_each_in_utf8_or_windows_1251_decode_to_the_text(
    lines: list[tuple[list[str], str]], line_end: str
) -> None:
    """Whatever mix of UTF-8 and Windows-1251 lines an item holds, it reads as the text; but
    for one Windows-1251 letter at its very end ("в", 0xE2), which may as well be a UTF-8
    character a truncation cut (README)."""
    last_words, last_codec = lines[-1]
    assume(not (last_codec == "cp1251" and last_words and len(last_words[-1]) == 1))
    raw = line_end.encode().join(" ".join(words).encode(codec) for words, codec in lines)
    text = "\n".join(" ".join(words) for words, _ in lines)
    result = decode(raw)
    if not text.strip():
        assert isinstance(result, Reject)
        return
    assert isinstance(result, Decoded), result
    assert result.text == normalise_text(text)


def test_seed_in_windows_1251_with_crlf_decodes_to_the_utf8_text() -> None:
    raw = SEED_UPDATED.read_bytes()
    text = raw.decode("utf-8")
    as_1251 = text.replace("\n", "\r\n").encode("cp1251")
    assert decoded(as_1251).text == decoded(raw).text
    assert decoded(as_1251).encoding == "cp1251"


@pytest.mark.parametrize(
    "raw",
    [
        ITEM.replace("\n", "\r\n").encode(),
        ITEM.replace("\n", "\r").encode(),
        ("\n\n  " + ITEM.replace("\n", "  \t\n") + " \u00a0\n\n\n").encode(),
        ITEM.replace("\n", "\u00a0\r\n").encode(),
    ],
    ids=["crlf", "cr", "edges-and-trailing-blanks", "nbsp-crlf"],
)
def test_line_ends_and_blanks_are_normalised(raw: bytes) -> None:
    assert decoded(raw).text == ITEM


def test_inner_runs_of_blanks_become_one_space_and_blank_lines_are_kept() -> None:
    raw = "Заглавие\n\n\nСофия,\u00a0\u00a0 \t12.08.2025  10:00\n\n(БТА)".encode()
    assert decoded(raw).text == "Заглавие\n\n\nСофия, 12.08.2025 10:00\n\n(БТА)"


def test_text_is_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "Йотински")
    assert decomposed != "Йотински"
    assert decoded(decomposed.encode()).text == "Йотински"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", RejectReason.EMPTY),
        (b" \r\n\t \n", RejectReason.EMPTY),
        (b"\xef\xbb\xbf", RejectReason.EMPTY),
        ("\u00a0 \u00a0\n".encode(), RejectReason.EMPTY),
        (b"abc\x00def", RejectReason.NOT_TEXT),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", RejectReason.NOT_TEXT),
        (b"text with a bell \x07", RejectReason.NOT_TEXT),
        ("C1 control \u0085 here".encode(), RejectReason.NOT_TEXT),
        (b"\xff\xfe\x98\x98", RejectReason.NOT_TEXT),  # 0x98 is unassigned in cp1251
    ],
    ids=[
        "empty",
        "whitespace",
        "bom-only",
        "nbsp-only",
        "nul",
        "png",
        "bell",
        "c1-control",
        "neither-utf8-nor-cp1251",
    ],
)
def test_refusals(raw: bytes, reason: RejectReason) -> None:
    assert rejected(raw).reason is reason


def test_size_limit_is_inclusive() -> None:
    raw = ITEM.encode()
    assert isinstance(decode(raw, max_bytes=len(raw)), Decoded)
    reject = rejected(raw, max_bytes=len(raw) - 1)
    assert reject.reason is RejectReason.TOO_LARGE
    assert str(len(raw)) in reject.detail


def test_envelope_fields() -> None:
    raw = json.dumps(
        {
            "text": ITEM.replace("\n", "\r\n") + "  ",
            "source": "bta.bg",
            "url": "https://www.bta.bg/bg/news/world/1234567-putin-i-kim",
            "receivedAt": "2025-08-12T17:58:03Z",
        },
        ensure_ascii=False,
    ).encode()
    result = decoded(raw)
    assert result == Decoded(
        ITEM,
        Envelope(
            source="bta.bg",
            url="https://www.bta.bg/bg/news/world/1234567-putin-i-kim",
            received_at="2025-08-12T17:58:03Z",
        ),
        "json",
    )


def test_the_envelope_is_read_without_any_agency_s_knowledge() -> None:
    url = "https://www.bta.bg/bg/news/world/1234567-putin-i-kim"
    raw = json.dumps({"text": ITEM, "url": url}).encode()
    assert decoded(raw).envelope == Envelope(url=url)  # the article id is BTA's to read


def test_envelope_with_bom_inside_text_and_around_json() -> None:
    raw = b"\xef\xbb\xbf  " + json.dumps({"text": "\ufeff" + ITEM}).encode()
    assert decoded(raw).text == ITEM


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"text": "abc"', RejectReason.BAD_ENVELOPE),
        (b"{not json}", RejectReason.BAD_ENVELOPE),
        (b'{"source": "bta.bg"}', RejectReason.BAD_ENVELOPE),
        (b'{"text": 42}', RejectReason.BAD_ENVELOPE),
        (b'{"text": ["a", "b"]}', RejectReason.BAD_ENVELOPE),
        (b'{"text": "x", "source": 1}', RejectReason.BAD_ENVELOPE),
        (b'{"text": "x", "url": {"href": "y"}}', RejectReason.BAD_ENVELOPE),
        (b'{"text": "x", "receivedAt": 1749018600000}', RejectReason.BAD_ENVELOPE),
        (b'{"text": ""}', RejectReason.EMPTY),
        (b'{"text": " \\r\\n "}', RejectReason.EMPTY),
        (b'{"text": "a\\u0000b"}', RejectReason.NOT_TEXT),
        (b'{"text": "a\\u0007b"}', RejectReason.NOT_TEXT),
        (b'{"text": "\xcf\xf0"}', RejectReason.BAD_ENVELOPE),  # cp1251 bytes inside JSON
    ],
)
def test_envelope_refusals(value: bytes, reason: RejectReason) -> None:
    assert rejected(value).reason is reason


@pytest.mark.parametrize(
    "value", [b'["text"]', b" [1, 2]\n", b'"an item as a JSON string"', b"null", b"true", b"false"]
)
def test_json_of_another_kind_than_an_envelope_is_a_bad_envelope(value: bytes) -> None:
    reject = rejected(value)
    assert (reject.reason, reject.detail) == (
        RejectReason.BAD_ENVELOPE,
        "JSON value is not an object",
    )


@pytest.mark.parametrize(
    "text", ["[ВИДЕО] Заглавие", '"Цитат" в заглавието', "true story", "null и void", "[1, 2"]
)
def test_text_that_only_opens_like_json_is_text(text: str) -> None:
    assert decoded(text.encode()).text == text


def test_envelope_nulls_are_absent_fields() -> None:
    raw = b'{"text": "x", "source": null, "url": null, "receivedAt": null, "other": 5}'
    assert decoded(raw).envelope == Envelope()


def test_normalise_text_is_idempotent_on_the_seed() -> None:
    once = normalise_text(SEED_UPDATED.read_text(encoding="utf-8"))
    assert normalise_text(once) == once
    assert "\r" not in once
    assert all(line == line.strip() for line in once.split("\n"))


def test_utf8_cut_inside_its_last_character_stays_utf8() -> None:
    raw = SEED_UPDATED.read_bytes()
    cut = raw[: raw.rindex("ТАСС".encode()) + 1]  # ends in the middle of "Т" (two bytes)
    result = decode(cut)
    assert isinstance(result, Decoded)
    assert result.encoding == "utf-8"
    assert "Путин" in result.text


def _split_every_line(text: str) -> str:
    """The normalisation spelt out: every line through str.split(), which knows every space."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    return "\n".join(" ".join(line.split()) for line in text.split("\n")).strip("\n")


_PLAIN = ["a", "б", ".", " ", "  ", "\n"]
_ODD = ["\r", "\t", "\u00a0", "\u2028", "\x1f", "\x85", "\u200b", "е\u0301"]


@given(
    st.one_of(
        st.lists(st.sampled_from(_PLAIN), max_size=30),
        st.lists(st.sampled_from(_PLAIN + _ODD), max_size=30),
    ).map("".join)
)
@example("a  b")
@example("a \nb")
@example(" a")
@example("a\u00a0b")
def test_lines_left_as_they_are_are_the_ones_the_split_would_not_change(text: str) -> None:
    assert normalise_text(text) == _split_every_line(text)


# decode() trusts a UTF-8 body's bytes to say whether its text is NFC and which blanks it holds
# (Latin, Cyrillic and general punctuation skip the NFC check). These pin it to the spelt-out
# normalisation on the characters where that trust could go wrong.
_UTF8_ODD = [
    "\t", "\x0b", "\x0c", "\r", "\u00a0", "\u1680", "\u2000", "\u2001", "\u2009", "\u200b",
    "\u2028", "\u202f", "\u205f", "\u3000", "\u0301", "\u0483", "\u20d7", "\u2de0", "\u2126",
    "\u212b", "\u2329", "\u0344", "\u20e8", "е\u0301", "Й", "é", "°", "«", "„", "“", "–", "…",
]  # fmt: skip


@given(st.lists(st.sampled_from(_PLAIN + _UTF8_ODD), max_size=40).map("".join))
@example("a\u2000b")
@example("e\u0301 \u00a0x")
@example("\u212b\t\u3000")
@example("e\u20d7\u20e8")  # marks of classes 230 then 220: NFC reorders them
def test_utf8_bytes_decode_to_the_spelt_out_normalisation(text: str) -> None:
    result = decode(("x" + text).encode())
    assert isinstance(result, Decoded)
    assert (result.text, result.encoding) == (_split_every_line("x" + text), "utf-8")
    assert text_lines(result.text) == result.text.split("\n")


def test_every_character_up_to_u3400_decodes_to_the_spelt_out_normalisation() -> None:
    """Each character after a Latin and a Cyrillic letter, a space and an LF, and at line ends.

    Covers the lead bytes the fast path trusts (0xC2-0xCB, 0xD0, 0xD1, 0xE2) and those around.
    """
    refused = {*range(0x80, 0xA0), *range(0xD800, 0xE000)}  # C1 controls, surrogates
    for code in sorted(set(range(0x80, 0x3400)) - refused):
        char = chr(code)
        text = f"e{char}Е{char} {char}x\n{char}y{char}\n{char}"
        result = decode(text.encode())
        expected = _split_every_line(text)
        assert isinstance(result, Decoded), hex(code)
        assert result.text == expected, hex(code)


def test_text_lines_are_the_split_of_any_other_text() -> None:
    made = decoded(("Заглавие \n\n" + ITEM + "\n ").encode()).text
    other = "".join(made)  # equal, but another object
    assert text_lines(made) == made.split("\n")
    assert text_lines(other) == other.split("\n")
    assert text_lines("a\nb") == ["a", "b"]


def _nfc_fragile() -> set[int]:
    """Code points NFC may change, alone or next to others.

    Those it maps to something else, the combining marks (it reorders them), and the second
    halves of compositions.
    """
    second_halves = {*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)}  # Hangul jamo, by rule
    fragile = set()
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        mapping = unicodedata.decomposition(char).split()
        if len(mapping) == 2 and not mapping[0].startswith("<"):
            second_halves.add(int(mapping[1], 16))
        if unicodedata.combining(char) or unicodedata.normalize("NFC", char) != char:
            fragile.add(code)
    return fragile | second_halves


def test_the_bytes_trusted_to_show_nfc_text_only_stand_for_characters_nfc_keeps() -> None:
    """A character whose UTF-8 lets decode() skip the NFC check is one NFC leaves alone.

    Wherever it stands; and no blank but TAB, VT, FF and NBSP (decode() replaces those) is one.
    """
    fragile = _nfc_fragile()
    trusted = []
    for code in range(0x80, sys.maxunicode + 1):
        if 0xD800 <= code < 0xE000 or 0x80 <= code < 0xA0:  # surrogates; C1 controls, refused
            continue
        utf8 = chr(code).encode()
        notable = utf8.translate(None, _QUIET_BYTES)
        if notable.translate(None, _FAMILIAR_BYTES) or _UTF8_E2_NOTABLE.match(utf8):
            continue  # decode() runs the NFC check on such text
        trusted.append(code)
    assert trusted
    assert not fragile.intersection(trusted)
    assert not {code for code in trusted if chr(code).isspace()} - {0xA0}
