"""workers.core.formats.newsml_g2: NewsML-G2 newsItem / newsMessage to WireItems, safely."""

from __future__ import annotations

import multiprocessing
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workers.core.decode import normalise_text
from workers.core.formats import newsml_g2, parse_input
from workers.core.formats.newsml_g2 import MAX_DEPTH, MAX_ELEMENTS, NAME, detect, parse
from workers.core.formats.text import has_glyph
from workers.core.formats.types import start_of_day
from workers.core.model import StoryLink, WireItem
from workers.core.rejects import Reject, RejectReason

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
G2 = FIXTURES / "formats" / "newsml-g2"
IPTC = FIXTURES / "iptc"
NAR = "http://iptc.org/std/nar/2006-10-01/"
PROVIDER = re.compile(r"[a-z0-9]+")
CET = timezone(timedelta(hours=1))
EST = timezone(timedelta(hours=-5))
BRIDGE = "urn:newsml:northwind.example:20240315:harbour-bridge"
BRIDGE_SINCE = datetime(2024, 3, 15, 8, 0, tzinfo=CET)
BRIDGE_PARAGRAPHS = (
    "Port Avalon closed its harbour bridge to all traffic on Friday morning after engineers "
    "found a crack in a main girder.",
    "The city said ferries would run every 20 minutes & buses would take the ring road.",
    "No date was given for the bridge to reopen.",
)
SUMMARY = "Engineers found a crack in a main girder during a routine inspection."


def read(path: Path) -> bytes:
    return path.read_bytes()


def items(data: bytes) -> tuple[WireItem, ...]:
    result = parse(data, None)
    assert isinstance(result, tuple), result
    return result


def item(data: bytes) -> WireItem:
    (one,) = items(data)
    return one


def rejected(data: bytes) -> Reject:
    result = parse(data, None)
    assert isinstance(result, Reject), result
    return result


def news_item(
    meta: str = "<versionCreated>2024-03-15T08:00:00Z</versionCreated>",
    content: str = "<headline>A headline</headline>",
    body: str = '<inlineData contenttype="text/plain">A paragraph.</inlineData>',
    attrs: str = 'guid="urn:test:1" version="1"',
    root: str = "newsItem",
) -> bytes:
    """A minimal newsItem with the given parts, for the rules one field at a time."""
    content_set = f"<contentSet>{body}</contentSet>" if body else ""
    return (
        f'<{root} xmlns="{NAR}" {attrs}><itemMeta>{meta}</itemMeta>'
        f"<contentMeta>{content}</contentMeta>{content_set}</{root}>"
    ).encode()


# --- detect ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [*sorted(G2.glob("*.xml")), *sorted(IPTC.glob("newsml-g2_*.xml"))],
    ids=lambda p: p.name,
)
def test_detect_claims_every_g2_file(path: Path) -> None:
    assert detect(read(path)) is True


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   ",
        "Заглавие\nСофия,\n12.08.2025 10:00\n(БТА)\nПърви абзац.".encode(),
        b'{"uri": "urn:x", "headline": "newsItem iptc.org/std/nar"}',
        b"<rss><channel><title>newsItem</title></channel></rss>",
        b"newsItem iptc.org/std/nar",  # not XML
    ],
)
def test_detect_refuses_other_inputs(data: bytes) -> None:
    assert detect(data) is False


def test_detect_allows_a_bom_and_leading_blanks() -> None:
    assert detect(b"\xef\xbb\xbf \n\t" + read(G2 / "harbour-bridge-v1.xml")) is True


