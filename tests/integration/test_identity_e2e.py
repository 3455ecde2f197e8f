"""The story-identity examples through the real worker on the real broker, in every arrival order.

``tests/unit/core/test_identity.py`` replays every arrival order of each group of
``tests/fixtures/identity/`` through ``wire-ingest replay``'s core. Here the same orders go
through one ``wire-ingest worker`` subprocess: every permutation gets its own bucket (its files
are rewritten to a date of its own), all permutations are produced to a one-partition raw
topic in order, and the worker's ``stories.events``/``stories.latest`` must group the files as
the GROUPS table wants and equal, event for event, what a replay of the same bytes in the same
order gives (all but ``source``, which names Kafka coordinates in one and files in the other).
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson
import pytest

from tests.support.kafka_io import Record, create_topic, produce, read_all
from tests.support.schemas import validate_event
from tests.support.waiting import wait_until
from tests.support.worker import Names, WorkerProcess
from tests.unit.core.test_identity import GROUPS, identity_file
from workers.core import keys
from workers.core.events import Source
from workers.core.model import WireItem
from workers.core.pipeline import parse_raw, route_key
from workers.replay import Replayer

pytestmark = pytest.mark.integration

_DATE = re.compile(rb"\b(\d{2})\.(\d{2})\.(\d{4})\b")

# The groups' files are first published on 03.12, 04.12 and 05.12.2026 (two days apart at
# most). Shifting permutation n by 3 * (n + 1) days gives every permutation a date no other
# permutation of any group has, so each is a bucket (provider + first-published minute) of
# its own. Their times are daytime, never in an hour Sofia's clocks skip or repeat, so the
# minutes map one to one.
_SHIFT_DAYS = 3


@dataclass(frozen=True)
class Permutation:
    label: str  # "group: file, file, ..." for failure messages
    group: str
    order: tuple[str, ...]
    raws: tuple[bytes, ...]  # the rewritten files, in arrival order
    hashes: dict[str, str]  # content hash -> file name
    headlines: dict[str, str]  # file name -> parsed headline


def _shift_dates(raw: bytes, days: int) -> bytes:
    def shifted(match: re.Match[bytes]) -> bytes:
        day, month, year = (int(g) for g in match.groups())
        new = date(year, month, day) + timedelta(days=days)
        return f"{new.day:02d}.{new.month:02d}.{new.year:04d}".encode()

    out, count = _DATE.subn(shifted, raw)
    assert count >= 1, "an identity file without a DD.MM.YYYY stamp"
    return out


def _permutations() -> list[Permutation]:
    perms = []
    counter = 0
    for group in sorted(GROUPS):
        files = GROUPS[group][0]
        for order in itertools.permutations(files):
            counter += 1
            raws = tuple(
                _shift_dates(identity_file(name).read_bytes(), _SHIFT_DAYS * counter)
                for name in order
            )
            hashes, headlines = {}, {}
            for name, raw in zip(order, raws, strict=True):
                item = parse_raw(raw)
                assert isinstance(item, WireItem), (name, item)
                hashes[keys.content_hash(item)] = name
                headlines[name] = item.headline
            perms.append(
                Permutation(f"{group}: {', '.join(order)}", group, order, raws, hashes, headlines)
            )
    return perms


def _stories_by_file(
    latest: dict[str, dict[str, Any]], perms: list[Permutation]
) -> dict[str, dict[frozenset[str], dict[str, Any]]]:
    """Permutation label -> {the files a live story holds: its latest event}."""
    owner = {h: p for p in perms for h in p.hashes}
    out: dict[str, dict[frozenset[str], dict[str, Any]]] = defaultdict(dict)
    for key, event in latest.items():
        if event["eventType"] == "story.merged":
            continue
        owners = {owner[v["contentHash"]].label for v in event["history"]}
        assert len(owners) == 1, (key, owners)  # a story never spans two buckets
        (label,) = owners
        perm = next(p for p in perms if p.label == label)
        members = frozenset(perm.hashes[v["contentHash"]] for v in event["history"])
        assert members not in out[label], (label, sorted(members))
        out[label][members] = event
    return out


def _check_grouping(what: str, latest: dict[str, dict[str, Any]], perms: list[Permutation]) -> None:
    """Every permutation's live stories hold the wanted files, with the wanted canonical."""
    stories = _stories_by_file(latest, perms)
    for perm in perms:
        _, wanted, canonical = GROUPS[perm.group]
        got = stories.get(perm.label, {})
        assert set(got) == wanted, (what, perm.label, sorted(map(sorted, got)))
        for members, event in got.items():
            (head_file,) = members & canonical
            headline = event["item"]["headlines"][0]["value"]
            assert headline == perm.headlines[head_file], (what, perm.label, event["storyKey"])


def _sans_source(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "source"}


