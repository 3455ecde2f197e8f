"""``wire-ingest bench``: figures for the core and for the worker on a real broker.

A benchmark prints numbers; it never asserts on them. Inputs are generated deterministically
from the seed items so two runs measure the same work. The Kafka part (end to end throughput,
latency, memory, and the no-op baselines beside ours) lives in :mod:`workers.bench_kafka`.

This module imports only the standard library at the top, so ``workers.cli`` can add the
bench's flags (:func:`add_arguments`) without loading the core.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
_STAMP = "%d.%m.%Y %H:%M"
_SIGNOFF = "\n\n/ИТ/\n"
# How many leads of the update seed's related list become background paragraphs of every
# version: real wire stories carry background, and it brings the items to the seed's size.
_BACKGROUND_PARAGRAPHS = 3

DEFAULTS: dict[str, Any] = {
    "core_items": 50_000,
    "e2e_items": 20_000,
    "rate": 500.0,
    "latency_seconds": 20.0,
    "memory_items": 60_000,
    "memory_first": None,
    "systems": "ours,noop_faust,aiokafka",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``wire-ingest bench`` (also used by ``python -m workers.bench``)."""
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
        help="comma-separated, from ours,noop_faust,aiokafka (the default) and noop_faust_2hop; "
        "none: only the memory run",
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


def _background(update: str) -> str:
    """The longest lines of the related list (its leads), as background paragraphs."""
    related = update.split(_SIGNOFF, 1)[1]
    leads = sorted(related.splitlines(), key=len, reverse=True)[:_BACKGROUND_PARAGRAPHS]
    return "\n\n".join(leads)


def synthetic_items(count: int, seed: int = 7, first_story: int = 0) -> Iterator[bytes]:
    """Seed-sized BTA items (~6 KB): about 60% originals, 30% updates and 10% re-deliveries.

    Every version carries three background paragraphs (the update seed's related leads), which
    brings originals to ~5 KB and updates to ~8 KB, ~6 KB on average like the real seed item.
    ``first_story`` numbers the stories from there (each story has its own first-published
    minute), so item sets generated with different values never share a story.
    """
    update = (SEEDS / "000_3b5780341c97b251.txt").read_text("utf-8")
    original = (SEEDS / "000_original.txt").read_text("utf-8")
    background = _background(update)
    update = update.replace(_SIGNOFF, f"\n\n{background}{_SIGNOFF}", 1)
    original = original.replace(_SIGNOFF, f"\n\n{background}{_SIGNOFF}", 1)
    rng = random.Random(seed)  # noqa: S311 - reproducible inputs, not secrets
    base = datetime(2025, 8, 12, 20, 57) + timedelta(minutes=first_story)
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
            story = first_story + n
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
    from workers.core.events import Source
    from workers.core.keys import raw_sha256
    from workers.core.merge import Bucket
    from workers.core.pipeline import apply, dumps, parse_raw, route_key
    from workers.core.rejects import Reject

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


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    memory_mb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mb = round(int(line.split()[1]) / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_mb": memory_mb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": _git_state(),
    }


def _git_state() -> str | None:
    """The commit measured, "+changes" when workers/ (the bench aside) differs from it."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, fixed args
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "workers", ":!workers/bench*.py"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+changes" if dirty else head


def _arg(args: argparse.Namespace, name: str) -> Any:
    """A flag's value, or its default when the parser that made ``args`` lacks the flag."""
    return getattr(args, name, DEFAULTS.get(name))


def core_line(core: dict[str, float]) -> str:
    return (
        f"core: {core['items_per_s']:,.0f} items/s ({core['us_per_item']} µs/item) over "
        f"{core['items']:,.0f} items of ~{core['avg_item_bytes']:,.0f} B, "
        f"{core['events']:,.0f} events, {core['rejects']:,.0f} rejects"
    )


def _get(doc: Any, *path: str) -> Any:
    """``doc[path[0]][path[1]]...``, or None where a step is missing."""
    for step in path:
        if not isinstance(doc, dict) or step not in doc:
            return None
        doc = doc[step]
    return doc


def targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets beside what this run measured (figures, not assertions)."""
    out: list[dict[str, Any]] = []

    def add(name: str, measured: float | None, met: bool | None) -> None:
        out.append({"target": name, "measured": measured, "met": met})

    core = _get(summary, "core", "items_per_s")
    add("core >= 10,000 items/s (<= 100 µs/item)", core, core >= 10_000 if core else None)
    kafka = summary.get("kafka")
    if kafka is None:
        return out
    ratio = _get(kafka, "ratios", "throughput_ours_over_noop_faust")
    add(
        "end to end >= 60% of the no-op Faust passthrough",
        ratio,
        ratio >= 0.6 if ratio is not None else None,
    )
    rate = _get(kafka, "systems", "ours", "latency", "rate")
    p99 = _get(kafka, "systems", "ours", "latency", "receive", "p99_ms")
    add(
        f"p99 <= 100 ms at {rate or 500:g} items/s (receive time)",
        p99,
        p99 <= 100 if p99 is not None else None,
    )
    memory = kafka.get("memory") or {}
    growth = memory.get("rss_growth_pct")
    first, total = memory.get("first_checkpoint"), memory.get("items")
    add(
        f"RSS growth <= 10% between {first or 0:,} and {total or 0:,} items",
        growth,
        growth <= 10 if growth is not None else None,
    )
    return out


def _fmt(value: Any, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def table(summary: dict[str, Any]) -> str:
    """The summary as a table for people (the JSON has everything)."""
    m = summary.get("machine", {})
    lines = [
        f"machine: {m.get('nproc')} CPUs, {_fmt(m.get('memory_mb'))} MiB, Python {m.get('python')}",
    ]
    core = summary.get("core")
    if core:
        lines.append(core_line(core))
    kafka = summary.get("kafka")
    if kafka:
        broker = kafka.get("broker", {})
        own = "started by the bench" if broker.get("own") else "KAFKA_BOOTSTRAP"
        lines.append(
            f"broker: {broker.get('bootstrap')} ({own}); {kafka.get('partitions')} partitions; "
            f"load average before {kafka.get('load_average_before')}, "
            f"after {kafka.get('load_average_after')}"
        )
        head = (
            f"{'system':<26}{'items/s':>10}{'startup s':>11}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'max ms':>9}{'stamp p99':>11}{'peak RSS MiB':>14}"
        )
        lines += ["", head, "-" * len(head)]
        for kind, result in kafka.get("systems", {}).items():
            label = f"{kind} ({result.get('label', '')})"[:25]
            if "error" in result:
                lines.append(f"{label:<26}error: {str(result['error']).splitlines()[0][:80]}")
                continue
            lat = result.get("latency", {})
            lines.append(
                f"{label:<26}"
                f"{_fmt(_get(result, 'throughput', 'items_per_s')):>10}"
                f"{_fmt(_get(result, 'throughput', 'startup_s'), '.1f'):>11}"
                f"{_fmt(_get(lat, 'receive', 'p50_ms'), ',.1f'):>9}"
                f"{_fmt(_get(lat, 'receive', 'p99_ms'), ',.1f'):>9}"
                f"{_fmt(_get(lat, 'receive', 'max_ms'), ',.1f'):>9}"
                f"{_fmt(_get(lat, 'stamp', 'p99_ms'), ',.1f'):>11}"
                f"{_fmt(_get(result, 'memory_mb', 'VmHWM'), ',.1f'):>14}"
            )
        for kind, result in kafka.get("systems", {}).items():
            lat = result.get("latency") or {}
            if lat.get("outputs", 0) < lat.get("expected_outputs", 0):
                lines.append(
                    f"note: {kind}'s latency run ended with {lat['outputs']:,} of "
                    f"{lat['expected_outputs']:,} outputs (nothing more came for 15 s)"
                )
        rate = _get(kafka, "systems", "ours", "latency", "rate")
        lines.append(
            f"(items/s: N pre-produced items over first consumption .. last output; latency at "
            f"{_fmt(rate, 'g')} items/s, produce time .. receive; stamp: .. output CreateTime)"
        )
        hops = _get(kafka, "systems", "ours", "latency") or {}
        if hops.get("parse_hop"):

            def split(hop: str) -> str:
                return f"{_fmt(_get(hops, hop, 'p50_ms'))}/{_fmt(_get(hops, hop, 'p99_ms'))} ms"

            lines.append(
                "ours latency by hop, CreateTime to CreateTime, p50/p99: raw -> repartition "
                f"{split('parse_hop')}, repartition -> event {split('merge_hop')}"
            )
        for name, value in kafka.get("ratios", {}).items():
            lines.append(f"{name}: {value:.2f}")
        memory = kafka.get("memory")
        if memory and "error" in memory:
            lines.append(f"memory: error: {str(memory['error']).splitlines()[0][:80]}")
        elif memory:
            points = ", ".join(
                f"{_fmt(c.get('VmRSS'), ',.1f')} MiB after {_fmt(c.get('items'))} items"
                for c in memory.get("checkpoints", [])
            )
            lines.append(
                f"memory (ours): VmRSS {points}: {_fmt(memory.get('rss_growth_pct'), '+.1f')}%; "
                f"peak {_fmt(memory.get('peak_rss_mb'), ',.1f')} MiB; "
                f"{_fmt(memory.get('items'))} items at {_fmt(memory.get('items_per_s'))} items/s"
            )
            if (memory.get("items") or 0) < 300_000:
                lines.append(
                    "(RocksDB's caches are still filling before ~100k items: for the target's "
                    "100k -> 300k figure, run with --memory-items 300000)"
                )
    lines.append("")
    for t in summary.get("targets", []):
        verdict = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        lines.append(f"target: {t['target']}: {verdict} ({_fmt(t['measured'], ',.2f')})")
    return "\n".join(lines)


def _systems(flag: str) -> tuple[str, ...]:
    names = (name.strip() for name in flag.split(","))
    return tuple(name for name in names if name not in ("", "none"))


def run_bench(args: argparse.Namespace) -> int:
    import orjson

    summary: dict[str, Any] = {"machine": machine()}
    core = bench_core(_arg(args, "core_items"))
    summary["core"] = core
    if not _arg(args, "skip_kafka"):
        print(core_line(core), file=sys.stderr, flush=True)  # the broker part takes minutes
        from workers.bench_kafka import BenchError, KafkaBenchConfig, run_kafka_bench

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
    """``python -m workers.bench``: the same as ``wire-ingest bench``."""
    parser = argparse.ArgumentParser(prog="python -m workers.bench", description=__doc__)
    add_arguments(parser)
    return run_bench(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
