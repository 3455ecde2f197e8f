"""A story as an IPTC ninjs 3.1 item (https://iptc.org/std/ninjs/).

The item is a function of the story's set of versions only (never of arrival order or of
Kafka coordinates), which is what lets consumers compare items across replays.
"""

from __future__ import annotations

import hashlib
from typing import Any

from workers.core.merge import Story
from workers.core.model import RelatedItem

NINJS_STANDARD = {
    "name": "ninjs",
    "version": "3.1",
    "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#",
}
URI_PREFIX = "urn:wire-ingest:story:"
DEFAULT_AGENCY = "БТА"
LANGUAGE = "bg"


def story_uri(story_key: str) -> str:
    return URI_PREFIX + story_key


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
        "language": LANGUAGE,
        "pubStatus": "usable",
        "firstCreated": first_created.isoformat(),
        "versionCreated": item.version_created.isoformat(),
        "headlines": [{"role": "main", "value": item.headline}],
    }
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
            "wordCount": len(body.split()),
        }
    ]
    out["infoSources"] = [{"name": item.agency or DEFAULT_AGENCY, "role": "originfo"}]
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


def _related(uri: str, index: int, related: RelatedItem) -> dict[str, Any]:
    digest = hashlib.blake2b(
        f"{related.published.isoformat()}|{related.headline}".encode(), digest_size=6
    ).hexdigest()
    assoc: dict[str, Any] = {
        "name": f"related-{index}",
        "rel": "related",
        "uri": f"{uri}:related:{digest}",
        "type": "text",
        "firstCreated": related.published.isoformat(),
        "headlines": [{"role": "main", "value": related.headline}],
    }
    if related.lead:
        assoc["descriptions"] = [{"role": "lead", "value": related.lead}]
    return assoc
