"""workers.core.formats.ninjs: ninjs 1.x-3.x items to a WireItem, never an exception."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workers.core.formats import ninjs
from workers.core.formats.ninjs import NAME, detect, parse
from workers.core.formats.types import start_of_day
from workers.core.model import StoryLink, WireItem
from workers.core.rejects import Reject, RejectReason

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
NINJS = FIXTURES / "formats" / "ninjs"
IPTC = FIXTURES / "iptc"
PROVIDER = re.compile(r"[a-z0-9]+")
CET = timezone(timedelta(hours=1))
FERRY = "https://www.northwind.example/ninjs/2024/03/ferry-strike"
FERRY_SINCE = datetime(2024, 3, 18, 6, 15, tzinfo=CET)
MUSEUM = "urn:newsml:northwind.example:20240320:museum-reopens"
MUSEUM_SINCE = datetime(2024, 3, 20, 10, 0, tzinfo=UTC)
FERRY_PARAGRAPHS = (
    "Ferry crews in Port Avalon stopped work at dawn on Monday in a dispute over new rotas.",
    "No ferries will cross the harbour until 06:00 on Tuesday, the operator said.",
    "The harbour bridge remains closed for repairs.",
)
MINIMAL: dict[str, Any] = {
    "uri": "urn:test:1",
    "versionCreated": "2024-03-15T08:00:00Z",
    "headline": "A headline",
    "body_text": "A paragraph.",
}


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def items(data: bytes) -> tuple[WireItem, ...]:
    result = parse(data, None)
    assert isinstance(result, tuple), result
    return result


def item(data: bytes | dict[str, Any]) -> WireItem:
    (one,) = items(data if isinstance(data, bytes) else orjson.dumps(data))
    return one


def rejected(data: bytes | dict[str, Any]) -> Reject:
    result = parse(data if isinstance(data, bytes) else orjson.dumps(data), None)
    assert isinstance(result, Reject), result
    return result


def minimal(**changes: Any) -> dict[str, Any]:
    """MINIMAL with fields changed; a value of None removes the field."""
    doc = {**MINIMAL, **changes}
    return {key: value for key, value in doc.items() if value is not None}


# --- detect ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [*sorted(NINJS.glob("*.json")), *sorted(IPTC.glob("ninjs-*.json"))],
    ids=lambda p: p.name,
)
def test_detect_claims_every_ninjs_file(path: Path) -> None:
    assert detect(path.read_bytes()) is True


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"  ",
        b"{",
        b"[]",
        b'["uri", "headline"]',
        b'{"headline": "No uri"}',
        b'{"uri": 7, "headline": "uri not a string"}',
        b'{"uri": "urn:x", "language": "en"}',  # no item field
        # A BTA envelope: its text is a string, whatever else it has.
        b'{"text": "Headline", "uri": "urn:x", "headline": "H", "source": "bta"}',
        b"<newsItem/>",
        "Заглавие\nСофия,\n12.08.2025 10:00\n(БТА)\nПърви абзац.".encode(),
        b'{"uri": "urn:x", "headline": "H"',  # cut off
    ],
)
def test_detect_refuses_other_inputs(data: bytes) -> None:
    assert detect(data) is False


@pytest.mark.parametrize(
    "key",
    [
        "headline",
        "headlines",
        "body_text",
        "body_html",
        "bodies",
        "versioncreated",
        "versionCreated",
    ],
)
def test_detect_needs_one_item_field(key: str) -> None:
    assert detect(orjson.dumps({"uri": "urn:x", key: None})) is True


def test_detect_allows_a_bom_and_blanks() -> None:
    assert detect(b"\xef\xbb\xbf \n" + orjson.dumps(MINIMAL)) is True


# --- the fixtures, field by field --------------------------------------------------------


def test_1x_item_version_1() -> None:
    assert item((NINJS / "ferry-strike-1x-v1.json").read_bytes()) == WireItem(
        provider="northwind",  # no provider field: the uri's host, "www." skipped
        headline="Ferry crews in Port Avalon walk out over rotas",
        is_update=False,
        first_created=FERRY_SINCE,
        updated=None,
        paragraphs=FERRY_PARAGRAPHS,
        authors=("Sam Imaginary",),
        places=("Port Avalon",),
        agency=None,
        wire_format=NAME,
        link=StoryLink(FERRY, FERRY_SINCE),
        version=1,
        pub_status="usable",
        slugline="Avalon-Ferry-Strike",
        language="en",
        description="A 24-hour strike halts all ferries across the harbour.",
        ed_note=None,
        take=None,
    )


def test_1x_item_version_2() -> None:
    assert item((NINJS / "ferry-strike-1x-v2.json").read_bytes()) == WireItem(
        provider="northwind",
        headline="Port Avalon ferry strike strands thousands of commuters",
        is_update=True,
        first_created=FERRY_SINCE,
        updated=datetime(2024, 3, 18, 8, 40, tzinfo=CET),
        paragraphs=(
            FERRY_PARAGRAPHS[0],
            "About 12,000 commuters cross the harbour by ferry on a normal weekday.",
            *FERRY_PARAGRAPHS[1:],
        ),
        authors=("Sam Imaginary",),
        places=("Port Avalon",),
        agency=None,
        wire_format=NAME,
        link=StoryLink(FERRY, FERRY_SINCE),
        version=2,
        pub_status="usable",
        slugline="Avalon-Ferry-Strike",
        language="en",
        description="A 24-hour strike halts all ferries across the harbour.",
        ed_note="Updates headline, adds commuter numbers in paragraph 2.",
        take=None,
    )


def test_3x_item() -> None:
    assert item((NINJS / "museum-3x.json").read_bytes()) == WireItem(
        provider="northwindwire",  # infoSources' first name, before copyrightHolder
        headline="Greenvale museum reopens after three-year refit",  # role main, not first
        is_update=True,
        first_created=MUSEUM_SINCE,
        updated=datetime(2024, 3, 20, 12, 30, tzinfo=UTC),
        # The HTML body (h2, p, li; <br> a space; entities decoded; script dropped).
        paragraphs=(
            "New river gallery",
            "The Greenvale Museum, founded in 1911, reopens on Saturday after a refit that "
            "took three years.",
            "Its new gallery tells the story of the river trade & the town\u2019s mills. "
            "Entry stays free.",
            "Open Tuesday to Sunday",
            "Closed on Mondays",
        ),
        authors=("Priya Fakename and Ole Unreal",),
        places=("Greenvale",),
        agency="Northwind Wire",
        wire_format=NAME,
        link=StoryLink(MUSEUM, MUSEUM_SINCE),
        version=3,
        pub_status="usable",
        slugline="Greenvale-Museum",
        language="en-GB",
        description="The town museum reopens on Saturday with a new river gallery.",  # plain
        ed_note="Corrects the year the museum was founded.",
        take=None,
    )


def test_canceled_item_without_body() -> None:
    kill = item((NINJS / "museum-3x-canceled.json").read_bytes())
    assert kill == WireItem(
        provider="northwindwire",
        headline="KILL: Greenvale museum story withdrawn",
        is_update=True,
        first_created=MUSEUM_SINCE,
        updated=datetime(2024, 3, 20, 15, 0, tzinfo=UTC),
        paragraphs=(),
        agency="Northwind Wire",
        wire_format=NAME,
        link=StoryLink(MUSEUM, MUSEUM_SINCE),
        version=4,
        pub_status="canceled",
        language="en-GB",
        ed_note="KILL. The reopening has been postponed. Do not use.",
    )
    assert kill.withdrawn


def test_versions_of_one_story_share_its_link() -> None:
    v1 = item((NINJS / "ferry-strike-1x-v1.json").read_bytes())
    v2 = item((NINJS / "ferry-strike-1x-v2.json").read_bytes())
    assert v1.link == v2.link
    assert v1.provider_id == v2.provider_id == FERRY
    museum = item((NINJS / "museum-3x.json").read_bytes())
    kill = item((NINJS / "museum-3x-canceled.json").read_bytes())
    assert museum.link == kill.link == StoryLink(MUSEUM, MUSEUM_SINCE)


# --- the IPTC samples --------------------------------------------------------------------


def test_iptc_dpa_sample() -> None:
    doc = item((IPTC / "ninjs-3.0_dpa_text.json").read_bytes())
    created = datetime(2019, 5, 10, 16, 2, 28, tzinfo=timezone(timedelta(hours=2)))
    # No firstCreated: the link is named by the day of versionCreated.
    since = start_of_day(created)
    assert doc.link == StoryLink("urn:newsml:dpa.com:20090101:190510-99-167362", since)
    assert doc.version == 2
    assert doc.is_update is True
    assert (doc.first_created, doc.updated) == (created, None)  # no firstCreated given
    assert doc.headline == "Faktencheck Derby-Elfmeter: Hat Schiedsrichter Zwayer recht?"
    assert len(doc.paragraphs) == 9  # the <p>s of the HTML body
    assert doc.paragraphs[0].startswith("Für Lucien Favre war es «der größte Skandal")
    assert doc.paragraphs[-1].endswith("um die richtige Auslegung der Bestimmungen kommen.")
    assert doc.pub_status == "usable"
    assert doc.language == "de"
    assert (doc.provider, doc.agency) == ("dpa", "dpa")  # copyrightHolder
    assert doc.authors == ("Von Christian Hollmann, dpa",)
    assert doc.wire_format == NAME


def test_iptc_ntb_sample() -> None:
    doc = item((IPTC / "ninjs-3.0_ntb_text.json").read_bytes())
    first = datetime(2019, 8, 9, 9, 30, 4, tzinfo=UTC)
    lead = (
        "IT-giganten Google har kjøpt en tomt på nærmere 2.000 mål i Skien i tilfelle det blir "
        "behov for flere datasentre i Europa."
    )
    assert doc.link == StoryLink("urn:8d19cf88-b3ab-4972-8fec-1207599f2872", first)
    assert doc.version == 6
    assert doc.is_update is True
    assert doc.first_created == first
    assert doc.updated == datetime(2019, 8, 9, 9, 46, 53, tzinfo=UTC)
    assert doc.headline == "Google har kjøpt giganttomt i Skien"
    # No body: the description, its only text, stands in as the one paragraph.
    assert doc.paragraphs == (lead,)
    assert doc.description == lead
    assert doc.pub_status == "usable"
    assert doc.language == "nb-NO"
    assert (doc.provider, doc.agency) == ("ntb", "NTB")
    assert doc.authors == ("NTB",)
    assert doc.places == ("Telemark",)
    assert doc.slugline == "skien-google"
    assert doc.ed_note == "Noe utvidet."


# --- versions, times, status -------------------------------------------------------------


def test_versions_compare_as_numbers() -> None:
    older = item(minimal(version="978556838"))
    newer = item(minimal(version="1542761538"))
    assert (older.version, newer.version) == (978556838, 1542761538)
    assert older.version is not None
    assert newer.version is not None
    assert newer.version > older.version  # as strings, "1542761538" < "978556838"
    assert "1542761538" < "978556838"


@pytest.mark.parametrize(("version", "expected"), [(3, 3), ("7", 7), (" 12 ", 12), ("", None)])
def test_version_as_number_or_string(version: Any, expected: int | None) -> None:
    assert item(minimal(version=version)).version == expected


@pytest.mark.parametrize("version", ["two", "1.5", "-1", -1, 1.5, True, [], {}, "9" * 40])
def test_bad_version_is_refused(version: Any) -> None:
    result = rejected(minimal(version=version))
    assert result.reason is RejectReason.BAD_ENVELOPE
    assert "version" in result.detail


def test_without_version_an_update_is_a_later_version_created() -> None:
    plain = item(minimal(firstCreated="2024-03-15T08:00:00Z"))
    assert (plain.version, plain.is_update, plain.updated) == (None, False, None)
    later = item(minimal(firstCreated="2024-03-15T07:00:00Z"))
    assert (later.version, later.is_update) == (None, True)
    assert later.updated == datetime(2024, 3, 15, 8, tzinfo=UTC)
    alone = item(minimal())
    assert (alone.is_update, alone.first_created, alone.updated) == (
        False,
        datetime(2024, 3, 15, 8, tzinfo=UTC),
        None,
    )


def test_lowercase_and_camel_case_times() -> None:
    doc = item(
        minimal(
            versionCreated=None,
            versioncreated="2024-03-15T09:00:00+01:00",
            firstcreated="2024-03-15T06:00:00",  # no zone: UTC
        )
    )
    assert doc.first_created == datetime(2024, 3, 15, 6, tzinfo=UTC)
    assert doc.updated == datetime(2024, 3, 15, 9, tzinfo=CET)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"versionCreated": None}, RejectReason.NO_TIMESTAMP),
        ({"versionCreated": "soon"}, RejectReason.BAD_TIMESTAMP),
        ({"versionCreated": "2024-02-30T08:00:00Z"}, RejectReason.BAD_TIMESTAMP),
        ({"versionCreated": "0001-01-01T00:00:00+05:00"}, RejectReason.BAD_TIMESTAMP),
        ({"versionCreated": "2024-03-15T08:00:00-01:33:16"}, RejectReason.BAD_TIMESTAMP),
        ({"firstCreated": "2024-03-15T09:00:00Z"}, RejectReason.BAD_TIMESTAMP),  # after version
        ({"versionCreated": 1710489600}, RejectReason.BAD_ENVELOPE),
    ],
)
def test_unusable_times(changes: dict[str, Any], reason: RejectReason) -> None:
    assert rejected(minimal(**changes)).reason is reason


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "usable"),
        ({"pubStatus": "withheld"}, "withheld"),
        ({"pubstatus": "canceled"}, "canceled"),
        ({"pubStatus": "Cancelled"}, "canceled"),
        ({"pubStatus": "stat:usable"}, "usable"),
    ],
)
def test_pub_status(changes: dict[str, Any], expected: str) -> None:
    assert item(minimal(**changes)).pub_status == expected


def test_unknown_pub_status_is_refused() -> None:
    assert rejected(minimal(pubStatus="draft")).reason is RejectReason.BAD_ENVELOPE


def test_withheld_without_body_is_kept() -> None:
    doc = item(minimal(pubStatus="withheld", body_text=None))
    assert (doc.pub_status, doc.paragraphs) == ("withheld", ())


# --- headline, body, people, places, provider --------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"headline": None},
        {"headline": "   "},
        {"headline": None, "headlines": []},
        {"headline": None, "headlines": [{"role": "main", "value": " "}]},
    ],
)
def test_no_headline(changes: dict[str, Any]) -> None:
    assert rejected(minimal(**changes)).reason is RejectReason.NO_HEADLINE


def test_headlines_main_else_first() -> None:
    first = [{"role": "sub", "value": "Sub"}, {"value": "Other"}]
    assert item(minimal(headline=None, headlines=first)).headline == "Sub"
    html = [{"role": "main", "contentType": "text/html", "value": "<b>Bold</b> &amp; more"}]
    assert item(minimal(headline=None, headlines=html)).headline == "Bold & more"


def test_headline_is_one_line() -> None:
    assert item(minimal(headline=" Two\nlines\u00a0 here ")).headline == "Two lines here"


def test_usable_item_without_body_is_a_headline_alone() -> None:
    assert item(minimal(body_text=None)).paragraphs == ()
    assert item(minimal(body_text=" \n ")).paragraphs == ()
    assert item(minimal(body_text=None, body_html="<p> </p>")).paragraphs == ()


def test_body_text_lines_without_blank_lines() -> None:
    assert item(minimal(body_text="One.\r\nTwo.\n  Three.  ")).paragraphs == (
        "One.",
        "Two.",
        "Three.",
    )


def test_body_text_split_on_blank_lines() -> None:
    doc = item(minimal(body_text="One\nstill one.\n\n\n  Two. "))
    assert doc.paragraphs == ("One still one.", "Two.")


def test_html_body_wins_over_plain_text() -> None:
    doc = item(minimal(body_html="<p>From <i>HTML</i>.</p>"))
    assert doc.paragraphs == ("From HTML.",)


def test_html_without_blocks_falls_back_to_its_text() -> None:
    doc = item(minimal(body_text=None, body_html="Line one<br>line two<div>Three</div>"))
    assert doc.paragraphs == ("Line one", "line two", "Three")


def test_bodies_by_content_type() -> None:
    bodies = [
        {"contentType": "image/png", "value": "not text"},
        {"contentType": "text/plain", "value": "Plain."},
        {"contentType": "application/xhtml+xml", "value": "<p>X</p><p>Y</p>"},
    ]
    assert item(minimal(body_text=None, bodies=bodies)).paragraphs == ("X", "Y")
    plain = [{"value": "No type is plain.\n\nTwo."}]
    assert item(minimal(body_text=None, bodies=plain)).paragraphs == ("No type is plain.", "Two.")


def test_a_lone_lt_is_text_and_a_declaration_is_dropped() -> None:
    assert item(minimal(body_text=None, body_html="<![foo bar")).paragraphs == ("<![foo bar",)
    assert item(minimal(body_text=None, body_html="<![foo]>")).paragraphs == ()
    doc = item(minimal(body_text=None, body_html="<p>a < b and " + "<a" * 5000 + "</p>"))
    assert doc.paragraphs == ("a < b and " + "<a" * 5000,)


def test_html_parser_failure_is_no_text_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Undefused, html.parser raises AssertionError on "<![foo": no readable body, no raise.
    monkeypatch.setattr(ninjs, "_defuse", lambda markup: markup)
    assert item(minimal(body_text=None, body_html="<![foo bar")).paragraphs == ()


def test_html_with_too_many_tags_is_refused_not_read_as_an_item_without_text() -> None:
    html = "<b>x</b>" * 10_001
    refused = rejected(minimal(body_text=None, body_html=html))
    assert refused.reason is RejectReason.TOO_LARGE
    assert refused.detail == "an HTML text of 20002 tags, over the 20000 a story's may have"
    assert item(minimal(body_text=None, body_html="<b>x</b>" * 10_000)).paragraphs == (
        "x" * 10_000,
    )


def test_bodies_of_invisible_markup_are_read_up_to_the_items_tag_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each HTML text is capped alone, and all an item's together: bodies of invisible
    markup, read one after another for one with text, cannot add up to seconds of
    html.parser. A body past the budget gives way as one over the cap does; with none
    left to serve, the item is too_large."""
    read: list[str] = []
    monkeypatch.setattr(ninjs, "_defuse", lambda markup: read.append(markup) or markup)
    invisible = {"contentType": "text/html", "value": "<p>\u00ad" * 19_999}
    plain = {"value": "Body."}
    doc = item(minimal(body_text=None, bodies=[invisible, invisible, invisible, plain]))
    assert doc.paragraphs == ("Body.",)
    assert len(read) == 2  # 39,998 tags; a third body would pass 40,000
    refused = rejected(minimal(body_text=None, bodies=[invisible] * 3))
    assert refused.reason is RejectReason.TOO_LARGE
    assert refused.detail == "HTML texts of over 40000 tags in all, read for one with text"


