"""The core benchmark: decode + parse + key + merge + serialize, one process, no broker."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable

from benchmarks.items import synthetic_items
from workers.core.events import Source
from workers.core.keys import raw_sha256
from workers.core.merge import Bucket, merge
from workers.core.model import WireItem
from workers.core.pipeline import apply, dumps, parse_raw, route_key
from workers.core.rejects import Reject


def bench_core(count: int) -> dict[str, float]:
    """decode + parse + key + merge + serialize, one process, one core."""
    items = list(synthetic_items(count))
    buckets: dict[str, Bucket] = {}
    events = rejects = 0
    outcomes: dict[str, int] = {}
    started = time.perf_counter()
    for offset, raw in enumerate(items):
        parsed = parse_raw(raw)
        if isinstance(parsed, Reject):
            rejects += 1
            continue
        key = route_key(parsed)
        source = Source(raw_sha256(raw), topic="bench", partition=0, offset=offset)
        applied = apply(buckets.get(key), parsed, source)
        buckets[key] = applied.bucket
        outcomes[applied.outcome.value] = outcomes.get(applied.outcome.value, 0) + 1
        for event in applied.events:
            dumps(event)
            events += 1
    elapsed = time.perf_counter() - started
    size = sum(len(raw) for raw in items) / len(items)
    return {
        "items": float(len(items)),
        "avg_item_bytes": round(size, 1),
        "events": float(events),
        "rejects": float(rejects),
        **{f"outcome_{name}": float(n) for name, n in sorted(outcomes.items())},
        "seconds": round(elapsed, 3),
        "items_per_s": round(len(items) / elapsed, 1),
        "us_per_item": round(elapsed / len(items) * 1e6, 1),
    }


def merge_timed(
    items: Iterable[WireItem], marks: list[int], around: int
) -> tuple[Bucket, dict[str, float], dict[str, int]]:
    """Merge ``items`` one at a time into one bucket, timing the ``around`` arrivals up to
    each mark (the count merged with it): the bucket, each mark's median ms, and how many
    arrivals each median is of."""
    timed: dict[int, list[float]] = {mark: [] for mark in marks}
    bucket: Bucket | None = None
    for count, item in enumerate(items, 1):
        started = time.perf_counter()
        bucket = merge(bucket, item).bucket
        took = time.perf_counter() - started
        for mark in marks:
            if mark - around < count <= mark:
                timed[mark].append(took)
    assert bucket is not None
    medians = {str(m): round(statistics.median(t) * 1000, 3) for m, t in timed.items()}
    return bucket, medians, {str(mark): len(times) for mark, times in timed.items()}
