"""The processor that the worker and ``wire-ingest replay`` share.

Two steps, split where the stream repartitions:

1. :func:`parse_input` — bytes to the :class:`WireItem` values they hold (one, or several for
   a NewsML-G2 ``newsMessage``) or a :class:`Reject` (stateless; runs where the raw message
   landed). The format is detected, or named by a hint (:mod:`workers.core.formats`).
2. :func:`apply` — merge a parsed item into the state of its bucket and build the event
   (stateful; runs in the partition that owns :func:`route_key`).

Neither step raises: an unexpected error becomes a ``internal_error`` reject, so a poison pill
can never stop a stream.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from workers.core import formats, keys
from workers.core.decode import DEFAULT_MAX_BYTES, DLQ_MAX_RAW_BYTES
from workers.core.events import Source, to_events
from workers.core.merge import Bucket, Merged, Outcome, merge
from workers.core.model import WireItem
from workers.core.rejects import Reject, RejectReason

log = logging.getLogger(__name__)


def parse_input(
    raw: bytes,
    max_bytes: int = DEFAULT_MAX_BYTES,
    *,
    received_at: datetime | None = None,
    hint: str | None = None,
) -> tuple[WireItem, ...] | Reject:
    """The items of one raw message value, or why there are none; never raises.

    ``received_at``: the Kafka timestamp (formats whose times lack a year take it from there);
    ``hint``: a format name that overrides detection (the ``wire-format`` header).
    """
    try:
        return formats.parse_input(raw, max_bytes=max_bytes, received_at=received_at, hint=hint)
    except Exception as exc:  # the core's last line of defence: a bug must not stop a stream
        log.exception("parser failed on a %d-byte input", len(raw))
        return Reject(RejectReason.INTERNAL_ERROR, f"parser error: {type(exc).__name__}")


def parse_raw(
    raw: bytes,
    max_bytes: int = DEFAULT_MAX_BYTES,
    *,
    received_at: datetime | None = None,
    hint: str | None = None,
) -> WireItem | Reject:
    """The first item of :func:`parse_input`: for inputs of one item (tools and tests)."""
    parsed = parse_input(raw, max_bytes, received_at=received_at, hint=hint)
    return parsed if isinstance(parsed, Reject) else parsed[0]


def route_key(item: WireItem) -> str:
    """The repartition key: all versions of one story share it."""
    return keys.bucket_key(item)


@dataclass(frozen=True, slots=True)
class Applied:
    """New bucket state, what the merge decided, and the events to emit (none: a duplicate).

    ``events`` holds the arrival's own story's event first, then one for each other story
    the arrival regrouped; ``state_changed`` is False only for a plain duplicate.
    """

    bucket: Bucket
    outcome: Outcome
    story_key: str
    events: tuple[dict[str, Any], ...]
    state_changed: bool


def apply(bucket: Bucket | None, item: WireItem, source: Source) -> Applied:
    """Merge one version into its bucket and build the canonical events."""
    merged: Merged = merge(bucket, item)
    return Applied(
        merged.bucket,
        merged.outcome,
        merged.story.key,
        tuple(to_events(merged, source)),
        merged.state_changed,
    )


def dumps(value: dict[str, Any]) -> bytes:
    """The one JSON encoding used for events, DLQ records and state (UTF-8, no spaces)."""
    return orjson.dumps(value)


def dlq_record(
    reject: Reject,
    raw: bytes,
    source: Source,
    worker_version: str,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A DLQ record keeps the original bytes, so nothing rejected is ever lost.

    ``headers``: the input headers the raw message came with (``wire-format``,
    ``wire-received-at``), so that a replay of the record reads it as it was read.

    Only a value larger than :data:`DLQ_MAX_RAW_BYTES` (necessarily a ``too_large`` reject)
    keeps its first that many bytes, flagged ``rawTruncated``; its size and sha256 still
    describe the whole value, which stays on the raw topic at ``source``.
    """
    kept = raw[:DLQ_MAX_RAW_BYTES]
    record: dict[str, Any] = {
        "reason": reject.reason.value,
        "detail": reject.detail,
        "rawSha256": source.raw_sha256,
        "rawSize": len(raw),
        "rawBase64": base64.b64encode(kept).decode("ascii"),
        "source": source.to_dict(),
        "workerVersion": worker_version,
    }
    if len(kept) < len(raw):
        record["rawTruncated"] = True
    if headers:
        record["headers"] = dict(headers)
    return record