def test_detect_passes_over_a_long_prolog_to_the_root_element() -> None:
    """A copyright comment of 2.7 KB between the declaration and the root, a PI, a DOCTYPE:
    the window opens at the root, and the item parses as without them."""
    original = read(G2 / "harbour-bridge-v1.xml")
    declaration, rest = original.split(b"\n", 1)
    notice = b"<!-- " + b"Copyright Northwind Press, all rights reserved. " * 55 + b"-->\n"
    for prolog in (notice, notice + b"<?feed batch='7'?>\n", b"<!DOCTYPE newsItem>\n" + notice):
        assert len(prolog) > 2048
        assert detect(declaration + b"\n" + prolog + rest) is True
    assert item(declaration + b"\n" + notice + rest) == item(original)


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE x " + b"[]" * 40,  # brackets a backtracking pattern tries 2**40 ways
        b"<!DOCTYPE x [" + b"]" * 100_000,
        b"<!DOCTYPE" + b" " * 100_000,
        b"<!--" + b"-" * 100_000,
        b"<?" * 100_000,
    ],
    ids=["bracket-pairs", "closing-brackets", "blanks", "unclosed-comment", "unclosed-pis"],
)
def test_detect_reads_an_unclosed_prolog_in_one_pass(data: bytes) -> None:
    """Refused at once: in a process of its own, given seconds where a pass takes
    milliseconds, so that a pattern that backtracks fails here instead of hanging the run."""
    context = multiprocessing.get_context("fork")
    probe = context.Process(target=detect, args=(data,))
    probe.start()
    probe.join(timeout=10)
    stuck = probe.is_alive()
    probe.kill()
    probe.join()
    assert not stuck
    assert probe.exitcode == 0
    assert detect(data) is False


def test_detect_claims_a_root_named_news_item_whatever_its_namespace_declarations() -> None:
    """The NAR namespace declared after 2 KiB of other attributes, or not at all: the root's
    name says G2, and the parser says what is wrong (BTA's reader said no_timestamp)."""
    original = read(G2 / "harbour-bridge-v1.xml")
    others = b"".join(b' xmlns:x%d="http://example.com/ns/%d"' % (i, i) for i in range(80))
    crowded = original.replace(b"<newsItem ", b"<newsItem" + others + b" ", 1)
    assert crowded.index(b"iptc.org/std/nar") > 2048
    assert detect(crowded) is True
    assert item(crowded) == item(original)
    for root in (b"<newsItem guid='x'/>", b"<g2:newsMessage xmlns:g2='urn:other'/>"):
        assert detect(root) is True
        refused = parse_input(root)
        assert isinstance(refused, Reject)
        assert refused.reason is RejectReason.BAD_XML
        assert "is not in the NewsML-G2 namespace" in refused.detail


def test_detect_looks_at_the_first_2_kib_only() -> None:
    late = b"<x>" + b" " * 4096 + f'<newsItem xmlns="{NAR}"/></x>'.encode()
    assert detect(late) is False


# --- the fixtures, field by field --------------------------------------------------------


def test_original_version_1() -> None:
    assert item(read(G2 / "harbour-bridge-v1.xml")) == WireItem(
        provider="northwind",
        headline="Port Avalon closes harbour bridge after crack found",
        is_update=False,
        first_created=BRIDGE_SINCE,
        updated=None,
        paragraphs=BRIDGE_PARAGRAPHS,
        authors=("Jane Fictional",),
        places=("Port Avalon",),
        agency="Northwind Wire",
        wire_format=NAME,
        link=StoryLink(BRIDGE, BRIDGE_SINCE),
        version=1,
        pub_status="usable",
        slugline="Avalon-Bridge",
        language="en-GB",
        description=SUMMARY,
        ed_note=None,
        take=None,
    )


def test_update_version_2() -> None:
    assert item(read(G2 / "harbour-bridge-v2.xml")) == WireItem(
        provider="northwind",
        headline="Port Avalon bridge to stay shut for weeks, mayor says",
        is_update=True,
        first_created=BRIDGE_SINCE,
        updated=datetime(2024, 3, 15, 9, 30, tzinfo=CET),
        paragraphs=(
            *BRIDGE_PARAGRAPHS,
            '"We will not reopen it until it is safe, and that will take weeks," Mayor Ada '
            "Invented told reporters.",
        ),
        authors=("Jane Fictional",),
        places=("Port Avalon",),
        agency="Northwind Wire",
        wire_format=NAME,
        link=StoryLink(BRIDGE, BRIDGE_SINCE),
        version=2,
        pub_status="usable",
        slugline="Avalon-Bridge",
        language="en-GB",
        description=SUMMARY,
        ed_note="Updates headline, adds the mayor's comment in paragraph 4.",
        take=None,
    )