def test_a_long_story_sent_in_several_html_renditions_reads_its_first() -> None:
    """Only what html.parser reads counts against the budget: a story of 14,000 tags sent
    as body_html, again in bodies, and a third time in an association, is read once."""
    story = "<p>Row</p>" * 7000
    doc = minimal(body_text=None, body_html=story)
    doc = {
        **doc,
        "bodies": [{"contentType": "text/html", "value": story}],
        "associations": {"related": {"uri": "urn:x:2", "body_html": story}},
    }
    assert item(doc).paragraphs == ("Row",) * 7000


def test_a_body_a_reader_cannot_see_gives_way_to_the_next_one() -> None:
    """An HTML body of invisible paragraphs, or one over the tag cap, is no body: the plain
    text serves."""
    for html in ("<p>\u200b</p><p>\u00ad</p>", "<b>x</b>" * 10_001):
        doc = item(minimal(body_text="The text.", body_html=html))
        assert doc.paragraphs == ("The text.",)


def test_html_comments_declarations_and_scripts_hold_no_text() -> None:
    html = (
        "<!DOCTYPE html><?xml version='1.0'?><!-- <p>old</p> --><![CDATA[x]]>"
        "<style>p{}</style><p>Kept</p><script>if (a<b) {}</script><!-- unclosed <p>gone</p>"
    )
    assert item(minimal(body_text=None, body_html=html)).paragraphs == ("Kept",)