def _by_key(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        out[event["storyKey"]].append(_sans_source(event))
    return dict(out)


def _latest_of(records: list[Record]) -> dict[str, dict[str, Any]]:
    latest = {}
    for record in records:  # one key lives in one partition: its last record is its newest
        assert record.key is not None
        value = orjson.loads(record.value or b"")
        assert record.key.decode() == value["storyKey"]
        latest[value["storyKey"]] = value
    return latest


def _diff(
    got: dict[str, list[dict[str, Any]]],
    want: dict[str, list[dict[str, Any]]],
    label_of: dict[str, str],
) -> str:
    """Per story key where the worker and the replay differ: which permutation, which events."""
    lines = []
    for key in sorted(set(got) | set(want)):
        mine, theirs = got.get(key, []), want.get(key, [])
        if mine == theirs:
            continue
        lines.append(f"{label_of.get(key, '?')} / {key}:")
        for index in range(max(len(mine), len(theirs))):
            a = mine[index] if index < len(mine) else None
            b = theirs[index] if index < len(theirs) else None
            if a == b:
                continue
            fields = sorted(
                k for k in set(a or {}) | set(b or {}) if (a or {}).get(k) != (b or {}).get(k)
            )
            lines.append(
                f"  #{index}: worker {_brief(a)} | replay {_brief(b)} | differ in {fields}"
            )
    return "\n".join(lines)


def _brief(event: dict[str, Any] | None) -> str:
    if event is None:
        return "-"
    return f"{event['eventType']} v{event['version']}" + (
        f" ->{event['mergedInto']}" if "mergedInto" in event else ""
    )


def _bucket(raw: bytes) -> str:
    item = parse_raw(raw)
    assert isinstance(item, WireItem)
    return route_key(item)


def _metric(worker: WorkerProcess, name: str) -> float:
    return sum(v for k, v in worker.metrics().items() if k.split("{")[0] == name)


def test_identity_examples_in_every_arrival_order_through_the_worker(
    kafka_bootstrap: str, names: Names, spawn: Any
) -> None:
    perms = _permutations()
    assert len(perms) == 76  # 2 + 6 + 2 + 2 + 2 + 24 + 6 + 6 + 6 + 6 + 6 + 6 + 2
    bucket_of = {p.label: {_bucket(raw) for raw in p.raws} for p in perms}
    assert all(len(b) == 1 for b in bucket_of.values()), bucket_of
    assert len(set.union(*bucket_of.values())) == len(perms), "two permutations share a bucket"
    inputs = [raw for perm in perms for raw in perm.raws]

    # What `wire-ingest replay` makes of the same bytes in the same order.
    replayer = Replayer()
    for index, raw in enumerate(inputs):
        fed = replayer.feed(raw, Source(keys.raw_sha256(raw), file=f"input-{index}"))
        assert fed.reject is None, index
    expected = replayer.result.events
    _check_grouping("replay", replayer.result.live_stories(), perms)

    def label_of(events: list[dict[str, Any]]) -> dict[str, str]:
        """Story key -> the permutation whose bucket it is in (by its trigger's content hash)."""
        owner = {h: p.label for p in perms for h in p.hashes}
        return {e["storyKey"]: owner[e["trigger"]["contentHash"]] for e in events}

    # Order: the raw topic has ONE partition, so the single parse agent reads the inputs in the
    # order produced; it forwards each to the repartition topic keyed by its bucket, so all of
    # one permutation's items go, in that order, to one repartition partition, which the merge
    # agent consumes in order. WIRE_PARTITIONS (repartition topic, changelog) can stay 4: order
    # only matters within a bucket, and a bucket is one key of the repartition topic.
    create_topic(kafka_bootstrap, names.raw, 1)
    worker = spawn().start()
    worker.wait_ready()
    produce(kafka_bootstrap, names.raw, inputs, partitions=1)

    def drained() -> bool:
        consumed = _metric(worker, "wire_ingest_items_consumed_total")
        emitted = _metric(worker, "wire_ingest_events_emitted_total")
        duplicates = _metric(worker, "wire_ingest_duplicates_total")
        return (
            consumed >= len(inputs)
            and emitted >= len(expected)
            and duplicates >= replayer.result.counts["duplicate"]
        )

    def progress() -> str:
        events = [orjson.loads(r.value or b"") for r in read_all(kafka_bootstrap, names.events)]
        return (
            f"{len(events)} of {len(expected)} events\n"
            f"{_diff(_by_key(events), _by_key(expected), label_of(events + expected))}\n"
            f"--- worker log\n{worker.log_tail(80)}"
        )

    wait_until(drained, 120, f"{len(inputs)} inputs merged", interval=0.25, on_timeout=progress)

    events = [orjson.loads(r.value or b"") for r in read_all(kafka_bootstrap, names.events)]
    latest = _latest_of(read_all(kafka_bootstrap, names.latest))
    dlq = read_all(kafka_bootstrap, names.dlq)
    labels = label_of(events + expected)

    # 4. Valid events, no dead letters, versions only grow per story key.
    for event in events:
        validate_event(event)
    assert dlq == [], [orjson.loads(r.value or b"")["reason"] for r in dlq]
    last: dict[str, int] = defaultdict(int)
    for event in events:
        key = event["storyKey"]
        assert event["version"] > last[key], (labels.get(key), key, event["version"])
        last[key] = event["version"]

    # 3. Event for event what the replay gives, in the same order per story key.
    got, want = _by_key(events), _by_key(expected)
    assert got == want, "worker and replay differ:\n" + _diff(got, want, labels)

    # stories.latest holds each key's newest event (merged keys too).
    assert {k: _sans_source(v) for k, v in latest.items()} == {
        k: _sans_source(v) for k, v in replayer.result.latest_by_story().items()
    }

    # 1 and 2. The live stories group the files as GROUPS wants, with the wanted canonicals.
    live = {k: v for k, v in latest.items() if v["eventType"] != "story.merged"}
    _check_grouping("worker", live, perms)
    assert worker.stop() < 15