def test_versions_of_one_story_share_its_link() -> None:
    v1, v2, kill = (
        item(read(G2 / name))
        for name in ("harbour-bridge-v1.xml", "harbour-bridge-v2.xml", "harbour-bridge-kill.xml")
    )
    assert v1.link == v2.link == kill.link == StoryLink(BRIDGE, BRIDGE_SINCE)
    assert v1.provider_id == v2.provider_id == BRIDGE
    assert v1.version_created < v2.version_created < kill.version_created


def test_kill_is_canceled_and_may_have_no_body() -> None:
    kill = item(read(G2 / "harbour-bridge-kill.xml"))
    assert kill == WireItem(
        provider="northwind",
        headline="KILL: Port Avalon bridge story withdrawn",
        is_update=True,
        first_created=BRIDGE_SINCE,
        updated=datetime(2024, 3, 15, 11, 5, tzinfo=CET),
        paragraphs=(),
        agency="Northwind Wire",
        wire_format=NAME,
        link=StoryLink(BRIDGE, BRIDGE_SINCE),
        version=3,
        pub_status="canceled",
        slugline="Avalon-Bridge",
        language="en-GB",
        ed_note="KILL. The story named the wrong bridge. Do not use.",
    )
    assert kill.withdrawn


def test_withheld_without_body_is_kept() -> None:
    data = news_item(
        meta='<pubStatus qcode="stat:withheld"/><versionCreated>2024-03-15T08:00:00Z'
        "</versionCreated>",
        body="",
    )
    assert item(data).pub_status == "withheld"
    assert item(data).paragraphs == ()


def test_news_message_gives_its_items_in_order() -> None:
    frost, ferry = items(read(G2 / "message-two-items.xml"))
    frost_time = datetime(2024, 3, 16, 6, 40, tzinfo=UTC)
    assert frost == WireItem(
        provider="northwind",
        headline="Late frost hits Greenvale orchards",
        is_update=False,
        first_created=frost_time,
        updated=None,
        paragraphs=(
            "Growers count the cost",
            "A late frost damaged apple blossom across Greenvale overnight.",
            "Apples: worst hit",
            "Pears: some damage",
        ),
        authors=("Tomas Madeup", "Lin Notreal"),
        places=("GREENVALE",),
        agency="Northwind Wire",
        wire_format=NAME,
        link=StoryLink("urn:newsml:northwind.example:20240316:orchard-frost", frost_time),
        version=1,
        pub_status="usable",
        language="en",  # the newsMessage's xml:lang
    )
    # No firstCreated: versionCreated stands in; no zone: UTC; version 4 is an update.
    ferry_time = datetime(2024, 3, 16, 6, 55, tzinfo=UTC)
    assert ferry == WireItem(
        provider="northwind",
        headline="Ferry timetable changes from Monday",
        is_update=True,
        first_created=ferry_time,
        updated=None,
        paragraphs=(
            "Ferries between Port Avalon and Greenvale will leave every 20 minutes from Monday.",
            "The last ferry will leave at 23:40.",
        ),
        agency="Northwind Wire",
        wire_format=NAME,
        # Without firstCreated the versions share only their day: the link is named by it.
        link=StoryLink(
            "urn:newsml:northwind.example:20240316:ferry-timetable", start_of_day(ferry_time)
        ),
        version=4,
        pub_status="usable",
        language="en-GB",  # contentMeta/language
    )


def test_news_message_with_a_bad_item_is_refused_naming_it() -> None:
    data = read(G2 / "message-two-items.xml").replace(
        b"<headline>Ferry timetable changes from Monday</headline>", b""
    )
    result = rejected(data)
    assert result.reason is RejectReason.NO_HEADLINE
    assert result.detail.startswith("item 2 of 2: ")


def test_news_message_without_news_items() -> None:
    data = f'<newsMessage xmlns="{NAR}"><header/><itemSet/></newsMessage>'.encode()
    assert rejected(data).reason is RejectReason.NO_BODY


# --- the IPTC samples --------------------------------------------------------------------


