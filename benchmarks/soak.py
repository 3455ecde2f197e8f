"""A simulated year of BTA-like wire through the state path: what the state and changelog hold.

Each item goes through what the merge agent does with it, without Kafka: the retention's
admission, the core's ``apply``, the stored value with its outbox entry, a write to the
partition's RocksDB, and the expiry sweep. Every write and delete is counted as the changelog
record it would be. At each checkpoint (1, 6 and 12 months by default) it prints the state
(live keys and bytes, which is also what the compacted changelog keeps), the changelog bytes
written so far, and the time to restore one partition from its compacted changelog: its
records written in batches into a fresh RocksDB, as Faust's recovery applies them (the fetch
from Kafka comes on top; BENCHMARKS.md gives it at the measured consume rate).

The wire: ``--items-per-day`` (1,500) items, most stories of 1 to 3 versions, and each month a
few running stories that get hundreds of updates over days. Times are the items' own; nothing
reads the clock except the timers of the figures.

    python -m benchmarks.soak [--days 365] [--json out.json]
"""

from __future__ import annotations

import argparse
import heapq
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka.partitioner import murmur2
from rocksdict import Rdict, WriteBatch

from benchmarks.report import print_and_save
from workers.core.events import Source
from workers.core.formats.bta import SOFIA
from workers.core.keys import bucket_key
from workers.core.merge import Bucket
from workers.core.model import WireItem
from workers.core.pipeline import apply, dumps
from workers.core.retention import DEFAULT_RETENTION, admit, advance
from workers.stream.expiry import Expiry
from workers.stream.state import BucketState, Pending, decode_state, encode_state

START = datetime(2025, 1, 1, 6, 0, tzinfo=SOFIA)
PLACES = ("София", "Пловдив", "Варна", "Бургас", "Русе", "Брюксел", "Москва", "Вашингтон")
WORDS = [
    "правителството",
    "обяви",
    "днес",
    "нови",
    "мерки",
    "за",
    "подкрепа",
    "на",
    "бизнеса",
    "и",
    "домакинствата",
    "според",
    "министъра",
    "решението",
    "ще",
    "влезе",
    "в",
    "сила",
    "от",
    "следващия",
    "месец",
    "като",
    "средствата",
    "ще",
    "бъдат",
    "разпределени",
    "по",
    "общини",
    "експертите",
    "очакват",
    "ефект",
    "върху",
    "цените",
    "през",
    "есента",
    "докато",
    "опозицията",
    "настоява",
    "за",
    "повече",
    "прозрачност",
    "при",
    "изпълнението",
    "на",
    "програмата",
]
CHECKPOINT_DAYS = (30, 182, 365)


def _paragraph(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(35, 60))).capitalize() + "."


@dataclass
class _Story:
    first: datetime
    place: str
    headline: str
    paragraphs: list[str]
    updates_left: int
    gap: timedelta
    next_at: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.next_at = self.first


