"""``wire-ingest bench``: figures for the core (and, later, the worker on a real broker).

A benchmark prints numbers; it never asserts on them. Inputs are generated deterministically
from the seed items so two runs measure the same work.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from workers.core.events import Source
from workers.core.keys import raw_sha256
from workers.core.merge import Bucket
from workers.core.pipeline import apply, dumps, parse_raw, route_key
from workers.core.rejects import Reject

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
_STAMP = "%d.%m.%Y %H:%M"


def synthetic_items(count: int, seed: int = 7) -> Iterator[bytes]:
    """Seed-sized BTA items: about 60% originals, 30% updates and 10% re-deliveries."""
    update = (SEEDS / "000_3b5780341c97b251.txt").read_text("utf-8")
    original = (SEEDS / "000_original.txt").read_text("utf-8")
    rng = random.Random(seed)  # noqa: S311 - reproducible inputs, not secrets
    base = datetime(2025, 8, 12, 20, 57)
    published: list[tuple[datetime, int]] = []
    recent: list[bytes] = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.1 and recent:
            yield rng.choice(recent)
            continue
        if roll < 0.4 and published:
            when, story = rng.choice(published)
            text = update.replace("12.08.2025 20:57", when.strftime(_STAMP)).replace(
                "13.08.2025 01:35", (when + timedelta(hours=1 + n % 5)).strftime(_STAMP)
            )
        else:
            story = n
            when = base + timedelta(minutes=n)
            published.append((when, story))
            text = original.replace("12.08.2025 20:57", when.strftime(_STAMP))
        # Make the story's text its own, so different stories never match each other.
        text = text.replace("Путин", f"Путин-{story}").replace("Ким", f"Ким-{story}")
        raw = text.encode("utf-8")
        recent = [*recent[-50:], raw]
        yield raw


def bench_core(count: int) -> dict[str, float]:
    """decode + parse + key + merge + serialize, one process, one core."""
    items = list(synthetic_items(count))
    buckets: dict[str, Bucket] = {}
    events = rejects = 0
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
        if applied.event is not None:
            dumps(applied.event)
            events += 1
    elapsed = time.perf_counter() - started
    size = sum(len(raw) for raw in items) / len(items)
    return {
        "items": float(len(items)),
        "avg_item_bytes": round(size, 1),
        "events": float(events),
        "rejects": float(rejects),
        "seconds": round(elapsed, 3),
        "items_per_s": round(len(items) / elapsed, 1),
        "us_per_item": round(elapsed / len(items) * 1e6, 1),
    }


def run_bench(args: argparse.Namespace) -> int:
    core = bench_core(args.core_items)
    summary = {"core": core}
    print(
        f"core: {core['items_per_s']:,.0f} items/s ({core['us_per_item']} µs/item) over "
        f"{core['items']:,.0f} items of ~{core['avg_item_bytes']:,.0f} B, "
        f"{core['events']:,.0f} events",
        file=sys.stderr,
    )
    data = orjson.dumps(summary, option=orjson.OPT_INDENT_2)
    sys.stdout.buffer.write(data + b"\n")
    if args.json:
        args.json.write_bytes(data)
    return 0