def test_description_stands_in_for_a_missing_body() -> None:
    doc = item(minimal(body_text=None, description_text="Only a lead."))
    assert (doc.paragraphs, doc.description) == (("Only a lead.",), "Only a lead.")


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({"description_text": "Plain."}, "Plain."),
        ({"description_html": "<p>One</p><p>two</p>"}, "One two"),
        ({"descriptions": [{"contentType": "text/html", "value": "<i>H</i>"}]}, "H"),
        ({"descriptions": [{"role": "x"}, {"value": "V"}]}, "V"),
        ({}, None),
    ],
)
def test_description(changes: dict[str, Any], description: str | None) -> None:
    assert item(minimal(**changes)).description == description


@pytest.mark.parametrize(
    ("changes", "authors"),
    [
        ({"byline": "By Ann Example"}, ("Ann Example",)),
        ({"by": "BY Ann Example"}, ("Ann Example",)),
        ({"by": "Ann Example, Staff"}, ("Ann Example, Staff",)),
        (
            {
                "people": [
                    {"name": "Bo", "rel": "author"},
                    {"name": "Mayor", "rel": "subject"},
                    {"literal": "Cy", "rel": "http://cv.example/rel/author"},
                    {"rel": "author"},
                ]
            },
            ("Bo", "Cy"),
        ),
        ({"by": "By", "person": [{"name": "Di", "rel": "AUTHOR"}]}, ("Di",)),
        ({}, ()),
    ],
)
def test_authors(changes: dict[str, Any], authors: tuple[str, ...]) -> None:
    assert item(minimal(**changes)).authors == authors


