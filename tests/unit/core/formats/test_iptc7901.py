"""workers.core.formats.iptc7901: the dpa-style fixtures pinned field by field, and no input
makes detect or parse raise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fixtures import FIXTURES_DIR
from tests.unit.core.formats.framed import RECEIVE_TIMES, checker, mangled
from workers.core.formats import anpa1312, iptc7901, parse_input
from workers.core.formats.iptc7901 import NAME, detect, parse
from workers.core.model import StoryLink, WireItem
from workers.core.rejects import Reject, RejectReason

HERE = FIXTURES_DIR / "formats" / "iptc7901"
ANPA = FIXTURES_DIR / "formats" / "anpa1312"
RECEIVED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 13, tzinfo=UTC)
LINK = StoryLink("dpa|switzerland/weather/rail|2026-11-13", DAY)
SLUG = "Switzerland/weather/rail"

GOOD = ("01-original.txt", "02-1st-lead.txt", "03-2nd-lead-refile.txt", "04-kill.txt")
BROKEN = {
    "10-no-etx.txt": "no ETX after the text (truncated message?)",
    "11-no-stx.txt": "no STX after the header",
    "12-truncated-header.txt": "no STX after the header",
}


def raw(name: str) -> bytes:
    return (HERE / name).read_bytes()


def item(name: str, received: datetime | None = RECEIVED) -> WireItem:
    parsed = parse(raw(name), received)
    assert isinstance(parsed, tuple), parsed
    [one] = parsed
    return one


def rejected(data: bytes, received: datetime | None = RECEIVED) -> Reject:
    parsed = parse(data, received)
    assert isinstance(parsed, Reject), parsed
    return parsed


def test_original() -> None:
    assert item("01-original.txt") == WireItem(
        provider="dpa",
        headline="Landslide blocks rail line south of Zürich",
        is_update=False,
        first_created=datetime(2026, 11, 13, 8, 12, tzinfo=UTC),
        updated=None,
        paragraphs=(
            "A landslide buried a stretch of railway track in central Switzerland on Friday, "
            "cutting the main north-south rail link for several hours, the federal railway "
            "operator said.",
            "No trains were on the line when the slope gave way shortly after dawn, a "
            "spokeswoman said. Passengers were being taken on by bus.",
        ),
        places=("Zürich",),
        agency="dpa",
        wire_format=NAME,
        link=LINK,
        pub_status="usable",
        slugline=SLUG,
    )


def test_first_lead() -> None:
    assert item("02-1st-lead.txt") == WireItem(
        provider="dpa",
        headline="Landslide cuts Swiss rail link, hundreds of travellers stranded",
        is_update=True,
        first_created=datetime(2026, 11, 13, 10, 25, tzinfo=UTC),
        updated=None,
        paragraphs=(
            "A landslide buried a stretch of railway track in central Switzerland on Friday, "
            "cutting the main north-south rail link for most of the day, the federal railway "
            "operator said.",
            "Some 600 passengers were stuck in two stations for several hours before "
            "replacement buses arrived, a spokeswoman said.",
            "Engineers expected to reopen one track by the evening.",
        ),
        authors=("Lena Hofer",),
        places=("Zürich",),
        agency="dpa",
        wire_format=NAME,
        link=LINK,
        pub_status="usable",
        slugline=SLUG,
        ed_note=(
            "Notebook\nNote to editors\n"
            "- adds stranded passengers in paragraph 2, reopening in paragraph 3"
        ),
        take="1ST LEAD",
    )


def test_second_lead_refiled() -> None:
    assert item("03-2nd-lead-refile.txt") == WireItem(
        provider="dpa",
        headline="Swiss rail link reopens after landslide",
        is_update=True,
        first_created=datetime(2026, 11, 13, 11, 37, tzinfo=UTC),
        updated=None,
        paragraphs=(
            "One track of the main north-south rail link through central Switzerland reopened "
            "on Friday, hours after a landslide buried the line, the federal railway operator "
            "said.",
            "Some 600 passengers had been stuck in two stations before replacement buses arrived.",
        ),
        places=("Zürich",),
        agency="dpa",
        wire_format=NAME,
        link=LINK,
        pub_status="usable",
        slugline=SLUG,
        ed_note=(
            "The following information is not intended for publication\n"
            "Refiled to correct the number of stations in paragraph 2."
        ),
        take="REFILE 2ND LEAD",
    )


def test_kill_is_a_canceled_update_of_the_same_story() -> None:
    assert item("04-kill.txt") == WireItem(
        provider="dpa",
        headline="KILL: Swiss rail landslide story",
        is_update=True,
        first_created=datetime(2026, 11, 13, 14, 2, tzinfo=UTC),
        updated=None,
        paragraphs=(
            "The story slugged Switzerland/weather/rail/ sent at 1137 GMT is withdrawn. It gave "
            "the wrong number of stranded passengers. Do not use it. A new version follows.",
        ),
        agency="dpa",
        wire_format=NAME,
        link=LINK,
        pub_status="canceled",
        slugline=SLUG,
        take="KILL",
    )
    assert item("04-kill.txt").withdrawn


def test_year_end_item_received_on_new_year_is_last_years() -> None:
    got = item("05-year-end.txt", datetime(2027, 1, 1, 0, 5, tzinfo=UTC))
    day = datetime(2026, 12, 31, tzinfo=UTC)
    assert got == WireItem(
        provider="dpa",
        headline="Berlin opens New Year fireworks zone by the river",
        is_update=False,
        first_created=datetime(2026, 12, 31, 19, 50, tzinfo=UTC),
        updated=None,
        paragraphs=(
            "Berlin opened a fenced fireworks zone along the river on New Year's Eve, with "
            "police checking bags at six entrances.",
        ),
        places=("Berlin",),
        agency="dpa",
        wire_format=NAME,
        link=StoryLink("dpa|germany/new year/fireworks|2026-12-31", day),
        pub_status="usable",
        slugline="Germany/New Year/fireworks",
    )


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (datetime(2026, 11, 20, 9, 0, tzinfo=UTC), datetime(2026, 11, 13, 8, 12, tzinfo=UTC)),
        (datetime(2027, 1, 5, tzinfo=UTC), datetime(2026, 11, 13, 8, 12, tzinfo=UTC)),
        (datetime(2026, 2, 1, tzinfo=UTC), datetime(2025, 11, 13, 8, 12, tzinfo=UTC)),
        # Another zone is the same instant: 13 Nov 2026 06:00 in New York is 11:00 UTC.
        (
            datetime(2026, 11, 13, 6, 0, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2026, 11, 13, 8, 12, tzinfo=UTC),
        ),
    ],
)
def test_a_trailer_without_year_takes_the_year_nearest_the_receive_time(
    received: datetime, expected: datetime
) -> None:
    assert item("01-original.txt", received).first_created == expected


def test_year_end_received_the_same_evening_stays_in_that_year() -> None:
    got = item("05-year-end.txt", datetime(2026, 12, 31, 20, 0, tzinfo=UTC))
    assert got.first_created == datetime(2026, 12, 31, 19, 50, tzinfo=UTC)


def test_a_trailer_with_a_two_digit_year_ignores_the_receive_time() -> None:
    # The number after the month is the year: "131025 GMT Nov 26" is 13 November 2026.
    for received in (None, datetime(2031, 6, 1, tzinfo=UTC)):
        got = item("02-1st-lead.txt", received)
        assert got.first_created == datetime(2026, 11, 13, 10, 25, tzinfo=UTC)


def test_the_number_after_the_month_is_a_year_not_a_day() -> None:
    data = raw("02-1st-lead.txt").replace(b"131025 GMT Nov 26", b"131137 GMT Nov 13")
    assert item_of(data, None).first_created == datetime(2013, 11, 13, 11, 37, tzinfo=UTC)


def test_a_trailer_without_month_takes_the_nearest_month() -> None:
    data = raw("05-year-end.txt").replace(b"311950 GMT Dec", b"311950 GMT")
    got = item_of(data, datetime(2027, 1, 1, 0, 5, tzinfo=UTC))
    assert got.first_created == datetime(2026, 12, 31, 19, 50, tzinfo=UTC)


def test_no_year_and_no_receive_time_is_no_timestamp() -> None:
    assert rejected(raw("01-original.txt"), None) == Reject(
        RejectReason.NO_TIMESTAMP, "the trailer gives no year and no receive time was given"
    )


def test_no_trailer_is_no_timestamp() -> None:
    data = raw("01-original.txt").replace(b"130812 GMT Nov", b"")
    got = rejected(data)
    assert got.reason is RejectReason.NO_TIMESTAMP
    assert "no trailer time" in got.detail


@pytest.mark.parametrize(
    "trailer",
    [
        b"321137 GMT Nov 26",
        b"132537 GMT Nov 26",
        b"131137 GMT Foo 26",
        b"310812 GMT Nov",
        b"131025 GMT Nov 0001",  # years outside 1900-9000: typos, and year 1 overflows later
        b"131025 GMT Nov 9999",
    ],
)
def test_an_impossible_trailer_time_is_bad_timestamp(trailer: bytes) -> None:
    data = raw("02-1st-lead.txt").replace(b"131025 GMT Nov 26", trailer)
    assert rejected(data).reason is RejectReason.BAD_TIMESTAMP


def test_a_receive_time_at_the_end_of_time_is_bad_timestamp() -> None:
    received = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    assert rejected(raw("01-original.txt"), received).reason is RejectReason.BAD_TIMESTAMP


def test_a_trailer_before_etx_is_read_too() -> None:
    data = raw("01-original.txt").replace(b"\x03130812 GMT Nov", b"130812 GMT Nov\r\n\x03")
    assert item_of(data, RECEIVED) == item("01-original.txt")


def test_original_leads_and_kill_share_one_link() -> None:
    links = {item(name).link for name in GOOD}
    assert links == {LINK}
    assert LINK.since == DAY


def item_of(data: bytes, received: datetime | None) -> WireItem:
    parsed = parse(data, received)
    assert isinstance(parsed, tuple), parsed
    return parsed[0]


def test_take_key_on_the_keyword_line_is_split_off() -> None:
    data = raw("02-1st-lead.txt").replace(
        b"Switzerland/weather/rail/\r\n1ST LEAD\r\n", b"Switzerland/weather/rail/ 1ST LEAD\r\n"
    )
    assert item_of(data, RECEIVED) == item("02-1st-lead.txt")


def test_control_bytes_inside_the_text_are_dropped() -> None:
    data = raw("01-original.txt").replace(b"landslide", b"land\x07slide\x1b\x7f", 1)
    assert item_of(data, RECEIVED) == item("01-original.txt")


def test_a_windows_1252_text_keeps_its_dashes_quotes_and_euro_signs() -> None:
    """Not UTF-8, so ISO 8859-1 as Windows writes it: "–" (0x96), "„" (0x84), "“" (0x93) and
    "€" (0x80) are signs, not C1 controls to drop ("10–12" is no "1012"); the five bytes
    Windows-1252 leaves unassigned are controls still, and dropped."""
    said = "the federal railway operator said."
    fixed = "the \u201eoperator\u201c said: trains from 10\u201312, fares 5 \u20ac."
    data = raw("01-original.txt").replace(
        b"the federal railway operator said.", fixed.encode("cp1252")
    )
    data = data.replace(b"landslide", b"land\x81slide\x9d", 1)
    paragraphs = item("01-original.txt").paragraphs
    assert paragraphs[0].endswith(said)
    assert item_of(data, RECEIVED).paragraphs == (
        paragraphs[0].removesuffix(said) + fixed,
        *paragraphs[1:],
    )


@pytest.mark.parametrize(
    "hashtag",
    [
        "#MeToo activists marched on the station in the afternoon.",
        "#Wimbledon",
        "#1",
        "#JeSuisCharlie,",
    ],
)
def test_a_paragraph_that_opens_with_a_hashtag_is_a_paragraph_not_the_notes(
    hashtag: str,
) -> None:
    """Notes open with a heading ("# Notebook", "## Note to editors"); a hashtag, with words
    after it or alone, is text, and the story goes on after it."""
    data = raw("01-original.txt").replace(
        b"\r\n\r\nNo trains", f"\r\n\r\n{hashtag}\r\n\r\nNo trains".encode(), 1
    )
    original = item("01-original.txt")
    parsed = item_of(data, RECEIVED)
    assert parsed.paragraphs == (original.paragraphs[0], hashtag, *original.paragraphs[1:])
    assert parsed.ed_note == original.ed_note


@pytest.mark.parametrize(
    ("heading", "heading_as_sent"),
    [
        (b"# Notebook", b"# Notebook"),
        (b"# Notebook", b"#Notebook"),
        (b"# Notebook", b"#Notizblock"),
        # The first heading gone, the second opens the notes: two marks, words after them.
        (b"# Notebook\r\n\r\n## Note to editors", b"##Notebook\r\nNote to editors"),
    ],
)
def test_a_notes_heading_opens_the_notes_with_or_without_a_blank(
    heading: bytes, heading_as_sent: bytes
) -> None:
    lead = raw("02-1st-lead.txt")
    assert heading in lead
    expected = item("02-1st-lead.txt")
    assert expected.ed_note
    parsed = item_of(lead.replace(heading, heading_as_sent, 1), RECEIVED)
    assert parsed.paragraphs == expected.paragraphs
    assert parsed.ed_note is not None  # the heading's name first, then the same notes
    assert parsed.ed_note.split("\n")[1:] == expected.ed_note.split("\n")[1:]


def test_without_a_dateline_the_header_names_the_agency() -> None:
    data = raw("01-original.txt").replace(b"Z\xfcrich (dpa) - ", b"")
    got = item_of(data, RECEIVED)
    assert (got.provider, got.agency, got.places) == ("dpa", "dpa", ())
    assert got.paragraphs[0].startswith("A landslide buried")


def test_without_any_agency_the_provider_is_the_format() -> None:
    data = (
        raw("01-original.txt")
        .replace(b"  dpa 0809", b"")
        .replace(b" (dpa) -", b" -")
        .replace(b"\r\ndpa lh ks", b"")
    )
    got = item_of(data, RECEIVED)
    assert (got.provider, got.agency) == (NAME, None)
    assert got.link == StoryLink(f"{NAME}|switzerland/weather/rail|2026-11-13", DAY)


@pytest.mark.parametrize(("name", "detail"), sorted(BROKEN.items()))
def test_broken_framing_is_detected_and_rejected(name: str, detail: str) -> None:
    assert detect(raw(name))
    assert rejected(raw(name)) == Reject(RejectReason.BAD_FRAMING, detail)


def test_garbage_after_a_header_start_is_bad_framing() -> None:
    assert detect(raw("13-garbage.txt"))
    got = rejected(raw("13-garbage.txt"))
    assert got.reason is RejectReason.BAD_FRAMING
    assert "\n" not in got.detail


def test_etx_before_stx_is_bad_framing() -> None:
    data = raw("01-original.txt").replace(b"\x02", b"\x03\x02", 1)
    assert rejected(data).reason is RejectReason.BAD_FRAMING


def test_text_without_framing_is_not_7901() -> None:
    plain = raw("20-no-framing.txt")
    assert not detect(plain)
    assert not anpa1312.detect(plain)
    assert rejected(plain) == Reject(RejectReason.BAD_FRAMING, "no SOH at the start of the message")


def test_7901_and_anpa_never_claim_the_same_fixture() -> None:
    for path in sorted(HERE.glob("*.txt")):
        assert not anpa1312.detect(path.read_bytes()), path.name
    for path in sorted(ANPA.glob("*.txt")):
        assert not detect(path.read_bytes()), path.name


@pytest.mark.parametrize("data", [b"", b"  \r\n", b"\x16\x16"])
def test_nothing_is_empty(data: bytes) -> None:
    assert rejected(data).reason is RejectReason.EMPTY


def test_a_header_of_another_shape_is_bad_framing() -> None:
    data = raw("01-original.txt").replace(b"dpa0412 4 vm 182", b"dpa0412 four vm")
    got = rejected(data)
    assert got.reason is RejectReason.BAD_FRAMING
    assert got.detail.startswith("header 'dpa0412 four vm")


def test_no_headline_and_no_body() -> None:
    data = raw("01-original.txt")
    no_headline = data.replace(
        b"Landslide blocks rail line south of Z\xfcrich =", b"By Lena Hofer ="
    )
    assert rejected(no_headline).reason is RejectReason.NO_HEADLINE
    stx, etx = data.index(b"\x02"), data.index(b"\x03")
    headline_only = data[: stx + 1] + b"Landslide blocks rail line =\r\n" + data[etx:]
    assert rejected(headline_only).reason is RejectReason.NO_BODY


def test_the_registry_reads_the_fixtures_as_7901() -> None:
    assert parse_input(raw("02-1st-lead.txt"), received_at=RECEIVED) == (item("02-1st-lead.txt"),)
    hinted = parse_input(raw("01-original.txt"), received_at=RECEIVED, hint=iptc7901.NAME)
    assert hinted == (item("01-original.txt"),)


# Hypothesis: no input makes detect or parse raise, and every item keeps the invariants.

check = checker(NAME)


@given(st.binary(max_size=600), RECEIVE_TIMES)
def test_arbitrary_bytes_never_raise(data: bytes, received: datetime | None) -> None:
    assert isinstance(detect(data), bool)
    check(parse(data, received))


@given(st.binary(max_size=300), RECEIVE_TIMES)
def test_arbitrary_bytes_after_a_header_never_raise(data: bytes, received: datetime | None) -> None:
    framed = b"\x01dpa0001 4 vm 100  dpa 0000\r\nKeyword/\r\n\x02" + data
    assert detect(framed)
    check(parse(framed, received))
    check(parse(framed + b"\x03131137 GMT Nov\r\n\x04", received))


@given(mangled(HERE), RECEIVE_TIMES)
def test_mangled_fixtures_never_raise(data: bytes, received: datetime | None) -> None:
    assert isinstance(detect(data), bool)
    check(parse(data, received))


def test_a_paragraph_a_reader_cannot_see_hides_no_dateline() -> None:
    """A soft hyphen alone above the dateline: the dateline is still read off the first
    paragraph a reader sees."""
    data = raw("01-original.txt").replace(b"\r\n\r\nZ", b"\r\n\r\n\xad\r\n\r\nZ", 1)
    assert item_of(data, RECEIVED).places == item("01-original.txt").places
    assert item("01-original.txt").places != ()
