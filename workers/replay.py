"""Run the core over files, exactly as the worker runs it over a topic (no Kafka involved)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from workers import __version__
from workers.core import keys
from workers.core.decode import DEFAULT_MAX_BYTES
from workers.core.events import Source
from workers.core.formats import FORMAT_HEADER, RECEIVED_AT_HEADER
from workers.core.merge import Bucket
from workers.core.pipeline import apply, dlq_record, parse_input, route_key
from workers.core.rejects import Reject
from workers.core.retention import DEFAULT_RETENTION, admit, advance

# Files a directory of raw items often holds that are not items: never sent or replayed.
NOT_ITEMS = ("README*", "LICENSE*", "NOTICE*", "*.md")


def expand_paths(
    paths: Iterable[Path], notice: Callable[[str], None] | None = None
) -> Iterator[Path]:
    """Files as given; a directory gives its regular files in name order, except hidden ones
    and :data:`NOT_ITEMS`. Subfolders are not searched. ``notice`` hears of every file or
    folder left out, and of empty files (each is sent as an empty item, rejected as "empty")."""
    say = notice or (lambda _text: None)
    for path in paths:
        if not path.is_dir():
            if path.is_file() and path.stat().st_size == 0:
                say(f"{path} is empty: it goes as an empty item (rejected as 'empty')")
            yield path
            continue
        for entry in sorted(path.iterdir()):
            if entry.name.startswith("."):
                say(f"skipping the hidden {'folder' if entry.is_dir() else 'file'} {entry}")
            elif entry.is_dir():
                say(f"skipping the subfolder {entry} (folders are not searched)")
            elif not entry.is_file():
                say(f"skipping {entry}: not a regular file")
            elif any(entry.match(pattern) for pattern in NOT_ITEMS):
                say(f"skipping {entry}: documentation, not a raw item")
            else:
                if entry.stat().st_size == 0:
                    say(f"{entry} is empty: it goes as an empty item (rejected as 'empty')")
                yield entry


@dataclass(frozen=True, slots=True)
class Fed:
    """What one input produced: events (none for a duplicate) or a DLQ record."""

    events: tuple[dict[str, Any], ...]
    reject: dict[str, Any] | None


@dataclass
class ReplayResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def latest_by_story(self) -> dict[str, dict[str, Any]]:
        """The newest event per story key, as ``stories.latest`` holds them (merged keys too)."""
        latest: dict[str, dict[str, Any]] = {}
        for event in self.events:
            latest[event["storyKey"]] = event
        return latest

    def live_stories(self) -> dict[str, dict[str, Any]]:
        """The newest event of every story that was not merged into another one."""
        return {
            key: event
            for key, event in self.latest_by_story().items()
            if event["eventType"] != "story.merged"
        }


class Replayer:
    """In-memory state per bucket; the same parse/route/admit/apply calls as the Faust agents.

    Stream time is one clock over the whole replay (the worker keeps one per partition).
    Expired buckets are refused like the worker refuses them, but kept in memory: a replay
    is a day or a week of files, not a year.
    """

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        retention: timedelta = DEFAULT_RETENTION,
        *,
        received_at: datetime | None = None,
        wire_format: str | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.retention = retention
        # When the inputs were received (formats whose times lack a year need it): this, else
        # each file's modification time. ``wire_format`` overrides detection, like the
        # worker's ``wire-format`` header.
        self.received_at = received_at
        self.wire_format = wire_format
        self.stream_time: datetime | None = None
        self.buckets: dict[str, Bucket] = {}
        self.result = ReplayResult()

    def _reject(self, reject: Reject, raw: bytes, source: Source) -> Fed:
        self.result.counts["rejected"] += 1
        record = dlq_record(reject, raw, source, __version__, self._input_headers())
        self.result.rejects.append(record)
        return Fed((), record)

    def _input_headers(self) -> dict[str, str]:
        """The overrides this replay read every input with, as the worker's input headers:
        a DLQ record keeps them, so the input can be read again as it was read here."""
        headers: dict[str, str] = {}
        if self.wire_format is not None:
            headers[FORMAT_HEADER] = self.wire_format
        if self.received_at is not None:
            headers[RECEIVED_AT_HEADER] = self.received_at.isoformat()
        return headers

    def feed(self, raw: bytes, source: Source, received_at: datetime | None = None) -> Fed:
        """Process one raw input: its events, a DLQ record, or nothing for a duplicate.

        An input of several items (a NewsML-G2 ``newsMessage``) gives the events of each; if
        items of it are refused as expired, the input gets one DLQ record, for the first of
        them (the worker writes one per refused item, each with the input's bytes).
        """
        self.result.counts["inputs"] += 1
        parsed = parse_input(
            raw,
            self.max_bytes,
            received_at=self.received_at or received_at,
            hint=self.wire_format,
        )
        if isinstance(parsed, Reject):
            return self._reject(parsed, raw, source)
        events: list[dict[str, Any]] = []
        refused: dict[str, Any] | None = None
        for item in parsed:
            bucket_key = route_key(item)
            bucket = self.buckets.get(bucket_key)
            self.stream_time = advance(self.stream_time, item, source.timestamp_ms)
            expired = admit(bucket, item, self.stream_time, self.retention)
            if expired is not None:
                refused = refused or self._reject(expired, raw, source).reject
                continue
            self.result.counts["parsed"] += 1
            applied = apply(bucket, item, source)
            self.buckets[bucket_key] = applied.bucket
            self.result.counts[applied.outcome.value] += 1
            self.result.events.extend(applied.events)
            events.extend(applied.events)
        return Fed(tuple(events), refused)

    def feed_file(self, path: Path) -> Fed:
        raw = path.read_bytes()
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return self.feed(raw, Source(raw_sha256=keys.raw_sha256(raw), file=str(path)), modified)

    def summary(self) -> str:
        """One line a person can check a day of wire with: inputs, outcomes, stories, twins."""
        c = self.result.counts
        stories = [s for bucket in self.buckets.values() for s in bucket.views()]
        versions = sum(story.total for story in stories)
        places: Counter[tuple[str, str | None]] = Counter()
        for bucket_key, bucket in self.buckets.items():
            for story in bucket.views():
                places[(bucket_key, keys.first_place(story.newest))] += 1
        twins = sum(n for n in places.values() if n > 1)
        regrouped = sum(1 for e in self.result.events if e["eventType"] == "story.regrouped")
        merged = sum(1 for e in self.result.events if e["eventType"] == "story.merged")
        return (
            f"replay: {c['inputs']} {_plural(c['inputs'], 'input', 'inputs')}, "
            f"{c['parsed']} parsed, {c['rejected']} rejected, {c['duplicate']} "
            f"{_plural(c['duplicate'], 'duplicate', 'duplicates')}; {len(stories)} "
            f"{_plural(len(stories), 'story', 'stories')} of {versions} "
            f"{_plural(versions, 'version', 'versions')} "
            f"({sum(1 for s in stories if s.total > 1)} with updates, {twins} twins "
            f"sharing a minute and place); events: {c['created']} created, {c['updated']} "
            f"updated, {c['backfilled']} backfilled, {regrouped} regrouped, {merged} merged"
        )


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many