@pytest.mark.parametrize(
    ("changes", "places"),
    [
        ({"located": "Oslo"}, ("Oslo",)),
        ({"places": [{"name": "Bergen"}, {"literal": "Voss"}, {"uri": "x"}]}, ("Bergen", "Voss")),
        ({"located": "Oslo", "place": [{"name": "Oslo"}, {"name": "Norway"}]}, ("Oslo", "Norway")),
        ({}, ()),
    ],
)
def test_places(changes: dict[str, Any], places: tuple[str, ...]) -> None:
    assert item(minimal(**changes)).places == places


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"infoSources": [{"uri": "x"}, {"name": "Acme News"}]}, ("acmenews", "Acme News")),
        ({"copyrightHolder": "NTB"}, ("ntb", "NTB")),
        ({"copyrightholder": "Agence Ñ"}, ("agencen", "Agence Ñ")),
        ({"provider": {"name": "Wire Co"}}, ("wireco", "Wire Co")),
        ({"copyrightHolder": "БТА"}, ("ninjs", "БТА")),  # no ASCII letter, urn:test:1 no host
        ({"copyrightHolder": "БТА", "uri": "http://www.bta.bg/x"}, ("bta", "БТА")),
        ({"uri": "https://feeds.northwind.example/a"}, ("feeds", None)),
        ({"uri": "urn:newsml:www.acme.com:2024:x"}, ("acme", None)),
        ({}, ("ninjs", None)),
    ],
)
def test_provider(changes: dict[str, Any], expected: tuple[str, str | None]) -> None:
    doc = item(minimal(**changes))
    assert (doc.provider, doc.agency) == expected


