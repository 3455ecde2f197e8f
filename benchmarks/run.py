"""``python -m benchmarks`` (``make bench``): figures for the core and the worker on a broker.

A benchmark prints numbers; it never asserts on them. Inputs are generated deterministically
from the seed items so two runs measure the same work (:mod:`benchmarks.items`). The core part
is :mod:`benchmarks.core`; the Kafka part (end to end throughput, latency, memory, and the no-op
baselines beside ours) is :mod:`benchmarks.kafka`; the machine, the targets and the table are
:mod:`benchmarks.report`. This module has the flags and puts the summary together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from benchmarks.core import bench_core
from benchmarks.report import core_line, machine, table, targets

DEFAULTS: dict[str, Any] = {
    "core_items": 50_000,
    "e2e_items": 20_000,
    "rate": 500.0,
    "latency_seconds": 20.0,
    "memory_items": 60_000,
    "memory_first": None,
    "systems": "ours,noop_faust_2hop,noop_faust,aiokafka",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``python -m benchmarks``."""
    d = DEFAULTS
    parser.add_argument(
        "--core-items", type=int, default=d["core_items"], help="items for the core benchmark"
    )
    parser.add_argument("--skip-kafka", action="store_true", help="only the core benchmark")
    parser.add_argument("--json", type=Path, help="also write the JSON summary here")
    kafka = parser.add_argument_group(
        "broker benchmarks",
        "On a broker this command starts with deploy/local/kafka.sh (and always stops), "
        "unless KAFKA_BOOTSTRAP names one.",
    )
    kafka.add_argument(
        "--e2e-items",
        type=int,
        default=d["e2e_items"],
        help="items pre-produced for the saturation run of each system",
    )
    kafka.add_argument(
        "--rate", type=float, default=d["rate"], help="items/s of the paced latency run"
    )
    kafka.add_argument(
        "--latency-seconds",
        type=float,
        default=d["latency_seconds"],
        help="length of the paced latency run",
    )
    kafka.add_argument(
        "--memory-items",
        type=int,
        default=d["memory_items"],
        help="items for the worker's memory run (0: skip it); VmRSS is taken after "
        "--memory-first items and after this many",
    )
    kafka.add_argument(
        "--memory-first",
        type=int,
        default=d["memory_first"],
        help="first RSS checkpoint [a third of --memory-items]",
    )
    kafka.add_argument(
        "--systems",
        default=d["systems"],
        help="comma-separated, from ours, noop_faust_2hop, noop_faust, aiokafka (all four by "
        "default) and noop_faust_stateful (ours' records, no work); none: only the memory run",
    )
    kafka.add_argument(
        "--py-spy",
        type=Path,
        help="py-spy binary: profile each process during its saturation and latency runs "
        "(slows it; for profiles, not for figures)",
    )
    kafka.add_argument(
        "--work-dir",
        type=Path,
        help="where logs, state and profiles go [a temporary dir, removed unless a step fails]",
    )


def _arg(args: argparse.Namespace, name: str) -> Any:
    """A flag's value, or its default when the parser that made ``args`` lacks the flag."""
    return getattr(args, name, DEFAULTS.get(name))


def _systems(flag: str) -> tuple[str, ...]:
    names = (name.strip() for name in flag.split(","))
    return tuple(name for name in names if name not in ("", "none"))


def run_bench(args: argparse.Namespace) -> int:
    summary: dict[str, Any] = {"machine": machine()}
    core = bench_core(_arg(args, "core_items"))
    summary["core"] = core
    if not _arg(args, "skip_kafka"):
        print(core_line(core), file=sys.stderr, flush=True)  # the broker part takes minutes
        from benchmarks.kafka import BenchError, KafkaBenchConfig, run_kafka_bench

        config = KafkaBenchConfig(
            e2e_items=_arg(args, "e2e_items"),
            rate=_arg(args, "rate"),
            latency_seconds=_arg(args, "latency_seconds"),
            memory_items=_arg(args, "memory_items"),
            memory_first=_arg(args, "memory_first"),
            systems=_systems(str(_arg(args, "systems"))),
            py_spy=_arg(args, "py_spy"),
            work_dir=_arg(args, "work_dir"),
        )
        try:
            summary["kafka"] = run_kafka_bench(config)
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("bench: interrupted; the processes it started are stopped", file=sys.stderr)
            return 130
    summary["targets"] = targets(summary)
    data = orjson.dumps(summary, option=orjson.OPT_INDENT_2)
    if args.json:
        args.json.write_bytes(data + b"\n")
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.buffer.flush()
    print(table(summary), file=sys.stderr, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks [flags]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    add_arguments(parser)
    return run_bench(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
