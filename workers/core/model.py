"""Immutable values that flow through the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The pubStatus values that withdraw a story (IPTC's "stat:canceled", "stat:withheld").
WITHDRAWN = frozenset({"canceled", "withheld"})


@dataclass(frozen=True, slots=True)
class Photo:
    """The photo caption of an item and its credit (the text after "Снимка:")."""

    caption: str
    credit: str | None


@dataclass(frozen=True, slots=True)
class RelatedItem:
    """An item the wire page listed as related: its time, headline and lead."""

    published: datetime
    headline: str
    lead: str


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a JSON envelope around the raw text told us (all optional)."""

    source: str | None = None
    url: str | None = None
    received_at: str | None = None
    provider_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoryLink:
    """How a format names the story a version belongs to (none for BTA, which is matched).

    ``ref`` is the same for every version of one story: a NewsML-G2 guid or a ninjs uri, or
    for IPTC 7901 and ANPA 1312 the agency, the keyword/slug and the day. ``since`` is the
    time the story's bucket is named by, equal for every version too: the first-created time
    the versions share, or the start of the slug's day.
    """

    ref: str
    since: datetime


@dataclass(frozen=True, slots=True)
class WireItem:
    """One parsed version of a wire story. Times are timezone-aware (Europe/Sofia)."""

    provider: str
    headline: str
    is_update: bool
    first_created: datetime
    updated: datetime | None
    paragraphs: tuple[str, ...]
    authors: tuple[str, ...] = ()
    photo: Photo | None = None
    places: tuple[str, ...] = ()
    agency: str | None = None
    signoff: str | None = None
    related: tuple[RelatedItem, ...] = ()
    envelope: Envelope = field(default_factory=Envelope)
    # What the formats beyond BTA tell (workers/core/formats/); None/empty for BTA.
    wire_format: str | None = None
    link: StoryLink | None = None
    version: int | None = None
    pub_status: str | None = None
    slugline: str | None = None
    language: str | None = None
    description: str | None = None
    ed_note: str | None = None
    take: str | None = None

    @property
    def version_created(self) -> datetime:
        """The version's own time: updated when the wire says so, else first published."""
        return self.updated if self.updated is not None else self.first_created

    @property
    def provider_id(self) -> str | None:
        """The id that ties deliveries of one story: the article id an envelope's URL gave,
        else the format's story link."""
        if self.envelope.provider_id is not None:
            return self.envelope.provider_id
        return self.link.ref if self.link is not None else None

    @property
    def withdrawn(self) -> bool:
        """The provider canceled the story (a kill) or withheld it (until a later version)."""
        return self.pub_status in WITHDRAWN

    @property
    def canceled(self) -> bool:
        """A kill: final, unlike "withheld", which a later usable version lifts."""
        return self.pub_status == "canceled"

    def format_fields(self) -> dict[str, Any]:
        """The fields of the formats beyond BTA that are set (none for a BTA item)."""
        out: dict[str, Any] = {}
        if self.wire_format is not None:
            out["wireFormat"] = self.wire_format
        if self.link is not None:
            out["link"] = {"ref": self.link.ref, "since": self.link.since.isoformat()}
        for name, value in (
            ("version", self.version),
            ("pubStatus", self.pub_status),
            ("slugline", self.slugline),
            ("language", self.language),
            ("description", self.description),
            ("edNote", self.ed_note),
            ("take", self.take),
        ):
            if value is not None:
                out[name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields, used by ``wire-ingest parse`` and the state codec."""
        return {
            "provider": self.provider,
            "headline": self.headline,
            "isUpdate": self.is_update,
            "firstCreated": self.first_created.isoformat(),
            "updated": self.updated.isoformat() if self.updated else None,
            "versionCreated": self.version_created.isoformat(),
            "authors": list(self.authors),
            "photo": (
                {"caption": self.photo.caption, "credit": self.photo.credit} if self.photo else None
            ),
            "places": list(self.places),
            "agency": self.agency,
            "paragraphs": list(self.paragraphs),
            "signoff": self.signoff,
            "related": [
                {"published": r.published.isoformat(), "headline": r.headline, "lead": r.lead}
                for r in self.related
            ],
            "envelope": {
                "source": self.envelope.source,
                "url": self.envelope.url,
                "receivedAt": self.envelope.received_at,
                "providerId": self.envelope.provider_id,
            },
            **self.format_fields(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WireItem:
        """Inverse of :meth:`to_dict` (the derived ``versionCreated`` is ignored)."""
        photo = data.get("photo")
        env = data.get("envelope") or {}
        updated = data.get("updated")
        return cls(
            provider=data["provider"],
            headline=data["headline"],
            is_update=bool(data["isUpdate"]),
            first_created=datetime.fromisoformat(data["firstCreated"]),
            updated=datetime.fromisoformat(updated) if updated else None,
            paragraphs=tuple(data["paragraphs"]),
            authors=tuple(data.get("authors") or ()),
            photo=Photo(photo["caption"], photo.get("credit")) if photo else None,
            places=tuple(data.get("places") or ()),
            agency=data.get("agency"),
            signoff=data.get("signoff"),
            related=tuple(
                RelatedItem(datetime.fromisoformat(r["published"]), r["headline"], r["lead"])
                for r in data.get("related") or ()
            ),
            envelope=Envelope(
                source=env.get("source"),
                url=env.get("url"),
                received_at=env.get("receivedAt"),
                provider_id=env.get("providerId"),
            ),
            wire_format=data.get("wireFormat"),
            link=(
                StoryLink(data["link"]["ref"], datetime.fromisoformat(data["link"]["since"]))
                if data.get("link")
                else None
            ),
            version=data.get("version"),
            pub_status=data.get("pubStatus"),
            slugline=data.get("slugline"),
            language=data.get("language"),
            description=data.get("description"),
            ed_note=data.get("edNote"),
            take=data.get("take"),
        )