def test_ed_note_and_language() -> None:
    doc = item(minimal(ednote="Note.", language="bg"))
    assert (doc.ed_note, doc.language) == ("Note.", "bg")
    assert item(minimal(edNote="Other.")).ed_note == "Other."


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"{", b"[1, 2]", b'"text"', b"null", b'{"uri": "x",}', b"\xff\xfe{}", b"{\xff}"],
)
def test_bad_json_is_bad_envelope(data: bytes) -> None:
    assert rejected(data).reason is RejectReason.BAD_ENVELOPE


def test_empty_input() -> None:
    assert rejected(b"\xef\xbb\xbf \n").reason is RejectReason.EMPTY


@pytest.mark.parametrize("uri", [None, "", "  ", 7, ["urn:x"]])
def test_uri_is_required(uri: Any) -> None:
    result = rejected(minimal(uri=uri))
    assert result.reason is RejectReason.BAD_ENVELOPE
    assert "uri" in result.detail


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"headline": 5}, "headline"),
        ({"headline": None, "headlines": "H"}, "headlines"),
        ({"headline": None, "headlines": ["H"]}, "headlines"),
        ({"headline": None, "headlines": [{"value": 5}]}, "headlines[].value"),
        ({"body_text": ["x"]}, "body_text"),
        ({"body_html": {"p": 1}}, "body_html"),
        ({"bodies": [{"contentType": 3, "value": "x"}]}, "bodies[].contentType"),
        ({"pubStatus": 1}, "pubStatus"),
        ({"byline": ["a"]}, "byline"),
        ({"people": {"name": "x"}}, "people"),
        ({"located": 1}, "located"),
        ({"places": [{"name": 1}]}, "name"),
        ({"copyrightHolder": 1}, "copyrightHolder"),
        ({"infoSources": [1]}, "infoSources"),
        ({"language": 1}, "language"),
        ({"slugline": False}, "slugline"),
        ({"type": 1}, "type"),
    ],
)
def test_wrong_field_types_are_refused_by_name(changes: dict[str, Any], field: str) -> None:
    result = rejected(minimal(**changes))
    assert result.reason is RejectReason.BAD_ENVELOPE
    assert f"'{field}'" in result.detail


