"""The bench's no-op baselines write the records they stand for, on a real broker.

A baseline that skipped a record (a table write without its changelog record, one output
instead of two) would look faster than the pipeline it is the floor of, and every ratio the
bench prints against it would flatter ours.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks.items import synthetic_items
from benchmarks.kafka import PARTITIONS, Child, repartition_topic, topics_before_start
from tests.support.kafka_io import create_topic, produce, read_all
from tests.support.waiting import wait_until
from tests.support.worker import Names

pytestmark = pytest.mark.integration

COUNT = 24
READY = "[^Worker]: Ready"  # Faust's log line once recovery is over and the fetcher runs


def _values(bootstrap: str, topic: str) -> Counter[bytes]:
    return Counter(r.value for r in read_all(bootstrap, topic) if r.value is not None)


@pytest.mark.parametrize("kind", ["noop_faust", "noop_faust_2hop", "noop_faust_stateful"])
def test_a_baseline_writes_the_records_it_stands_for(
    kafka_bootstrap: str, names: Names, tmp_path: Path, kind: str
) -> None:
    for topic in topics_before_start(kind, names):  # as the bench does
        create_topic(kafka_bootstrap, topic, PARTITIONS)
    values = list(synthetic_items(COUNT, seed=5))
    keys = [f"k{n}".encode() for n in range(COUNT)]
    sent = Counter(values)
    child = Child.start(kind, kafka_bootstrap, names, tmp_path)
    outputs = [names.events, names.latest] if kind == "noop_faust_stateful" else [names.events]
    try:
        # Produced once the baseline is ready: a baseline is Faust as it is, and Faust can drop
        # records it fetched as its table's recovery ends (README, "Delivery guarantees"), which
        # the worker's repositioning covers and a baseline does not.
        wait_until(
            lambda: READY in child.log_path.read_text(errors="replace"),
            timeout=90,
            what=f"{kind}: ready",
            interval=0.2,
            on_timeout=child.log_tail,
        )
        produce(kafka_bootstrap, names.raw, values, PARTITIONS, keys)
        for topic in outputs:
            wait_until(
                lambda topic=topic: sum(_values(kafka_bootstrap, topic).values()) >= COUNT,
                timeout=90,
                what=f"{kind}: {COUNT} records on {topic}",
                interval=0.5,
                on_timeout=child.log_tail,
            )
    finally:
        child.stop()
    for topic in outputs:
        assert _values(kafka_bootstrap, topic) == sent  # each item once, unchanged
    if kind != "noop_faust":
        assert _values(kafka_bootstrap, repartition_topic(names)) == sent
    if kind == "noop_faust_stateful":
        changelog = read_all(kafka_bootstrap, f"{names.app_id}-story-buckets-changelog")
        # One changelog record per item, keyed as the item, in its input's partition.
        assert Counter(r.key for r in changelog) == Counter(keys)
        assert Counter(r.value for r in changelog) == sent
        by_key = {r.key: r.partition for r in read_all(kafka_bootstrap, repartition_topic(names))}
        assert all(by_key[r.key] == r.partition for r in changelog)
