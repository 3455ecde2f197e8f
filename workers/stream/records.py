"""The repartition record: what the parse agent hands the merge agent for one item.

It carries the parsed item (so the merge agent does not parse again), where the wire bytes
came from, the input headers, and the wire bytes themselves (so that a merge-side refusal
can dead-letter what was received). Written and read by msgspec straight from and into the
core's dataclasses: one JSON array, the bytes in base64 (JSON has no bytes), about half the
work of building dicts and reading them back. Records in the JSON-object layout of the
release before are still read, so an upgrade with records in flight loses none.
"""

from __future__ import annotations

from base64 import b64decode
from dataclasses import dataclass

import msgspec
import orjson

from workers.core.events import Source
from workers.core.model import WireItem


class RecordError(ValueError):
    """A repartition record this release cannot read."""


@dataclass(frozen=True, slots=True)
class Forwarded:
    """One parsed item on its way to its bucket's partition."""

    item: WireItem
    source: Source
    raw: bytes
    headers: dict[str, str]


# [item, source, raw, headers] (item and source: the dataclasses' fields by name)
_Row = tuple[WireItem, Source, bytes, dict[str, str]]
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Row)


def encode_forwarded(forwarded: Forwarded) -> bytes:
    row: _Row = (forwarded.item, forwarded.source, forwarded.raw, forwarded.headers)
    return _encoder.encode(row)


def decode_forwarded(value: bytes) -> Forwarded:
    """The record's content, or :class:`RecordError`."""
    if value[:1] == b"{":
        return _decode_object(value)
    try:
        item, source, raw, headers = _decoder.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RecordError(str(exc)) from exc
    return Forwarded(item, source, raw, headers)


def decode_wire_input(value: bytes) -> tuple[bytes, Source, dict[str, str]]:
    """Only the wire bytes, their origin and headers: what a dead letter needs, read even when
    the item in the record is what cannot be read."""
    if value[:1] == b"{":
        try:
            payload = orjson.loads(value)
            headers = payload.get("headers") or {}
            return (
                b64decode(payload["raw"], validate=True),
                Source.from_dict(payload["source"]),
                {str(k): str(v) for k, v in headers.items()},
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RecordError(str(exc)) from exc
    try:
        _item, source, raw, headers = msgspec.json.decode(
            value, type=tuple[msgspec.Raw, Source, bytes, dict[str, str]]
        )
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RecordError(str(exc)) from exc
    return raw, source, headers


def _decode_object(value: bytes) -> Forwarded:
    """A record of the release before: a JSON object of the ``to_dict`` forms."""
    try:
        payload = orjson.loads(value)
        item = WireItem.from_dict(payload["item"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(str(exc)) from exc
    raw, source, headers = decode_wire_input(value)
    return Forwarded(item, source, raw, headers)
