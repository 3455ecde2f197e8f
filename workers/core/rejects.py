"""Why an input was refused: a machine-readable reason plus a human detail, never an exception."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RejectReason(StrEnum):
    """Stable reason codes; dashboards and DLQ consumers switch on these strings."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    NOT_TEXT = "not_text"
    BAD_ENVELOPE = "bad_envelope"
    NO_HEADLINE = "no_headline"
    NO_TIMESTAMP = "no_timestamp"
    BAD_TIMESTAMP = "bad_timestamp"
    NO_BODY = "no_body"
    BAD_XML = "bad_xml"
    BAD_FRAMING = "bad_framing"
    UNKNOWN_FORMAT = "unknown_format"
    INTERNAL_ERROR = "internal_error"
    STATE_TOO_LARGE = "state_too_large"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Reject:
    """A refused input. ``detail`` is for people; ``reason`` is for machines."""

    reason: RejectReason
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason.value, "detail": self.detail}