def test_iptc_listing_2_nitf_text_document() -> None:
    doc = item(read(IPTC / "newsml-g2_listing2_text-document.xml"))
    created = datetime(2018, 11, 21, 16, 25, 32, tzinfo=EST)
    since = datetime(2018, 11, 21, tzinfo=UTC)  # no firstCreated: the day of versionCreated
    assert doc.link == StoryLink("urn:newsml:acmenews.com:20161121:US-FINANCE-FED", since)
    assert doc.version == 11
    assert doc.is_update is True
    assert (doc.first_created, doc.updated) == (created, None)  # no firstCreated in the item
    assert doc.headline == 'Fed to halt QE to avert "bubble"'
    # NITF: the body.content paragraphs; the hedline and byline of body.head are no paragraphs.
    assert len(doc.paragraphs) == 2
    assert doc.paragraphs[0].startswith("(New York, NY - October 21) Et, sent luptat")
    assert doc.paragraphs[1].endswith("esto cons dolutpat, si.")
    assert "\n" not in doc.paragraphs[0]
    assert doc.pub_status == "usable"
    assert doc.language == "en-US"
    assert doc.provider == "acmenews"  # provider uri http://www.acmenews.com/about/
    assert doc.agency is None
    assert doc.authors == ("Meredith Jameson",)
    assert doc.places == ("New York, NY",)
    assert doc.slugline == "US-Finance-Fed"
    assert doc.wire_format == NAME


def test_iptc_listing_1_has_no_body_text_and_is_an_item_all_the_same() -> None:
    # Its inlineXML holds only comments and it has no description: a headline alone.
    doc = item(read(IPTC / "newsml-g2_listing1_news-item.xml"))
    assert doc.paragraphs == ()
    assert doc.headline == 'Fed to halt QE to avert "bubble"'


def test_iptc_listing_1_metadata_once_it_has_a_paragraph() -> None:
    data = read(IPTC / "newsml-g2_listing1_news-item.xml").replace(
        b"</inlineXML>", b'<p xmlns="http://www.w3.org/1999/xhtml">Body.</p></inlineXML>'
    )
    doc = item(data)
    first = datetime(2016, 10, 18, 13, 12, 21, tzinfo=EST)
    assert doc.link == StoryLink("urn:newsml:acmenews.com:20161018:US-FINANCE-FED", first)
    assert doc.version == 11
    assert doc.is_update is True
    assert doc.first_created == first
    assert doc.updated == datetime(2018, 10, 21, 16, 25, 32, tzinfo=EST)
    assert doc.headline == 'Fed to halt QE to avert "bubble"'
    assert doc.paragraphs == ("Body.",)
    assert doc.pub_status == "usable"
    assert doc.language == "en-GB"
    assert (doc.provider, doc.agency) == ("reuters", None)  # nprov:REUTERS, no name
    assert doc.authors == ("Meredith Jameson",)
    assert doc.places == ("Berlin",)  # not its broader Berlin, Germany
    assert doc.slugline == "US-Finance-Fed"
    assert doc.ed_note == (
        "Note to editors: STRICTLY EMBARGOED. Not for public release until 12noon on Friday, "
        "October 23, 2018."
    )


# --- versions, times, status -------------------------------------------------------------


def test_versions_compare_as_numbers() -> None:
    older = item(news_item(attrs='guid="urn:test:1" version="978556838"'))
    newer = item(news_item(attrs='guid="urn:test:1" version="1542761538"'))
    assert (older.version, newer.version) == (978556838, 1542761538)
    assert older.version is not None
    assert newer.version is not None
    assert newer.version > older.version  # as strings, "1542761538" < "978556838"
    assert "1542761538" < "978556838"


def test_missing_version_is_1() -> None:
    doc = item(news_item(attrs='guid="urn:test:1"'))
    assert (doc.version, doc.is_update) == (1, False)


@pytest.mark.parametrize("version", ["0", "-1", "two", "1.5", "", "9" * 40])
def test_bad_version_is_refused(version: str) -> None:
    result = rejected(news_item(attrs=f'guid="urn:test:1" version="{version}"'))
    assert result.reason is RejectReason.BAD_XML


