"""workers.core.formats: which format an input is, by content or by override, and envelopes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fixtures import FORMATS_DIR, FORMATS_RECEIVED_AT, IPTC_DIR, SEED_UPDATED
from workers.core.formats import DETECTED, FORMATS, parse_input, received_time
from workers.core.model import Envelope, WireItem
from workers.core.rejects import Reject, RejectReason

SAMPLES = {
    "bta": SEED_UPDATED,
    "newsml-g2": FORMATS_DIR / "newsml-g2" / "harbour-bridge-v1.xml",
    "ninjs": FORMATS_DIR / "ninjs" / "ferry-strike-1x-v1.json",
    "iptc7901": FORMATS_DIR / "iptc7901" / "01-original.txt",
    "anpa1312": FORMATS_DIR / "anpa1312" / "01-original.txt",
}


def items(result: tuple[WireItem, ...] | Reject) -> tuple[WireItem, ...]:
    assert isinstance(result, tuple), result
    return result


@pytest.mark.parametrize(("name", "path"), SAMPLES.items())
def test_each_format_is_detected_by_its_content(name: str, path: Path) -> None:
    assert set(SAMPLES) == set(FORMATS)
    raw = path.read_bytes()
    [item] = items(parse_input(raw, received_at=FORMATS_RECEIVED_AT))
    assert item.wire_format == (None if name == "bta" else name)
    claimed = [f.NAME for f in DETECTED if f.detect(raw)]
    assert claimed == ([] if name == "bta" else [name])  # no other format claims it


def test_iptc_samples_are_detected_too() -> None:
    for path in sorted(IPTC_DIR.glob("*.xml")):
        assert items(parse_input(path.read_bytes()))[0].wire_format == "newsml-g2"
    for path in sorted(IPTC_DIR.glob("*.json")):
        assert items(parse_input(path.read_bytes()))[0].wire_format == "ninjs"


def test_a_hint_overrides_detection() -> None:
    raw = SAMPLES["iptc7901"].read_bytes()
    assert items(parse_input(raw, received_at=FORMATS_RECEIVED_AT, hint="iptc7901"))
    forced = parse_input(raw, received_at=FORMATS_RECEIVED_AT, hint="anpa1312")
    assert isinstance(forced, Reject)  # read as ANPA, the 7901 framing does not hold
    unknown = parse_input(raw, hint="telex")
    assert isinstance(unknown, Reject)
    assert unknown.reason is RejectReason.UNKNOWN_FORMAT
    assert "'telex'" in unknown.detail
    assert "iptc7901" in unknown.detail  # names the known ones


def _envelope(text: str, **fields: str) -> bytes:
    return orjson.dumps({"text": text, **fields})


def test_an_envelope_carries_an_item_of_any_format_and_its_fields_travel_with_it() -> None:
    text = SAMPLES["anpa1312"].read_bytes().decode("ascii")
    raw = _envelope(text, source="ap-feed", url="https://ap.example/x", receivedAt="2026-11-20")
    [item] = items(parse_input(raw))  # no Kafka time: the envelope's receivedAt gives the year
    assert item.wire_format == "anpa1312"
    assert item.first_created.year == 2026
    assert item.envelope == Envelope("ap-feed", "https://ap.example/x", "2026-11-20")
    # The envelope's receive time wins over the Kafka timestamp.
    later = datetime(2031, 11, 20, tzinfo=UTC)
    [again] = items(parse_input(raw, received_at=later))
    assert again.first_created == item.first_created


def test_an_envelope_s_format_field_names_the_format() -> None:
    text = SAMPLES["iptc7901"].read_bytes().decode("latin-1")
    [item] = items(parse_input(_envelope(text, format="iptc7901", receivedAt="2026-11-20")))
    assert item.wire_format == "iptc7901"
    bad = parse_input(_envelope(text, format="telex"))
    assert isinstance(bad, Reject)
    assert bad.reason is RejectReason.UNKNOWN_FORMAT
    wrong_type = parse_input(orjson.dumps({"text": text, "format": 7901}))
    assert isinstance(wrong_type, Reject)
    assert wrong_type.reason is RejectReason.BAD_ENVELOPE


def test_a_bta_envelope_stays_bta_with_or_without_a_format_field() -> None:
    text = SEED_UPDATED.read_text("utf-8")
    url = "https://www.bta.bg/bg/news/world/1234567-putin"
    plain = items(parse_input(_envelope(text, url=url)))
    named = items(parse_input(_envelope(text, url=url, format="bta")))
    assert plain == named
    assert plain[0].wire_format is None
    assert plain[0].provider_id == "1234567"
    # The envelope's format wins over a wire-format header of another format.
    for hint in ("ninjs", "newsml-g2", "iptc7901"):
        assert items(parse_input(_envelope(text, url=url, format="bta"), hint=hint)) == plain


def test_a_newsmessage_gives_one_item_per_news_item() -> None:
    raw = (FORMATS_DIR / "newsml-g2" / "message-two-items.xml").read_bytes()
    assert len(items(parse_input(raw))) == 2


def test_size_is_checked_before_any_format() -> None:
    raw = SAMPLES["newsml-g2"].read_bytes()
    too_large = parse_input(raw, max_bytes=len(raw) - 1)
    assert isinstance(too_large, Reject)
    assert too_large.reason is RejectReason.TOO_LARGE


@settings(max_examples=300, deadline=None)
@given(
    raw=st.one_of(
        st.binary(max_size=2048),
        st.sampled_from([p.read_bytes() for p in SAMPLES.values()]).flatmap(
            lambda data: st.integers(0, len(data)).map(lambda cut: data[:cut])
        ),
        st.builds(
            lambda text, fmt: orjson.dumps({"text": text, "format": fmt}),
            st.text(max_size=300),
            st.sampled_from([*FORMATS, "x"]),
        ),
    ),
    hint=st.one_of(st.none(), st.sampled_from([*FORMATS, "x"])),
)
def test_any_bytes_give_items_or_a_reject_never_an_error(raw: bytes, hint: str | None) -> None:
    result = parse_input(raw, received_at=FORMATS_RECEIVED_AT, hint=hint)
    if isinstance(result, Reject):
        assert isinstance(result.reason, RejectReason)
    else:
        assert result
        assert all(isinstance(item, WireItem) for item in result)


def test_a_header_hint_reads_the_text_of_an_envelope() -> None:
    text = SAMPLES["ninjs"].read_text("utf-8")
    raw = _envelope(text, source="northwind", receivedAt="2026-11-20T08:00:00Z")
    for hint in ("ninjs", None):
        [item] = items(parse_input(raw, hint=hint))
        assert item.wire_format == "ninjs"
        assert item.envelope.source == "northwind"


def test_a_receive_time_before_1900_is_not_believed() -> None:
    text = SAMPLES["anpa1312"].read_bytes().decode("ascii")
    raw = _envelope(text, receivedAt="0099-11-20T08:00:00Z")
    [item] = items(parse_input(raw, received_at=FORMATS_RECEIVED_AT))
    assert item.first_created.year == FORMATS_RECEIVED_AT.year  # the Kafka time's year


def test_a_news_message_skips_its_pictures_and_keeps_its_text() -> None:
    raw = (FORMATS_DIR / "newsml-g2" / "message-two-items.xml").read_text("utf-8")
    marker = '<itemClass qcode="ninat:text"'
    assert raw.count(marker) == 2, "the fixture's items say they are text"
    with_picture = raw.replace(marker, '<itemClass qcode="ninat:picture"', 1)
    [item] = items(parse_input(with_picture.encode()))
    assert item.wire_format == "newsml-g2"
    only_pictures = raw.replace(marker, '<itemClass qcode="ninat:picture"')
    refused = parse_input(only_pictures.encode())
    assert isinstance(refused, Reject)
    assert refused.reason is RejectReason.NO_BODY


def test_every_leading_byte_order_mark_is_dropped() -> None:
    """A feed that re-encodes an item may add a second BOM: same headline, same content."""
    raw = SEED_UPDATED.read_bytes()
    once = items(parse_input(b"\xef\xbb\xbf" + raw))
    assert items(parse_input(b"\xef\xbb\xbf" * 2 + raw)) == once == items(parse_input(raw))
    enveloped = orjson.dumps({"text": "\ufeff\ufeff" + raw.decode()})
    assert items(parse_input(enveloped))[0].headline == once[0].headline


@pytest.mark.parametrize("blank", ["\u200b", "\u2060", "\u0301", "***", "\u00ad"])
def test_a_headline_without_a_letter_or_digit_is_no_headline(blank: str) -> None:
    bta_item = f"{blank}\nСофия, 12.08.2025 20:57 (БТА)\nТекстът на новината.\n".encode()
    ninjs_item = orjson.dumps(
        {"uri": "urn:x:1", "versionCreated": "2026-01-01T10:00:00Z", "headline": blank}
    )
    for raw in (bta_item, ninjs_item):
        got = parse_input(raw)
        assert isinstance(got, Reject), got
        assert got.reason is RejectReason.NO_HEADLINE


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_leading_byte_order_mark_is_dropped_with_a_format_hint_too(name: str) -> None:
    """A replay of a dead letter sends its ``wire-format`` header again: what detection read
    must read the same with the hint."""
    raw = SAMPLES[name].read_bytes()
    doubled = b"\xef\xbb\xbf" * 2 + raw
    detected = items(parse_input(doubled, received_at=FORMATS_RECEIVED_AT))
    assert items(parse_input(doubled, received_at=FORMATS_RECEIVED_AT, hint=name)) == detected


@pytest.mark.parametrize("blank", ["\u200b", "\ufeff\u200d", "\u0301", "\u00ad", "\u034f"])
def test_a_paragraph_a_reader_cannot_see_is_dropped(blank: str) -> None:
    """Only format characters or a lone combining mark: a BTA item left without a body is
    refused; a ninjs item (which may be a flash) keeps its visible paragraphs."""
    bta_item = f"Заглавие\nСофия, 12.08.2025 20:57 (БТА)\n{blank}\n".encode()
    got = parse_input(bta_item)
    assert isinstance(got, Reject), got
    assert (got.reason, got.detail) == (RejectReason.NO_BODY, "no body paragraph a reader can see")
    ninjs_item = {"uri": "urn:x:1", "versionCreated": "2026-01-01T10:00:00Z", "headline": "H"}
    flash = items(parse_input(orjson.dumps({**ninjs_item, "body_text": blank})))
    assert flash[0].paragraphs == ()
    kept = items(parse_input(orjson.dumps({**ninjs_item, "body_text": f"One.\n\n{blank}\n\nTwo."})))
    assert kept[0].paragraphs == ("One.", "Two.")


@pytest.mark.parametrize(
    "visible", ["***", "—", "\u00adсофт", "а\u0301", "\U0001fae8", "\uf8ff", "\u093e"]
)
def test_a_paragraph_of_signs_or_with_a_hidden_character_stays(visible: str) -> None:
    """Signs are the writer's ("***" between sections); a letter after a soft hyphen is
    seen, and a combining mark sits on the letter before it. So are an emoji newer than
    this Python's Unicode tables, a private-use character and a spacing vowel sign."""
    text = f"Заглавие\nСофия, 12.08.2025 20:57 (БТА)\nТекст.\n{visible}\n".encode()
    assert items(parse_input(text))[0].paragraphs == ("Текст.", visible)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_utf16_with_a_byte_order_mark_reads_as_the_item_in_utf8(name: str, codec: str) -> None:
    """A Windows tool saves "Unicode" text as UTF-16 with a byte order mark, and XML may be
    UTF-16 by its declaration: the same items as the UTF-8 bytes, detected or hinted."""
    raw = SAMPLES[name].read_bytes()
    # IPTC 7901 and ANPA 1312 bytes that are not UTF-8 are Windows-1252, as their parsers read.
    text = raw.decode("utf-8" if name not in {"iptc7901", "anpa1312"} else "cp1252")
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    expected = items(parse_input(raw, received_at=FORMATS_RECEIVED_AT))
    for marks in ("\ufeff", "\ufeff\ufeff"):  # a second mark, read as a character
        utf16 = (marks + text).encode(codec)
        assert items(parse_input(utf16, received_at=FORMATS_RECEIVED_AT)) == expected
        assert items(parse_input(utf16, received_at=FORMATS_RECEIVED_AT, hint=name)) == expected


