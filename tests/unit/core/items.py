"""Small builders of parsed items and events shared by the core tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support.fixtures import SEED_ORIGINAL, SEED_UPDATED
from workers.core import keys
from workers.core.events import Source
from workers.core.formats.bta import SOFIA
from workers.core.merge import Bucket, Merged, merge
from workers.core.model import WireItem
from workers.core.pipeline import parse_raw
from workers.core.rejects import Reject
from workers.replay import Replayer

SEED_MINUTE = datetime(2025, 8, 12, 20, 57, tzinfo=SOFIA)


def parsed_file(path: Path) -> WireItem:
    item = parse_raw(path.read_bytes())
    assert isinstance(item, WireItem), item
    return item


def parsed_bytes(raw: bytes) -> WireItem:
    item = parse_raw(raw)
    assert isinstance(item, WireItem), item
    return item


def rejected_bytes(raw: bytes) -> Reject:
    reject = parse_raw(raw)
    assert isinstance(reject, Reject), reject
    return reject


def seed_updated() -> WireItem:
    return parsed_file(SEED_UPDATED)


def seed_original() -> WireItem:
    return parsed_file(SEED_ORIGINAL)


def wire_item(
    paragraphs: tuple[str, ...],
    *,
    headline: str = "Заглавие на новината",
    places: tuple[str, ...] = ("София",),
    first: datetime = SEED_MINUTE,
    updated: datetime | None = None,
) -> WireItem:
    return WireItem(
        provider="bta",
        headline=headline,
        is_update=updated is not None,
        first_created=first,
        updated=updated,
        paragraphs=paragraphs,
        places=places,
        agency="БТА",
    )


def source_of(raw: bytes, name: str | None = None) -> Source:
    return Source(raw_sha256=keys.raw_sha256(raw), file=name)


def replay(raws: list[bytes]) -> Replayer:
    """Feed raw items, in order, to a fresh Replayer."""
    replayer = Replayer()
    for index, raw in enumerate(raws):
        replayer.feed(raw, source_of(raw, f"input-{index}"))
    return replayer


def final_items(replayer: Replayer) -> dict[str, dict[str, Any]]:
    return {key: event["item"] for key, event in replayer.result.latest_by_story().items()}


def merged_all(items: list[WireItem]) -> tuple[Bucket, list[Merged]]:
    """Merge items one by one into one bucket: the final bucket and every step's result."""
    bucket: Bucket | None = None
    results: list[Merged] = []
    for item in items:
        result = merge(bucket, item)
        bucket = result.bucket
        results.append(result)
    assert bucket is not None
    return bucket, results