def wire(days: int, items_per_day: int, seed: int = 5) -> Iterator[WireItem]:
    """Items in time order: originals, their updates, and a few running stories a month."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not a secret
    due: list[tuple[datetime, int, _Story]] = []  # a heap: the next version of each story
    per_minute = items_per_day / (24 * 60)
    made = 0
    for minute in range(days * 24 * 60):
        now = START + timedelta(minutes=minute)
        # New stories, so that with their updates the day has about items_per_day items.
        while made < (minute + 1) * per_minute / 1.45:
            made += 1
            updates = rng.choices((0, 1, 2), weights=(65, 25, 10))[0]
            if rng.random() < 3 / 30 / (items_per_day / 1.45):  # ~3 running stories a month
                updates = rng.randint(150, 600)
            gap = timedelta(minutes=rng.randint(15, 45) if updates > 2 else rng.randint(20, 240))
            story = _Story(
                now,
                rng.choice(PLACES),
                f"Новина {made}: " + " ".join(rng.choice(WORDS) for _ in range(8)),
                [_paragraph(rng) for _ in range(rng.randint(3, 6))],
                updates,
                gap,
            )
            heapq.heappush(due, (story.next_at, made, story))
        while due and due[0][0] <= now:
            _, number, story = heapq.heappop(due)
            is_update = story.next_at > story.first
            if is_update:
                story.paragraphs = [*story.paragraphs[-8:], _paragraph(rng)]
                story.updates_left -= 1
            yield WireItem(
                provider="bta",
                headline=story.headline + (f" ({story.updates_left})" if is_update else ""),
                is_update=is_update,
                first_created=story.first,
                updated=story.next_at if is_update else None,
                paragraphs=tuple(story.paragraphs),
                places=(story.place,),
                agency="БТА",
            )
            if story.updates_left > 0:
                story.next_at = now + story.gap
                heapq.heappush(due, (story.next_at, number, story))


class _PartitionTable:
    """One merge partition's table: a RocksDB, with every write counted as a changelog record."""

    def __init__(self, path: Path) -> None:
        self.db = Rdict(str(path))
        self.data = self
        self.changelog_bytes = 0
        self.changelog_records = 0

    def _db_for_partition(self, partition: int) -> Rdict:  # noqa: ARG002 - Faust's signature
        return self.db

    def get(self, key: bytes) -> bytes | None:
        value = self.db.get(key)
        return None if value is None else bytes(value)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.db[key] = value
        self.changelog_bytes += len(key) + len(value)
        self.changelog_records += 1

    def __delitem__(self, key: bytes) -> None:
        del self.db[key]
        self.changelog_bytes += len(key)
        self.changelog_records += 1

    def live(self) -> tuple[int, int, int]:
        """Keys, bytes, and the bytes of those that are outbox events (see stream/state.py)."""
        keys = size = outbox = 0
        for key, value in self.db.items():
            assert isinstance(key, bytes)  # the table's keys and values are raw bytes
            assert isinstance(value, bytes)
            keys += 1
            size += len(key) + len(value)
            state = decode_state(value) if key.startswith(b"bta:") else None
            if state is not None:
                outbox += sum(len(data) for e in state.outbox for _, data in e.events)
        return keys, size, outbox


def _restore_seconds(table: _PartitionTable, path: Path) -> float:
    """Write the partition's compacted changelog into a fresh RocksDB, in batches."""
    records = list(table.db.items())
    started = time.perf_counter()
    db = Rdict(str(path))
    for start in range(0, len(records), 1000):
        batch = WriteBatch()
        for key, value in records[start : start + 1000]:
            batch.put(key, value)
        db.write(batch)
    db.flush()
    elapsed = time.perf_counter() - started
    db.close()
    shutil.rmtree(path, ignore_errors=True)
    return elapsed