@pytest.mark.parametrize("kind", ["picture", "video", "audio", "graphic"])
def test_non_text_items_are_no_body(kind: str) -> None:
    result = rejected(minimal(type=kind))
    assert result.reason is RejectReason.NO_BODY
    assert "not a text item" in result.detail


# --- properties --------------------------------------------------------------------------


def check(result: tuple[WireItem, ...] | Reject) -> None:
    """What every parse result must be: a Reject, or one item with the invariants."""
    if isinstance(result, Reject):
        assert isinstance(result.reason, RejectReason)
        assert isinstance(result.detail, str)
        return
    assert isinstance(result, tuple)
    (one,) = result
    assert isinstance(one, WireItem)
    assert one.first_created.tzinfo is not None
    assert one.first_created.utcoffset() is not None
    assert one.updated is None or one.updated > one.first_created
    assert one.headline
    assert PROVIDER.fullmatch(one.provider)
    assert one.wire_format == NAME
    assert one.link is not None
    assert one.link.since in {one.first_created, start_of_day(one.first_created)}
    assert one.version is None or one.version >= 0
    assert one.pub_status in {"usable", "withheld", "canceled"}
    assert all(p and "\n" not in p for p in one.paragraphs)


PROPERTY_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = [
    "uri",
    "type",
    "version",
    "firstcreated",
    "firstCreated",
    "versioncreated",
    "versionCreated",
    "pubstatus",
    "pubStatus",
    "headline",
    "headlines",
    "body_text",
    "body_html",
    "bodies",
    "byline",
    "by",
    "people",
    "person",
    "located",
    "places",
    "place",
    "slugline",
    "description_text",
    "description_html",
    "descriptions",
    "ednote",
    "edNote",
    "language",
    "infoSources",
    "copyrightholder",
    "copyrightHolder",
    "provider",
    "text",
]
TIMES = st.datetimes(
    min_value=datetime(1899, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.one_of(st.none(), st.timezones()),
).map(datetime.isoformat)
RENDITIONS = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "role": st.sampled_from(["main", "short", "x"]) | JSON_SCALARS,
            "contentType": st.sampled_from(["text/plain", "text/html", "image/png"]) | JSON_SCALARS,
            "value": st.text(max_size=60) | JSON_SCALARS,
        },
    ),
    max_size=3,
)
# Plausible values for each key, mixed with arbitrary JSON to reach every type check.
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "uri": st.sampled_from(["urn:x", "https://www.acme.example/a", "urn:newsml:a.b:1", ""]),
    "version": st.integers(-2, 10**12) | st.integers(0, 10**12).map(str),
    "firstCreated": TIMES,
    "firstcreated": TIMES,
    "versionCreated": TIMES,
    "versioncreated": TIMES,
    "pubStatus": st.sampled_from(["usable", "withheld", "canceled", "draft"]),
    "headlines": RENDITIONS,
    "bodies": RENDITIONS,
    "descriptions": RENDITIONS,
    "body_html": st.text(st.sampled_from("<>/p!-abc &;#x\n"), max_size=80),
    "infoSources": st.lists(st.fixed_dictionaries({"name": st.text(max_size=12)}), max_size=2),
}


