"""A story as an IPTC ninjs 3.1 item (https://iptc.org/std/ninjs/).

The item is a function of the story's set of versions only (never of arrival order or of
Kafka coordinates), which is what lets consumers compare items across replays.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from workers.core.formats import bta
from workers.core.isotime import isoformat
from workers.core.merge import Story
from workers.core.model import RelatedItem, WireItem

NINJS_STANDARD = {
    "name": "ninjs",
    "version": "3.1",
    "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#",
}
URI_PREFIX = "urn:wire-ingest:story:"


def story_uri(story_key: str) -> str:
    return URI_PREFIX + story_key


@lru_cache(maxsize=16384)
def _word_count(paragraph: str) -> int:
    """``len(paragraph.split())``, once per paragraph (stories share background paragraphs).

    Splitting allocates a string per word, the bulk of the cost; wire text is nearly always
    single-spaced printable text, whose words are its spaces plus one. ``isprintable()``
    rules out every whitespace character except the ASCII space (tests check this over all
    of Unicode), so the shortcut counts exactly what ``split()`` would.
    """
    if (
        paragraph.isprintable()
        and paragraph[:1] not in {"", " "}
        and paragraph[-1] != " "
        and "  " not in paragraph
    ):
        return paragraph.count(" ") + 1
    return len(paragraph.split())


@lru_cache(maxsize=16384)
def _related_digest(published: str, headline: str) -> str:
    """The hash in a related item's URI: every version of a story lists the same items."""
    return hashlib.blake2b(f"{published}|{headline}".encode(), digest_size=6).hexdigest()


def to_ninjs(story: Story) -> dict[str, Any]:
    """The canonical item: the newest version's content plus what all versions tell."""
    item = story.newest
    uri = story_uri(story.key)
    # The earliest time any listed version tells (the parser refuses updates dated before
    # their first publication, so this is the first-published time; folded updates are
    # never older than the story's listed originals).
    first_created = min(*(v.version_created for v in story.versions), item.first_created)
    out: dict[str, Any] = {
        "uri": uri,
        "standard": NINJS_STANDARD,
        "version": str(story.total),
        "type": "text",
    }
    language = _language(item)
    if language is not None:
        out["language"] = language
    out["pubStatus"] = item.pub_status or "usable"  # the newest version's: a kill ends it
    out["firstCreated"] = isoformat(first_created)
    out["versionCreated"] = isoformat(item.version_created)
    out["headlines"] = [{"role": "main", "value": item.headline}]
    if item.slugline:
        out["slugline"] = item.slugline
    if item.description:
        out["descriptions"] = [{"role": "summary", "value": item.description}]
    if item.ed_note:
        out["edNote"] = item.ed_note
    people: list[dict[str, str]] = [{"name": name, "rel": "author"} for name in item.authors]
    if item.authors:
        out["by"] = ", ".join(item.authors)
    if item.signoff:
        people.append({"literal": item.signoff, "rel": "editor"})
    if people:
        out["people"] = people
    if item.places:
        out["located"] = "/".join(item.places)
        out["places"] = [{"name": place, "rel": "dateline"} for place in item.places]
    body = "\n\n".join(item.paragraphs)
    out["bodies"] = [
        {
            "role": "main",
            "contentType": "text/plain",
            "value": body,
            "charCount": len(body),
            # len(body.split()), summed per paragraph: the blank-line joins are whitespace,
            # so no word spans two paragraphs.
            "wordCount": sum(map(_word_count, item.paragraphs)),
        }
    ]
    agency = item.agency or (bta.AGENCY if item.wire_format is None else item.provider)
    out["infoSources"] = [{"name": agency, "role": "originfo"}]
    associations: list[dict[str, Any]] = []
    if item.photo is not None:
        photo: dict[str, Any] = {
            "name": "photo",
            "rel": "photo",
            "uri": f"{uri}:photo",
            "type": "picture",
        }
        if item.photo.caption:
            photo["descriptions"] = [{"role": "caption", "value": item.photo.caption}]
        if item.photo.credit:
            photo["by"] = item.photo.credit
            photo["copyrightHolder"] = item.photo.credit
        associations.append(photo)
    associations.extend(
        _related(uri, index, related) for index, related in enumerate(item.related, 1)
    )
    if associations:
        out["associations"] = associations
    return out


def _language(item: WireItem) -> str | None:
    """The item's own language tag; a BTA item (which names none) is Bulgarian."""
    if item.language:
        return item.language
    return bta.LANGUAGE if item.wire_format is None else None


def _related(uri: str, index: int, related: RelatedItem) -> dict[str, Any]:
    published = isoformat(related.published)
    assoc: dict[str, Any] = {
        "name": f"related-{index}",
        "rel": "related",
        "uri": f"{uri}:related:{_related_digest(published, related.headline)}",
        "type": "text",
        "firstCreated": published,
        "headlines": [{"role": "main", "value": related.headline}],
    }
    if related.lead:
        assoc["descriptions"] = [{"role": "lead", "value": related.lead}]
    return assoc
