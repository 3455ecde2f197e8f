"""workers.core.formats.anpa1312: the AP-style fixtures pinned field by field, and no input
makes detect or parse raise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fixtures import FIXTURES_DIR
from tests.unit.core.formats.framed import RECEIVE_TIMES, checker, mangled
from workers.core.formats import anpa1312, iptc7901, parse_input
from workers.core.formats.anpa1312 import NAME, detect, parse
from workers.core.model import StoryLink, WireItem
from workers.core.rejects import Reject, RejectReason

HERE = FIXTURES_DIR / "formats" / "anpa1312"
IPTC = FIXTURES_DIR / "formats" / "iptc7901"
RECEIVED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 13, tzinfo=UTC)
LINK = StoryLink("ap|hurricane-damage|2026-11-13", DAY)
SLUG = "Hurricane-Damage"

GOOD = ("01-original.txt", "02-1stld-writethru.txt", "03-2ndld-writethru.txt", "04-kill.txt")
BROKEN = {
    "10-no-etx.txt": "no ETX after the text (truncated message?)",
    "11-no-stx.txt": "no STX after the header",
    "12-truncated-header.txt": "no STX after the header",
}
HEADER = b"\x16\x16\x01a0500\x1fap-wf\r\nr a\x13\x11 BC-Test-Story  11-13 0100\r\n"


def raw(name: str) -> bytes:
    return (HERE / name).read_bytes()


def item(name: str, received: datetime | None = RECEIVED) -> WireItem:
    return item_of(raw(name), received)


def item_of(data: bytes, received: datetime | None = RECEIVED) -> WireItem:
    parsed = parse(data, received)
    assert isinstance(parsed, tuple), parsed
    [one] = parsed
    return one


def rejected(data: bytes, received: datetime | None = RECEIVED) -> Reject:
    parsed = parse(data, received)
    assert isinstance(parsed, Reject), parsed
    return parsed


def test_original() -> None:
    assert item("01-original.txt") == WireItem(
        provider="ap",
        headline="Storm surge floods harbor streets on Cape Cod",
        is_update=False,
        first_created=datetime(2026, 11, 13, 15, 9, tzinfo=UTC),
        updated=None,
        paragraphs=(
            "A storm surge driven by the remnants of a late-season hurricane pushed seawater "
            "into the streets of this harbor town on Friday, flooding shops and stranding cars.",
            "Fishermen moved their boats to moorings farther up the bay before dawn.",
            "``We've seen high water before, but never this far up Main Street,'' said Tom "
            "Ridley, who runs a bait shop near the town pier.",
        ),
        authors=("MARTHA KELLER",),
        places=("CHATHAM, Mass.",),
        agency="AP",
        wire_format=NAME,
        link=LINK,
        pub_status="usable",
        slugline=SLUG,
    )


def test_first_writethru() -> None:
    assert item("02-1stld-writethru.txt") == WireItem(
        provider="ap",
        headline="Storm surge floods Cape Cod harbor towns; hundreds evacuated",
        is_update=True,
        first_created=datetime(2026, 11, 13, 17, 12, tzinfo=UTC),
        updated=None,
        paragraphs=(
            "A storm surge driven by the remnants of a late-season hurricane flooded the streets "
            "of harbor towns on Cape Cod on Friday, and crews evacuated two nursing homes by boat.",
            "About 300 people spent the afternoon in a school gym on higher ground.",
            "``The water came up faster than anyone expected,'' the governor said at a briefing, "
            "adding that the state would ask for federal help.",
        ),
        authors=("MARTHA KELLER", "DAVID OWUSU"),
        places=("CHATHAM, Mass.",),
        agency="AP",
        wire_format=NAME,
        link=LINK,
        pub_status="usable",
        slugline=SLUG,
        ed_note=(
            "UPDATES with evacuation of two nursing homes, comment from governor. With AP Photos."
        ),
        take="1stLd-Writethru",
    )


def test_second_writethru() -> None:
    assert item("03-2ndld-writethru.txt") == WireItem(
        provider="ap",
        headline="Flood waters recede on Cape Cod after storm surge",
        is_update=True,
        first_created=datetime(2026, 11, 13, 20, 48, tzinfo=UTC),
        updated=None,
        paragraphs=(
            "Seawater that flooded harbor streets on Cape Cod began to recede on Friday evening, "
            "hours after crews evacuated two nursing homes by boat.",
            "About 300 people spent the afternoon in a school gym on higher ground.",
            "Associated Press writer David Owusu contributed to this report.",
        ),
        authors=("MARTHA KELLER",),
        places=("HARWICH, Mass.",),
        agency="AP",
        wire_format=NAME,
        link=LINK,
        pub_status="usable",
        slugline=SLUG,
        ed_note="UPDATES with water receding, corrects town of nursing home evacuations.",
        take="2ndLd-Writethru",
    )


def test_kill_is_a_canceled_update_of_the_same_story() -> None:
    assert item("04-kill.txt") == WireItem(
        provider="ap",
        headline="Storm surge story withdrawn",
        is_update=True,
        first_created=datetime(2026, 11, 13, 17, 45, tzinfo=UTC),
        updated=None,
        paragraphs=("Editors: Please make sure the withdrawn story is not published.", "The AP"),
        agency="AP",
        wire_format=NAME,
        link=LINK,
        pub_status="canceled",
        slugline=SLUG,
        ed_note=(
            "KILL. The 1stLd-Writethru of BC-Hurricane-Damage, sent at 1712 GMT, is withdrawn. "
            "It named the wrong town for the nursing home evacuations. A 2ndLd-Writethru will "
            "move shortly."
        ),
        take="Kill",
    )
    assert item("04-kill.txt").withdrawn


def test_an_eds_kill_note_alone_cancels() -> None:
    data = raw("04-kill.txt").replace(b" Kill 11-13", b" 11-13").replace(b",Kill,", b",")
    got = item_of(data)
    assert (got.take, got.pub_status, got.is_update) == (None, "canceled", True)


def test_year_end_item_received_on_new_year_is_last_years() -> None:
    got = item("05-year-end.txt", datetime(2027, 1, 1, 0, 5, tzinfo=UTC))
    day = datetime(2026, 12, 31, tzinfo=UTC)
    assert got == WireItem(
        provider="ap",
        headline="Cold snap fails to dampen harbor fireworks",
        is_update=False,
        first_created=datetime(2026, 12, 31, 23, 50, tzinfo=UTC),
        updated=None,
        paragraphs=(
            "Thousands of people braved a cold snap to watch fireworks over the harbor on New "
            "Year's Eve.",
        ),
        places=("BOSTON",),
        agency="AP",
        wire_format=NAME,
        link=StoryLink("ap|newyear-fireworks|2026-12-31", day),
        pub_status="usable",
        slugline="NewYear-Fireworks",
    )


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (datetime(2026, 11, 20, 9, 0, tzinfo=UTC), datetime(2026, 11, 13, 15, 9, tzinfo=UTC)),
        (datetime(2027, 1, 5, tzinfo=UTC), datetime(2026, 11, 13, 15, 9, tzinfo=UTC)),
        (datetime(2026, 2, 1, tzinfo=UTC), datetime(2025, 11, 13, 15, 9, tzinfo=UTC)),
        (
            datetime(2026, 11, 13, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2026, 11, 13, 15, 9, tzinfo=UTC),
        ),
    ],
)
def test_a_trailer_without_year_takes_the_year_nearest_the_receive_time(
    received: datetime, expected: datetime
) -> None:
    assert item("01-original.txt", received).first_created == expected


def test_a_two_digit_year_in_the_trailer_is_used() -> None:
    for received in (None, datetime(2031, 6, 1, tzinfo=UTC)):
        got = item("03-2ndld-writethru.txt", received)
        assert got.first_created == datetime(2026, 11, 13, 20, 48, tzinfo=UTC)
    data = raw("03-2ndld-writethru.txt").replace(b"AP-WF-11-13-26", b"AP-WF-11-13-13")
    assert item_of(data, None).first_created == datetime(2013, 11, 13, 20, 48, tzinfo=UTC)


def test_no_year_and_no_receive_time_is_no_timestamp() -> None:
    assert rejected(raw("01-original.txt"), None) == Reject(
        RejectReason.NO_TIMESTAMP, "the trailer gives no year and no receive time was given"
    )


def test_no_trailer_is_no_timestamp() -> None:
    data = raw("01-original.txt").replace(b"AP-WF-11-13 1509GMT", b"")
    got = rejected(data)
    assert got.reason is RejectReason.NO_TIMESTAMP
    assert "no trailer time" in got.detail


@pytest.mark.parametrize(
    "trailer",
    [
        b"AP-WF-13-13-26 1509GMT",
        b"AP-WF-11-31-26 1509GMT",
        b"AP-WF-02-30 1509GMT",
        b"AP-WF-01-01-0001 0009GMT",  # years outside 1900-9000
        b"AP-WF-01-01-9999 0009GMT",
    ],
)
def test_an_impossible_trailer_time_is_bad_timestamp(trailer: bytes) -> None:
    data = raw("01-original.txt").replace(b"AP-WF-11-13 1509GMT", trailer)
    assert rejected(data).reason is RejectReason.BAD_TIMESTAMP


def test_original_writethrus_and_kill_share_one_link() -> None:
    assert {item(name).link for name in GOOD} == {LINK}


def test_the_desk_code_and_cycle_leave_the_slug() -> None:
    data = raw("01-original.txt").replace(b"BC-Hurricane-Damage", b"AM-BKN--Heat-Hawks")
    got = item_of(data)
    assert got.slugline == "Heat-Hawks"
    assert got.link == StoryLink("ap|heat-hawks|2026-11-13", DAY)


def test_copy_without_caret_lines() -> None:
    data = (
        HEADER
        + b"\x02Harbor reopens after storm\r\n"
        + b"\t   Eds: Moves on general news.\r\n"
        + b"\t   By JANE ROE\r\n"
        + b"\t   Associated Press Writer\r\n"
        + b"\t   BOSTON (AP) -- The harbor reopened on Saturday\r\n"
        + b"after two days.\r\n"
        + b"\x03\r\nAP-WF-11-14-26 1200GMT\r\n\x04"
    )
    got = item_of(data)
    assert (got.headline, got.authors, got.places, got.ed_note) == (
        "Harbor reopens after storm",
        ("JANE ROE",),
        ("BOSTON",),
        "Moves on general news.",
    )
    assert got.paragraphs == ("The harbor reopened on Saturday after two days.",)
    assert got.slugline == "Test-Story"


def test_control_bytes_inside_the_text_are_dropped() -> None:
    data = raw("01-original.txt").replace(b"Fishermen", b"Fisher\x07men\x1b", 1)
    assert item_of(data) == item("01-original.txt")


def test_without_a_dateline_the_trailer_names_the_agency() -> None:
    data = raw("01-original.txt").replace(b"CHATHAM, Mass. (AP) _ ", b"")
    got = item_of(data)
    assert (got.provider, got.agency, got.places) == ("ap", "AP", ())


@pytest.mark.parametrize(("name", "detail"), sorted(BROKEN.items()))
def test_broken_framing_is_detected_and_rejected(name: str, detail: str) -> None:
    assert detect(raw(name))
    assert rejected(raw(name)) == Reject(RejectReason.BAD_FRAMING, detail)


def test_garbage_after_syn_syn_soh_is_bad_framing() -> None:
    assert detect(raw("13-garbage.txt"))
    got = rejected(raw("13-garbage.txt"))
    assert got.reason is RejectReason.BAD_FRAMING
    assert "\n" not in got.detail


def test_a_second_header_line_of_another_shape_is_bad_framing() -> None:
    data = raw("01-original.txt").replace(b"r a\x13\x11 BC-", b"ra\x13\x11BC-")
    got = rejected(data)
    assert got.reason is RejectReason.BAD_FRAMING
    assert "<priority> <category>" in got.detail


def test_text_without_framing_is_not_anpa() -> None:
    plain = raw("20-no-framing.txt")
    assert not detect(plain)
    assert not iptc7901.detect(plain)
    assert rejected(plain) == Reject(RejectReason.BAD_FRAMING, "no SOH at the start of the message")


def test_anpa_and_7901_never_claim_the_same_fixture() -> None:
    for path in sorted(HERE.glob("*.txt")):
        assert not iptc7901.detect(path.read_bytes()), path.name
    for path in sorted(IPTC.glob("*.txt")):
        assert not detect(path.read_bytes()), path.name


def test_soh_and_an_anpa_header_without_syn_is_anpa() -> None:
    data = raw("01-original.txt").removeprefix(b"\x16\x16")
    assert detect(data)
    assert not iptc7901.detect(data)
    assert item_of(data) == item("01-original.txt")


def test_no_headline_and_no_body() -> None:
    no_headline = HEADER + b"\x02^BC-Test-Story,0100<\r\n\t   Text.<\r\n\x03AP-WF-11-13 1509GMT\x04"
    assert rejected(no_headline).reason is RejectReason.NO_HEADLINE
    no_body = HEADER + b"\x02^BC-Test-Story,0100<\r\n^Headline<\r\n\x03AP-WF-11-13 1509GMT\x04"
    assert rejected(no_body).reason is RejectReason.NO_BODY


def test_the_registry_reads_the_fixtures_as_anpa() -> None:
    assert parse_input(raw("02-1stld-writethru.txt"), received_at=RECEIVED) == (
        item("02-1stld-writethru.txt"),
    )
    hinted = parse_input(raw("01-original.txt"), received_at=RECEIVED, hint=anpa1312.NAME)
    assert hinted == (item("01-original.txt"),)


# Hypothesis: no input makes detect or parse raise, and every item keeps the invariants.

check = checker(NAME)


@given(st.binary(max_size=600), RECEIVE_TIMES)
def test_arbitrary_bytes_never_raise(data: bytes, received: datetime | None) -> None:
    assert isinstance(detect(data), bool)
    check(parse(data, received))


@given(st.binary(max_size=300), RECEIVE_TIMES)
def test_arbitrary_bytes_after_a_header_never_raise(data: bytes, received: datetime | None) -> None:
    framed = HEADER + b"\x02" + data
    assert detect(framed)
    check(parse(framed, received))
    check(parse(framed + b"\x03AP-WF-11-13 1509GMT\r\n\x04", received))


@given(mangled(HERE), RECEIVE_TIMES)
def test_mangled_fixtures_never_raise(data: bytes, received: datetime | None) -> None:
    assert isinstance(detect(data), bool)
    check(parse(data, received))