@st.composite
def ninjs_like(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=12))
    doc: dict[str, Any] = {}
    for key in keys:
        plausible = PLAUSIBLE.get(key, st.text(max_size=40))
        doc[key] = draw(plausible | JSON_VALUES)
    return doc


@PROPERTY_SETTINGS
@given(st.binary(max_size=1024))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(detect(data), bool)
    check(parse(data, None))


@PROPERTY_SETTINGS
@given(JSON_VALUES)
def test_arbitrary_json_never_raises(value: Any) -> None:
    data = orjson.dumps(value)
    assert isinstance(detect(data), bool)
    check(parse(data, None))


@PROPERTY_SETTINGS
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), JSON_VALUES, max_size=10))
def test_random_json_objects_never_raise(doc: dict[str, Any]) -> None:
    data = orjson.dumps(doc)
    assert isinstance(detect(data), bool)
    check(parse(data, None))


@PROPERTY_SETTINGS
@given(ninjs_like())
def test_ninjs_like_objects_never_raise(doc: dict[str, Any]) -> None:
    data = orjson.dumps(doc)
    detected = detect(data)
    assert isinstance(detected, bool)
    result = parse(data, None)
    check(result)
    if isinstance(result, tuple):
        assert detected or "text" in doc  # what parses as ninjs is claimed, envelopes aside


