"""Immutable values that flow through the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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

    @property
    def version_created(self) -> datetime:
        """The version's own time: updated when the wire says so, else first published."""
        return self.updated if self.updated is not None else self.first_created

    @property
    def provider_id(self) -> str | None:
        return self.envelope.provider_id

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
        )