def run(days: int, items_per_day: int, partitions: int, workdir: Path) -> dict[str, Any]:
    tables = [_PartitionTable(workdir / f"p{p}") for p in range(partitions)]
    expiries = [Expiry(t, DEFAULT_RETENTION, partitions) for t in tables]
    offsets = [0] * partitions
    counts = {"items": 0, "events": 0, "expired_refused": 0, "buckets_expired": 0}
    largest_value = 0
    checkpoints: list[dict[str, Any]] = []
    marks = sorted({d for d in CHECKPOINT_DAYS if d <= days} | {days})
    started = time.perf_counter()
    for item in wire(days, items_per_day):
        counts["items"] += 1
        key = bucket_key(item).encode()
        partition = (murmur2(key) & 0x7FFFFFFF) % partitions
        table, expiry = tables[partition], expiries[partition]
        offset = offsets[partition]
        offsets[partition] += 1
        stored = decode_state(table.get(key))
        state = stored or BucketState(Bucket())
        stream_time = advance(expiry.clock(partition).stream_time, item, None)
        if admit(stored.bucket if stored else None, item, stream_time, expiry.retention):
            counts["expired_refused"] += 1
            counts["buckets_expired"] += expiry.after_item(partition, stream_time, committed=offset)
            continue
        source = Source("0" * 64, topic="wire.raw", partition=partition, offset=offset)
        applied = apply(state.bucket, item, source)
        sent = tuple((e["storyKey"], dumps(e)) for e in applied.events)
        counts["events"] += len(sent)
        # Offsets commit every second: the outbox keeps about the current input's entry.
        pending = Pending(partition, offset, sent) if sent else None
        value = encode_state(state.advance(applied.bucket, pending, offset))
        largest_value = max(largest_value, len(value))
        table[key] = value
        counts["buckets_expired"] += expiry.after_item(
            partition,
            stream_time,
            new_buckets=int(stored is None),
            new_stories=len(applied.bucket.stories) - len(state.bucket.stories),
            committed=offset,
        )
        day = (stream_time - START).days + 1
        if marks and day > marks[0]:
            checkpoints.append(_checkpoint(marks.pop(0), tables, workdir, counts, largest_value))
            print(f"soak: day {checkpoints[-1]['day']} done", file=sys.stderr, flush=True)
    while marks:
        checkpoints.append(_checkpoint(marks.pop(0), tables, workdir, counts, largest_value))
    for table in tables:
        table.db.close()
    return {
        "days": days,
        "items_per_day": items_per_day,
        "partitions": partitions,
        "retention_days": DEFAULT_RETENTION.days,
        "seconds": round(time.perf_counter() - started, 1),
        "checkpoints": checkpoints,
    }


def _checkpoint(
    day: int,
    tables: list[_PartitionTable],
    workdir: Path,
    counts: dict[str, int],
    largest_value: int,
) -> dict[str, Any]:
    live = [t.live() for t in tables]
    biggest = max(range(len(tables)), key=lambda p: live[p][1])
    return {
        "day": day,
        **counts,
        "state_keys": sum(k for k, _, _ in live),
        "state_bytes": sum(b for _, b, _ in live),
        "state_outbox_bytes": sum(o for _, _, o in live),
        "largest_value_bytes": largest_value,
        "changelog_records_written": sum(t.changelog_records for t in tables),
        "changelog_bytes_written": sum(t.changelog_bytes for t in tables),
        "restore_partition": biggest,
        "restore_records": live[biggest][0],
        "restore_bytes": live[biggest][1],
        "restore_seconds": round(_restore_seconds(tables[biggest], workdir / "restore"), 3),
    }


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:,.1f} MiB"


def table_text(result: dict[str, Any]) -> str:
    rows = [
        f"soak: {result['items_per_day']:,} items/day, {result['partitions']} partitions, "
        f"retention {result['retention_days']} days, {result['seconds']} s",
        f"{'day':>4} {'items':>9} {'events':>9} {'refused':>7} {'expired':>8} {'keys':>6} "
        f"{'state':>10} {'(outbox)':>10} {'changelog written':>18} {'largest value':>13} "
        f"{'restore 1 partition':>28}",
    ]
    for c in result["checkpoints"]:
        rows.append(
            f"{c['day']:>4} {c['items']:>9,} {c['events']:>9,} {c['expired_refused']:>7,} "
            f"{c['buckets_expired']:>8,} {c['state_keys']:>6,} {_mib(c['state_bytes']):>10} "
            f"{_mib(c['state_outbox_bytes']):>10} "
            f"{_mib(c['changelog_bytes_written']):>18} "
            f"{c['largest_value_bytes'] / 1024:>10,.1f} KiB "
            f"{c['restore_records']:>6,} rec {_mib(c['restore_bytes']):>9} "
            f"{c['restore_seconds'] * 1000:>6,.0f} ms"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--items-per-day", type=int, default=1500)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wire-soak-") as workdir:
        result = run(args.days, args.items_per_day, args.partitions, Path(workdir))
    print_and_save(table_text(result), result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