def test_module_provides_the_format_interface() -> None:
    assert ninjs.NAME == "ninjs"
    assert ninjs.FALLBACK_PROVIDER == "ninjs"
    assert callable(ninjs.detect)
    assert callable(ninjs.parse)


def test_control_characters_are_dropped_from_the_text() -> None:
    """JSON strings may hold them; no wire text does (BTA refuses them, 7901 drops them)."""
    got = item(
        minimal(headline="Заглавие\u0000 едно", body_text="Текст\u0007 тук.\n\nВтори\x85 абзац.")
    )
    assert got.headline == "Заглавие едно"
    assert got.paragraphs == ("Текст тук.", "Втори абзац.")
    assert rejected(minimal(headline="\u0000\u0007")).reason is RejectReason.NO_HEADLINE


@pytest.mark.parametrize(
    ("field", "entries"),
    [
        ("headlines", [{"value": "<b></b>", "role": "main", "contenttype": "text/html"}]),
        ("descriptions", [{"value": " ", "contenttype": "text/plain"}, {"value": "<i></i>"}]),
    ],
)
def test_each_headline_and_description_entry_is_read_once(
    field: str, entries: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry with no text was read again as one of all the entries: a main headline of
    20,000 empty tags took twice the time it needs (about 250 ms)."""
    read: list[int] = []
    reader = ninjs._rendition_text

    def counted(entry: dict[str, Any], key: str, budget: Any) -> str | None:
        read.append(id(entry))
        return reader(entry, key, budget)

    monkeypatch.setattr(ninjs, "_rendition_text", counted)
    doc = {"uri": "urn:x:1", "versionCreated": "2026-01-01T10:00:00Z", field: entries}
    if field == "descriptions":
        doc["headline"] = "Заглавие"
    parse(orjson.dumps(doc), None)
    assert len(read) == len(set(read)) == len(entries)  # each entry once


def test_rfc3339_times_with_a_lower_case_t_and_z_read_as_upper_case_ones() -> None:
    """RFC 3339 allows "t" and "z" in lower case; they were refused as bad_timestamp."""
    doc = {"uri": "urn:x:1", "headline": "Заглавие", "body_text": "Текст."}
    upper = parse(orjson.dumps({**doc, "versionCreated": "2026-01-01T10:00:00Z"}), None)
    lower = parse(orjson.dumps({**doc, "versionCreated": "2026-01-01t10:00:00z"}), None)
    assert isinstance(upper, tuple)
    assert lower == upper