def test_time_without_zone_is_utc() -> None:
    doc = item(news_item(meta="<versionCreated>2024-03-15T08:00:00</versionCreated>"))
    assert doc.first_created == datetime(2024, 3, 15, 8, 0, tzinfo=UTC)
    assert doc.first_created.tzinfo is not None


def test_same_instant_in_another_zone_is_no_update_time() -> None:
    meta = (
        "<versionCreated>2024-03-15T09:00:00+02:00</versionCreated>"
        "<firstCreated>2024-03-15T07:00:00Z</firstCreated>"
    )
    assert item(news_item(meta=meta)).updated is None


def test_version_created_before_first_created_is_refused() -> None:
    meta = (
        "<versionCreated>2024-03-15T07:00:00Z</versionCreated>"
        "<firstCreated>2024-03-15T08:00:00Z</firstCreated>"
    )
    assert rejected(news_item(meta=meta)).reason is RejectReason.BAD_TIMESTAMP


def test_first_created_alone_is_enough() -> None:
    doc = item(news_item(meta="<firstCreated>2024-03-15T08:00:00Z</firstCreated>"))
    assert (doc.first_created, doc.updated) == (datetime(2024, 3, 15, 8, tzinfo=UTC), None)


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ("", RejectReason.NO_TIMESTAMP),
        ("<versionCreated>  </versionCreated>", RejectReason.NO_TIMESTAMP),
        ("<versionCreated>yesterday</versionCreated>", RejectReason.BAD_TIMESTAMP),
        ("<versionCreated>2024-02-30T08:00:00Z</versionCreated>", RejectReason.BAD_TIMESTAMP),
        ("<versionCreated>0001-01-01T00:00:00+05:00</versionCreated>", RejectReason.BAD_TIMESTAMP),
        # xs:dateTime offsets are +hh:mm; Python would take seconds too (LMT-like offsets).
        (
            "<versionCreated>2024-03-15T08:00:00+01:33:16</versionCreated>",
            RejectReason.BAD_TIMESTAMP,
        ),
    ],
)
def test_unusable_times(meta: str, reason: RejectReason) -> None:
    assert rejected(news_item(meta=meta)).reason is reason


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ('qcode="stat:usable"', "usable"),
        ('qcode="stat:withheld"', "withheld"),
        ('qcode="stat:canceled"', "canceled"),
        ('uri="http://cv.iptc.org/newscodes/pubstatusg2/canceled"', "canceled"),
    ],
)
def test_pub_status(status: str, expected: str) -> None:
    meta = f"<pubStatus {status}/><versionCreated>2024-03-15T08:00:00Z</versionCreated>"
    assert item(news_item(meta=meta)).pub_status == expected


def test_unknown_pub_status_is_refused() -> None:
    meta = '<pubStatus qcode="stat:maybe"/><versionCreated>2024-03-15T08:00:00Z</versionCreated>'
    assert rejected(news_item(meta=meta)).reason is RejectReason.BAD_XML


# --- headline, body, people, places, provider --------------------------------------------


@pytest.mark.parametrize("content", ["", "<headline>  </headline>", "<slugline>X</slugline>"])
def test_no_headline(content: str) -> None:
    assert rejected(news_item(content=content)).reason is RejectReason.NO_HEADLINE


def test_first_headline_wins_and_is_one_line() -> None:
    content = "<headline>First\n   line <b>bold</b></headline><headline>Second</headline>"
    assert item(news_item(content=content)).headline == "First line bold"


def test_usable_item_without_body_is_a_headline_alone() -> None:
    assert item(news_item(body="")).paragraphs == ()
    blank = '<inlineXML contenttype="application/xhtml+xml"><p xmlns="x"> </p></inlineXML>'
    assert item(news_item(body=blank)).paragraphs == ()


def test_remote_content_is_never_fetched() -> None:
    body = '<remoteContent href="http://northwind.example/story.txt" contenttype="text/plain"/>'
    assert item(news_item(body=body)).paragraphs == ()


def test_description_stands_in_for_a_missing_body() -> None:
    content = "<headline>Flash</headline><description>Only a lead.</description>"
    doc = item(news_item(content=content, body=""))
    assert (doc.paragraphs, doc.description) == (("Only a lead.",), "Only a lead.")


