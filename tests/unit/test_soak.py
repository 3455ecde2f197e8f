"""benchmarks.soak: the simulated wire, and that the soak run reports what it measured."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from benchmarks.soak import main, run, wire
from workers.core.keys import bucket_key


def test_the_simulated_wire_is_in_time_order_with_mostly_short_stories() -> None:
    items = list(wire(days=2, items_per_day=1500))
    assert 2600 <= len(items) <= 3400  # about 1,500 a day
    times = [item.version_created for item in items]
    assert times == sorted(times)
    versions = Counter(bucket_key(item) for item in items)
    assert sum(1 for n in versions.values() if n <= 3) / len(versions) > 0.95
    assert all(item.is_update == (item.updated is not None) for item in items)


def test_a_soak_expires_buckets_and_reports_each_checkpoint(tmp_path: Path) -> None:
    result = run(days=9, items_per_day=300, partitions=2, workdir=tmp_path)
    (last,) = result["checkpoints"]
    assert last["day"] == 9
    assert last["buckets_expired"] > 0  # the first days' buckets are past the 7-day retention
    assert last["state_keys"] < last["items"]
    assert last["changelog_bytes_written"] > last["state_bytes"] > last["state_outbox_bytes"] > 0
    assert last["restore_records"] > 0


def test_the_soak_command_prints_its_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "soak.json"
    assert main(["--days", "1", "--items-per-day", "200", "--json", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("soak: 200 items/day, 4 partitions, retention 7 days")
    assert printed[2].split()[0] == "1"  # the day-1 checkpoint row
    assert orjson.loads(out.read_bytes())["checkpoints"][0]["day"] == 1
