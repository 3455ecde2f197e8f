"""``python -m benchmarks``: the flags, the generated items and the summary's shape (core only)."""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

import workers
from benchmarks.items import synthetic_items
from benchmarks.kafka import cpu_seconds, cpu_use, sum_samples
from benchmarks.report import table, targets
from benchmarks.run import add_arguments, main
from workers.cli import build_parser


def test_core_bench_through_python_m_benchmarks(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    out_json = tmp_path / "bench.json"
    status = main(["--skip-kafka", "--core-items", "120", "--json", str(out_json)])
    out, err = capsysbinary.readouterr()
    assert status == 0
    summary = json.loads(out)
    assert json.loads(out_json.read_bytes()) == summary
    assert set(summary) == {"machine", "core", "targets"}
    core = summary["core"]
    assert core["items"] == 120
    assert core["rejects"] == 0
    assert core["items_per_s"] > 0
    assert core["events"] == core["items"] - core.get("outcome_duplicate", 0)
    assert [t["target"] for t in summary["targets"]] == ["core >= 10,000 items/s (<= 100 µs/item)"]
    assert isinstance(summary["targets"][0]["met"], bool)
    assert "core:" in err.decode()
    assert "target: core >= 10,000 items/s" in err.decode()


def test_bench_flags() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--e2e-items", "10", "--rate", "50", "--latency-seconds", "2", "--memory-items", "0"]
    )
    assert (args.e2e_items, args.rate, args.latency_seconds, args.memory_items) == (10, 50, 2, 0)
    assert args.systems == "ours,noop_faust_2hop,noop_faust,aiokafka"
    assert not args.skip_kafka


def test_generated_items_are_seed_sized_with_the_mix() -> None:
    items = list(synthetic_items(600))
    assert items == list(synthetic_items(600))  # deterministic
    assert 5_500 <= sum(map(len, items)) / len(items) <= 7_000
    distinct = len(set(items))
    assert 0.8 * len(items) <= distinct <= 0.92 * len(items)  # ~10% re-deliveries
    updates = sum(1 for item in set(items) if "ОБНОВЕНА".encode() in item)
    assert 0.25 <= updates / distinct <= 0.4  # ~30% of items are updates
    others = set(synthetic_items(50, seed=11, first_story=10_000_000))
    assert not others & set(items)


def test_table_renders_a_failed_system() -> None:
    summary = {
        "machine": {"nproc": 2, "memory_mb": 1024, "python": "3.11"},
        "core": {
            "items": 10.0,
            "avg_item_bytes": 6000.0,
            "events": 9.0,
            "rejects": 0.0,
            "items_per_s": 1000.0,
            "us_per_item": 1000.0,
        },
        "kafka": {
            "broker": {"bootstrap": "127.0.0.1:1", "own": True},
            "partitions": 4,
            "systems": {"ours": {"label": "wire-ingest worker", "error": "boom\nlog"}},
            "ratios": {},
            "memory": {"error": "memory run: timed out"},
        },
    }
    summary["targets"] = targets(summary)
    text = table(summary)
    assert "error: boom" in text
    assert "not measured" in text


def test_cpu_time_is_read_for_the_process_and_its_main_thread() -> None:
    process, main = cpu_seconds(os.getpid())  # the test runs on the main thread
    sum(range(3_000_000))  # some CPU on it
    process_after, main_after = cpu_seconds(os.getpid())
    assert 0 < main <= process
    assert main_after > main
    assert process_after >= process


def test_cpu_use_per_item_and_the_main_threads_busy_share() -> None:
    use = cpu_use((100.0, 10.0, 8.0), (120.0, 40.0, 27.0), 10_000)
    assert use == {
        "process_ms_per_item": 3.0,
        "main_thread_ms_per_item": 1.9,
        "main_thread_busy_pct": 95.0,
        "seconds": 20.0,
    }
    summary = {
        "machine": {"nproc": 2},
        "kafka": {"systems": {"ours": {"throughput": {"items_per_s": 500.0, "cpu": use}}}},
    }
    assert "ours at saturation: 3.00 ms CPU per item, main thread 1.90 ms (95 % busy)" in table(
        summary
    )


def test_the_shipped_package_holds_no_benchmark() -> None:
    modules = [m.name for m in pkgutil.walk_packages(workers.__path__, "workers.")]
    assert "workers.cli" in modules
    assert not [name for name in modules if "bench" in name]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench"])


def test_worker_metrics_are_summed_over_labels() -> None:
    registry = CollectorRegistry()
    consumed = Counter("wire_ingest_items_consumed", "items", ["partition"], registry=registry)
    consumed.labels("0").inc(3)
    consumed.labels("1").inc(4.5)
    Gauge("wire_ingest_lag", "lag", registry=registry).set(2)
    samples = sum_samples(generate_latest(registry).decode())
    assert samples["wire_ingest_items_consumed_total"] == 7.5
    assert samples["wire_ingest_lag"] == 2
    assert sum_samples("") == {}


@pytest.mark.parametrize(
    ("rate", "p99", "met"), [(200.0, 40.0, None), (500.0, 40.0, True), (500.0, 140.0, False)]
)
def test_the_latency_target_is_judged_only_at_its_rate(
    rate: float, p99: float, met: bool | None
) -> None:
    latency = {"rate": rate, "receive": {"p99_ms": p99}}
    summary = {"kafka": {"systems": {"ours": {"latency": latency}}, "ratios": {}}}
    [target] = [t for t in targets(summary) if t["target"].startswith("p99")]
    assert target["measured"] == p99
    assert target["met"] is met
    assert "500 items/s" in target["target"]