def test_inline_data_one_paragraph_a_line_without_blank_lines() -> None:
    body = '<inlineData contenttype="text/plain">One.\r\nTwo.\n  Three.  </inlineData>'
    assert item(news_item(body=body)).paragraphs == ("One.", "Two.", "Three.")


def test_inline_data_paragraphs_split_on_blank_lines() -> None:
    body = '<inlineData contenttype="text/plain">One\nstill one.\n\n\n Two. </inlineData>'
    assert item(news_item(body=body)).paragraphs == ("One still one.", "Two.")


def test_xhtml_blocks_inline_markup_and_nesting() -> None:
    body = (
        '<inlineXML contenttype="application/xhtml+xml">'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>T</title>'
        "<style>p {}</style></head><body>"
        "<h1>Head</h1><p>A <a href='x'>link</a>,<br/>a break.</p>"
        "<ol><li><p>Nested</p></li><li>Item</li></ol>"
        "<div>Loose text in a div is no paragraph where there are paragraphs</div>"
        "<p>Caf\u0065\u0301 \u00a0 spaced</p>"
        "</body></html></inlineXML>"
    )
    assert item(news_item(body=body)).paragraphs == (
        "Head",
        "A link, a break.",
        "Nested",
        "Item",
        "Café spaced",
    )


def test_markup_without_blocks_falls_back_to_its_text() -> None:
    body = '<inlineXML contenttype="text/xml"><story><t>One.</t><t>Two.</t></story></inlineXML>'
    assert item(news_item(body=body)).paragraphs == ("One.", "Two.")


def test_first_rendition_with_text_wins() -> None:
    body = (
        '<inlineXML contenttype="application/xhtml+xml"><html xmlns="x"/></inlineXML>'
        '<inlineData contenttype="text/plain">From the data.</inlineData>'
    )
    assert item(news_item(body=body)).paragraphs == ("From the data.",)


def test_a_rendition_a_reader_cannot_see_gives_way_to_the_next_one() -> None:
    body = (
        '<inlineXML contenttype="application/xhtml+xml"><html xmlns="x"><p>\u200b</p>'
        "<p>\u00ad</p></html></inlineXML>"
        '<inlineData contenttype="text/plain">From the data.</inlineData>'
    )
    assert item(news_item(body=body)).paragraphs == ("From the data.",)


@pytest.mark.parametrize(
    ("content", "authors"),
    [
        ("<by>By Ann Example</by>", ("Ann Example",)),
        ("<by>by Ann Example</by>", ("Ann Example",)),
        ("<by>Ann Example, Staff</by>", ("Ann Example, Staff",)),
        ("<by>By </by><creator><name>Bo</name></creator>", ("Bo",)),
        ("<creator><name>Bo</name></creator><creator literal='Cy'/>", ("Bo", "Cy")),
        ("<creator uri='http://x/staff/1'/>", ()),
    ],
)
def test_authors(content: str, authors: tuple[str, ...]) -> None:
    assert item(news_item(content="<headline>H</headline>" + content)).authors == authors


@pytest.mark.parametrize(
    ("content", "places"),
    [
        ("<located><name>Oslo</name><broader><name>Norway</name></broader></located>", ("Oslo",)),
        ("<located literal='Bergen'/>", ("Bergen",)),
        ("<dateline>PORT AVALON, March 15 (Northwind) -</dateline>", ("PORT AVALON",)),
        ("<dateline>Greenvale</dateline>", ("Greenvale",)),
        ("", ()),
    ],
)
def test_places(content: str, places: tuple[str, ...]) -> None:
    assert item(news_item(content="<headline>H</headline>" + content)).places == places


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ('<provider qcode="nprov:REUTERS"/>', ("reuters", None)),
        (
            '<provider qcode="nprov:NWW"><name>Northwind Wire</name></provider>',
            ("nww", "Northwind Wire"),
        ),
        ('<provider literal="Acme News"/>', ("acmenews", "Acme News")),
        ('<provider uri="https://www.acmenews.com/about/"/>', ("acmenews", None)),
        ('<provider qcode="nprov:БТА"><name>БТА</name></provider>', ("newsmlg2", "БТА")),
        ('<provider qcode="nprov:Agence-Ñ"/>', ("agencen", None)),
        ("", ("newsmlg2", None)),
    ],
)
def test_provider(provider: str, expected: tuple[str, str | None]) -> None:
    meta = provider + "<versionCreated>2024-03-15T08:00:00Z</versionCreated>"
    doc = item(news_item(meta=meta))
    assert (doc.provider, doc.agency) == expected