def test_a_refusal_of_utf16_says_its_byte_counts_the_utf8_read() -> None:
    text = "Заглавие\nСофия, 12.08.2025 20:57 (БТА)\nТекст\x01 на новината.\n"
    refused = parse_input("\ufeff".encode("utf-16-le") + text.encode("utf-16-le"))
    assert isinstance(refused, Reject), refused
    at = len(text[: text.index("\x01")].encode())
    assert refused.detail == (
        f"control character 0x01 at byte {at} of the UTF-16 item read as UTF-8"
    )


_UTF16_WITHOUT_A_MARK = "(UTF-16 without a byte order mark?)"


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"\xff\xfe" + "Заглавие".encode("utf-16-le") + b"\x00", "invalid UTF-16 at byte 18"),
        (b"\xfe\xff\x00A\xdc\x00\x00B", "invalid UTF-16 at byte 4"),
        ("Заглавие\n".encode("utf-16-le"), f"contains NUL bytes {_UTF16_WITHOUT_A_MARK}"),
        (SEED_UPDATED.read_bytes()[:99] + b"\x00", "contains NUL bytes"),
    ],
    ids=["odd-length", "lone-surrogate", "no-bom", "a-nul-in-utf8"],
)
def test_utf16_that_cannot_be_read_is_not_text(raw: bytes, detail: str) -> None:
    refused = parse_input(raw)
    assert isinstance(refused, Reject), refused
    assert (refused.reason, refused.detail) == (RejectReason.NOT_TEXT, detail)


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"uri": 12345, "headline": "Заглавие"}, "its 'uri' must be a string"),
        ({"uri": None, "versionCreated": "2026-01-01T10:00:00Z"}, "its 'uri' must be a string"),
        ({"headline": "Заглавие", "body_text": "Текст."}, "it has no 'uri'"),
    ],
)
def test_a_ninjs_item_without_a_string_uri_is_refused_for_that(
    doc: dict[str, object], why: str
) -> None:
    """Not claimed by ninjs, it fell to BTA's envelope reader: "envelope field 'text' must be
    a string" sent whoever triages the dead letter after the wrong field."""
    refused = parse_input(orjson.dumps(doc))
    assert isinstance(refused, Reject), refused
    assert refused.reason is RejectReason.BAD_ENVELOPE
    assert refused.detail == f"a JSON object with ninjs item fields but no ninjs item: {why}"


def test_a_json_object_of_neither_kind_is_refused_as_no_envelope() -> None:
    refused = parse_input(orjson.dumps({"id": 7, "title": "Заглавие"}))
    assert isinstance(refused, Reject), refused
    assert refused.detail == "envelope field 'text' must be a string"


def test_a_receive_time_with_a_lower_case_z_is_believed() -> None:
    assert received_time("2026-01-01t10:00:00z") == datetime(2026, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("name", ["iptc7901", "anpa1312"])
@pytest.mark.parametrize("breaks", [b"\r\n", b"\n", b"\r\n\r\n"])
def test_a_framed_message_with_a_line_break_after_its_soh_is_detected(
    name: str, breaks: bytes
) -> None:
    """Some transmitters break the line after SOH: the message was BTA text, refused for
    its control character (not_text) instead of read."""
    raw = SAMPLES[name].read_bytes()
    after_soh = raw.index(b"\x01") + 1
    broken = raw[:after_soh] + breaks + raw[after_soh:]
    expected = items(parse_input(raw, received_at=FORMATS_RECEIVED_AT))
    assert items(parse_input(broken, received_at=FORMATS_RECEIVED_AT)) == expected