def test_language_of_the_item_then_of_content_meta() -> None:
    tagged = news_item(content='<language tag="de"/><headline>H</headline>')
    assert item(tagged).language == "de"
    both = news_item(
        content='<language tag="de"/><headline>H</headline>',
        attrs='guid="urn:test:1" xml:lang="fr"',
    )
    assert item(both).language == "fr"
    assert item(news_item()).language is None


# --- what is not a text newsItem, and bad XML --------------------------------------------


@pytest.mark.parametrize("root", ["packageItem", "conceptItem", "planningItem", "knowledgeItem"])
def test_other_g2_items_are_no_text(root: str) -> None:
    result = rejected(news_item(root=root))
    assert result.reason is RejectReason.NO_BODY
    assert "not a text newsItem" in result.detail


def test_picture_news_item_is_no_text() -> None:
    meta = '<itemClass qcode="ninat:picture"/><versionCreated>2024-03-15T08:00:00Z</versionCreated>'
    result = rejected(news_item(meta=meta))
    assert result.reason is RejectReason.NO_BODY
    assert "not a text newsItem" in result.detail


@pytest.mark.parametrize(
    "data",
    [
        b"<rss version='2.0'><channel/></rss>",
        b"<newsItem guid='x'><contentMeta><headline>H</headline></contentMeta></newsItem>",
        f'<foo xmlns="{NAR}"/>'.encode(),
        f'<newsItem xmlns="{NAR}" guid="x">'.encode(),  # unclosed
        b"<a></b>",
        b"not xml at all",
        b"<?xml version='1.0' encoding='klingon'?><x/>",
        "<?xml version='1.0' encoding='utf-8'?><x>\udcff</x>".encode("utf-8", "surrogatepass"),
        b"\xff\xfe<\x00x\x00/\x00>\x00",
    ],
)
def test_not_newsml_g2_is_bad_xml(data: bytes) -> None:
    assert rejected(data).reason is RejectReason.BAD_XML


def test_news_item_without_guid_is_bad_xml() -> None:
    assert rejected(news_item(attrs='version="1"')).reason is RejectReason.BAD_XML


def test_empty_input() -> None:
    assert rejected(b"\xef\xbb\xbf  \n").reason is RejectReason.EMPTY


def test_bom_and_blanks_before_the_declaration_are_allowed() -> None:
    data = b"\xef\xbb\xbf\n  " + read(G2 / "harbour-bridge-v1.xml")
    assert item(data).version == 1


# --- hostile XML: refused, in bounded time, without recursion ----------------------------


@pytest.mark.parametrize(
    "name",
    ["hostile-billion-laughs.xml", "hostile-external-entity.xml", "hostile-doctype.xml"],
)
def test_hostile_fixtures_are_bad_xml(name: str) -> None:
    result = rejected(read(G2 / name))
    assert result.reason is RejectReason.BAD_XML
    assert "\n" not in result.detail
    assert "root:" not in result.detail  # nothing of /etc/passwd


def test_undeclared_entity_is_bad_xml() -> None:
    assert rejected(news_item(content="<headline>&xxe;</headline>")).reason is RejectReason.BAD_XML


def test_100k_deep_nesting_is_refused_without_recursion() -> None:
    depth = 100_000
    data = (
        f'<newsItem xmlns="{NAR}" guid="urn:test:deep">'.encode()
        + b"<a>" * depth
        + b"</a>" * depth
        + b"</newsItem>"
    )
    result = rejected(data)
    assert result.reason is RejectReason.BAD_XML
    assert str(MAX_DEPTH) in result.detail


def test_nesting_at_the_limit_is_read() -> None:
    inner = MAX_DEPTH - 3  # newsItem, contentSet, inlineXML
    body = '<inlineXML contenttype="text/xml">' + "<d>" * inner + "Deep." + "</d>" * inner
    assert item(news_item(body=body + "</inlineXML>")).paragraphs == ("Deep.",)


def test_too_many_elements_are_refused() -> None:
    data = news_item(body="<x/>" * (MAX_ELEMENTS + 1))
    result = rejected(data)
    assert result.reason is RejectReason.BAD_XML
    assert str(MAX_ELEMENTS) in result.detail


# --- properties --------------------------------------------------------------------------


def check(result: tuple[WireItem, ...] | Reject) -> None:
    """What every parse result must be: a Reject, or items with the invariants."""
    if isinstance(result, Reject):
        assert isinstance(result.reason, RejectReason)
        return
    assert isinstance(result, tuple)
    assert result
    for one in result:
        assert isinstance(one, WireItem)
        assert one.first_created.tzinfo is not None
        assert one.first_created.utcoffset() is not None
        assert one.headline
        assert PROVIDER.fullmatch(one.provider)
        assert one.wire_format == NAME
        assert one.link is not None
        assert one.link.since in {one.first_created, start_of_day(one.first_created)}
        assert isinstance(one.version, int)
        assert one.pub_status in {"usable", "withheld", "canceled"}
        assert all(p and "\n" not in p for p in one.paragraphs)


SKELETON = read(G2 / "harbour-bridge-v2.xml")
PROPERTY_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(detect(data), bool)
    check(parse(data, None))


@PROPERTY_SETTINGS
@given(st.integers(0, len(SKELETON)), st.integers(0, 64), st.binary(max_size=64))
def test_mangled_items_never_raise(at: int, cut: int, junk: bytes) -> None:
    data = SKELETON[:at] + junk + SKELETON[at + cut :]
    assert isinstance(detect(data), bool)
    check(parse(data, None))


# XML 1.0 text: no controls, surrogates or non-characters.
XML_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs", "Cn")), max_size=80)


@PROPERTY_SETTINGS
@given(
    headline=XML_TEXT,
    paragraphs=st.lists(XML_TEXT, max_size=5),
    version=st.integers(1, 10**12),
    provider=XML_TEXT.map(lambda s: escape(s, {'"': "&quot;"})),
    offset=st.integers(-14 * 60, 14 * 60),
    status=st.sampled_from(["usable", "withheld", "canceled"]),
)
def test_generated_items(
    headline: str,
    paragraphs: list[str],
    version: int,
    provider: str,
    offset: int,
    status: str,
) -> None:
    zone = timezone(timedelta(minutes=offset))
    when = datetime(2024, 3, 15, 8, 0, tzinfo=zone)
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    meta = (
        f'<provider qcode="nprov:{provider}"/><pubStatus qcode="stat:{status}"/>'
        f"<versionCreated>{when.isoformat()}</versionCreated>"
    )
    data = news_item(
        meta=meta,
        content=f"<headline>{escape(headline)}</headline>",
        body=f'<inlineXML contenttype="application/xhtml+xml">{body}</inlineXML>',
        attrs=f'guid="urn:test:gen" version="{version}"',
    )
    assert detect(data)
    result = parse(data, None)
    check(result)
    flat_headline = normalise_text(" ".join(headline.split()))
    flat_paragraphs = tuple(  # those a reader can see
        filter(
            has_glyph, (normalise_text(" ".join(p.replace("\r", "\n").split())) for p in paragraphs)
        )
    )
    if not flat_headline:
        assert isinstance(result, Reject)
        assert result.reason is RejectReason.NO_HEADLINE
    else:
        assert isinstance(result, tuple)
        (doc,) = result
        assert doc.headline == flat_headline
        assert doc.paragraphs == flat_paragraphs
        assert (doc.version, doc.is_update) == (version, version > 1)
        assert doc.first_created == when
        assert doc.pub_status == status


def test_module_provides_the_format_interface() -> None:
    assert newsml_g2.NAME == "newsml-g2"
    assert newsml_g2.FALLBACK_PROVIDER == "newsmlg2"
    assert callable(newsml_g2.detect)
    assert callable(newsml_g2.parse)
