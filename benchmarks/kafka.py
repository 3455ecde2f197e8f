"""The broker part of ``python -m benchmarks``: end to end throughput, latency and memory.

Three systems run one after another on the same broker, each as its own process with a fresh
app id, fresh topics (4 partitions) and a fresh state dir:

``ours``
    ``python -m workers.cli worker``: parse, repartition by story bucket, merge against the
    RocksDB table, emit to ``stories.events`` and ``stories.latest``.
``noop_faust``
    ``python -m benchmarks.kafka noop_faust``: a Faust app with our Faust settings
    (:func:`workers.stream.app.faust_config`: at-least-once, acks=-1, raw serializers, ...) but
    an in-memory store, whose one agent forwards each raw message to an output topic.
``aiokafka``
    ``python -m benchmarks.kafka aiokafka``: a plain aiokafka consume-and-produce loop,
    at-least-once by hand (send a fetched batch, wait for its acks, commit).
``noop_faust_2hop`` (only when asked for)
    the no-op Faust app with two agents and an internal topic between them, like ours' parse
    and merge agents around the repartition topic: the cost of the shape, without the work.
``noop_faust_stateful`` (only when asked for)
    the two-hop no-op with ours' records as well: its second agent reads and writes a
    changelogged RocksDB table (ours' table options) and sends to two output topics, each
    record straight to Faust's producer as ours sends them. Every value is the raw item, so it
    moves fewer bytes than ours. The cost of ours' records, without the work.

For each system:

* **saturation**: N items are produced to the raw topic *before* the process starts. Time runs
  from its first consumption to its last output, both read from Kafka record timestamps
  (CreateTime, stamped by the sending client when it sends): the first record on the
  repartition topic (ours) or on the output topic (the baselines) marks the first
  consumption; the last record on ``stories.events`` (ours) or the output topic marks the end.
  The run is over when the output topic's end offsets add up to the expected count: one event
  per distinct raw item for ours (a re-delivery is a silent duplicate), one record per item
  for the baselines. items/s = N / that window.
* **latency**: then, on the same running process, items are produced at a steady rate (a timer
  paces the producer) while a consumer in this process reads the output topic. Each output is
  matched to its raw record: ours by the event's ``source`` (partition and offset), the
  baselines by the record key. ``source.timestampMs`` is the raw record's CreateTime, the
  produce time. Two latencies per output: *receive* (this process's clock when the consumer
  hands the record over, minus the produce time: what a downstream consumer sees) and *stamp*
  (the output record's CreateTime minus the produce time: excludes the output's delivery).
* **memory**: VmHWM/VmRSS of the process (``/proc/<pid>/status``) after both phases. A
  separate run of ours on fresh topics takes VmRSS after a first and a second count of items
  consumed (``wire_ingest_items_consumed_total`` on the worker's /metrics).

The broker (:class:`tests.support.broker.LocalBroker`), free ports, the run's app id and topic
names (:class:`tests.support.worker.Names`) come from the tests' support code.

This module is also the entry point of the baseline processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

import workers
from benchmarks.items import synthetic_items
from tests.support.broker import BrokerScriptError, LocalBroker, free_port
from tests.support.worker import Names
from workers.stream.records import decode_wire_input

REPO_ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SYSTEMS = ("ours", "noop_faust", "aiokafka")  # the default set
OPTIONAL_SYSTEMS = ("noop_faust_2hop", "noop_faust_stateful")
BASELINE_KINDS = ("noop_faust", "noop_faust_2hop", "noop_faust_stateful")  # run_noop_faust's
LABELS = {
    "ours": "wire-ingest worker",
    "noop_faust": "no-op Faust passthrough",
    "aiokafka": "plain aiokafka loop",
    "noop_faust_2hop": "no-op Faust, two hops like ours",
    "noop_faust_stateful": "no-op Faust, ours' records",
}
_POLL_S = 0.5

log = logging.getLogger(__name__)


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and carries a log tail."""


@dataclass(frozen=True)
class KafkaBenchConfig:
    e2e_items: int = 20_000
    rate: float = 500.0
    latency_seconds: float = 20.0
    memory_items: int = 60_000
    memory_first: int | None = None
    systems: tuple[str, ...] = SYSTEMS
    py_spy: Path | None = None
    work_dir: Path | None = None

    def validate(self) -> None:
        known = SYSTEMS + OPTIONAL_SYSTEMS
        unknown = [s for s in self.systems if s not in known]
        if unknown:
            raise BenchError(f"unknown systems {unknown}; choose from {', '.join(known)}")
        if self.e2e_items < 1 or self.rate <= 0 or self.latency_seconds <= 0:
            raise BenchError("--e2e-items, --rate and --latency-seconds must be positive")
        first = self.first_checkpoint
        if self.memory_items and not 0 < first < self.memory_items:
            raise BenchError("--memory-first must be between 0 and --memory-items")

    @property
    def first_checkpoint(self) -> int:
        return self.memory_first if self.memory_first is not None else self.memory_items // 3


# ------------------------------------------------------------------------------- ports, broker


def _free_port() -> int:
    """A free loopback port (with the next one free too) below the ephemeral range."""
    try:
        return free_port()
    except RuntimeError as exc:
        raise BenchError(str(exc)) from None


class Broker:
    """``$KAFKA_BOOTSTRAP`` if set; else a broker of our own via kafka.sh, always stopped."""

    def __init__(self) -> None:
        self.local: LocalBroker | None = None
        self.bootstrap = ""
        self.own = False

    def __enter__(self) -> Broker:
        external = os.environ.get("KAFKA_BOOTSTRAP", "").strip()
        if external:
            self.bootstrap = external
            return self
        for attempt in range(3):
            self.local = LocalBroker(_free_port())
            self.own = True
            print(f"bench: starting a broker on {self.local.bootstrap} ...", file=sys.stderr)
            try:
                self.bootstrap = self.local.start()
            except BrokerScriptError as exc:
                with contextlib.suppress(BrokerScriptError):
                    self.local.stop()  # a half-started broker must not stay behind
                self.local = None
                if attempt == 2:
                    raise BenchError(f"kafka.sh start failed:\n{exc.stderr[-4000:]}") from None
            else:
                return self
        raise AssertionError("unreachable")

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.local is None:
            return
        local, self.local = self.local, None
        try:
            local.stop()
        except BrokerScriptError as exc:
            print(f"bench: kafka.sh stop failed:\n{exc.stderr[-2000:]}", file=sys.stderr)
        else:
            print(f"bench: broker on port {local.port} stopped", file=sys.stderr)


# ------------------------------------------------------------------------------ child processes

_CHILDREN: list[Child] = []


def repartition_topic(names: Names) -> str:
    """Ours' internal topic between its parse and merge agents (``Settings.repartition_topic``)."""
    return f"{names.app_id}.items-by-story"


def topics_before_start(kind: str, names: Names) -> list[str]:
    """The topics the bench creates before it starts a system of ``kind``.

    Ours creates its own (and waits until the metadata shows them) before it joins its group.
    The two-hop no-ops would leave their middle topic to Faust, which declares it as they
    start: on a slow machine the group's assignment came first, missed the topic ("Ignoring
    missing topic") and assigned none of it, so the second agent never read a record.
    """
    topics = [names.raw, names.events]
    if kind == "noop_faust_stateful":
        topics.append(names.latest)  # it sends to the latest topic too
    if kind in ("noop_faust_2hop", "noop_faust_stateful"):
        topics.append(repartition_topic(names))
    return topics


@dataclass
class Child:
    """A process we started, in its own session; :func:`reap_children` ends it whatever else."""

    kind: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    web_port: int
    started: float = field(default_factory=time.time)

    @classmethod
    def start(cls, kind: str, bootstrap: str, names: Names, work: Path) -> Child:
        web_port = _free_port()
        # The workers package the bench imported first, then this repository (benchmarks, tests).
        package_root = str(Path(workers.__file__).resolve().parent.parent)
        roots = dict.fromkeys([package_root, str(REPO_ROOT), os.environ.get("PYTHONPATH")])
        env = {
            **os.environ,
            **names.env(),
            "PYTHONPATH": os.pathsep.join(root for root in roots if root),
            "KAFKA_BOOTSTRAP": bootstrap,
            "WIRE_PARTITIONS": str(PARTITIONS),
            "WIRE_STATE_DIR": str(work / f"{names.app_id}.state"),
            "WIRE_WEB_HOST": "127.0.0.1",
            "WIRE_WEB_PORT": str(web_port),
            "WIRE_LOG_LEVEL": "info",
            # The synthetic wire updates stories from anywhere in its span (a minute per story:
            # 20,000 items cover two weeks), so the default 7-day retention would refuse some
            # as expired. The bench measures throughput, not expiry.
            "WIRE_STATE_RETENTION_DAYS": "3660",
        }
        module = ["workers.cli", "worker"] if kind == "ours" else ["benchmarks.kafka", kind]
        log_path = work / f"{names.app_id}.log"
        with log_path.open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                [sys.executable, "-m", *module],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C of the bench reaches us, not the child
            )
        child = cls(kind, proc, log_path, web_port)
        _CHILDREN.append(child)
        return child

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise BenchError(
                f"{self.kind} (pid {self.pid}) exited with {self.proc.returncode}:\n"
                f"{self.log_tail()}"
            )

    def memory_mb(self) -> dict[str, float]:
        """VmRSS and VmHWM (peak RSS) of the process, in MiB."""
        out: dict[str, float] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    out[name] = round(int(value.split()[0]) / 1024, 1)
        return out

    def metrics(self) -> dict[str, float]:
        """The worker's /metrics, summed over labels: sample name -> value.

        Raises OSError while the worker does not answer, ValueError for a text not in the
        Prometheus format: callers take both as "no figures yet".
        """
        url = f"http://127.0.0.1:{self.web_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return sum_samples(response.read().decode())

    def stop(self, timeout: float = 30.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"bench: {self.kind} ignored SIGTERM; killing it", file=sys.stderr)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        if self in _CHILDREN:
            _CHILDREN.remove(self)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time (user + system, s) of a process, all threads, and of its main thread alone.

    The main thread runs the event loop, the agents and the core; the others are Faust's
    consumer thread, the batch-building thread and RocksDB's. Raises OSError once it is gone.
    """
    tick = os.sysconf("SC_CLK_TCK")

    def read(path: str) -> float:
        # Fields after the command name's ")": state first, so utime (14) and stime (15) are
        # the 12th and 13th.
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    return read(f"/proc/{pid}/stat"), read(f"/proc/{pid}/task/{pid}/stat")


def cpu_use(
    first: tuple[float, float, float], last: tuple[float, float, float], items: int
) -> dict[str, float]:
    """CPU per item and how busy the main thread was, from two (wall, process, main) readings.

    A main thread near 100 % busy is the bottleneck; well under it, the process waits (for
    the broker, its commits, or the GIL). The readings bracket the run from its first output
    seen to its last (polled every ``_POLL_S``, so the busy share is a slight underestimate).
    """
    wall = max(last[0] - first[0], 1e-9)
    process, main = last[1] - first[1], last[2] - first[2]
    return {
        "process_ms_per_item": round(process / items * 1000, 3),
        "main_thread_ms_per_item": round(main / items * 1000, 3),
        "main_thread_busy_pct": round(main / wall * 100, 1),
        "seconds": round(wall, 2),
    }


def sum_samples(text: str) -> dict[str, float]:
    """Prometheus text exposition summed over labels: sample name -> value."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
    return samples


def reap_children() -> None:
    """Stop every process this module started and has not stopped yet."""
    for child in list(_CHILDREN):
        try:
            child.stop(timeout=15.0)
        except Exception as exc:  # noqa: BLE001 - keep stopping the others
            print(f"bench: could not stop {child.kind} pid {child.pid}: {exc}", file=sys.stderr)


@dataclass
class Profiler:
    """py-spy recording one process until :meth:`stop` (SIGINT makes it write the file)."""

    proc: subprocess.Popen[bytes]
    path: Path

    @classmethod
    def start(cls, py_spy: Path, pid: int, path: Path) -> Profiler:
        argv = [str(py_spy), "record", "--nonblocking", "-r", "100", "-f", "raw"]
        proc = subprocess.Popen(  # noqa: S603 - the binary the user named
            [*argv, "-o", str(path), "-p", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return cls(proc, path)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# ------------------------------------------------------------------------------- kafka helpers


def _tps(topic: str) -> list[Any]:
    from aiokafka import TopicPartition

    return [TopicPartition(topic, p) for p in range(PARTITIONS)]


async def create_topics(bootstrap: str, topics: Iterable[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    names = list(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        config = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
        await admin.create_topics([NewTopic(n, PARTITIONS, 1, topic_configs=config) for n in names])
        deadline = time.monotonic() + 60
        while not set(names) <= set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise BenchError(f"topics {names} did not appear")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


@dataclass
class Produced:
    count: int
    distinct: int
    bytes: int
    seconds: float


def _producer(bootstrap: str, linger_ms: int) -> Any:
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=linger_ms,
        max_batch_size=1024 * 1024,
        max_request_size=MAX_MESSAGE_BYTES,
    )


async def produce_items(
    bootstrap: str, topic: str, items: Iterable[bytes], key_prefix: bytes
) -> Produced:
    """Send items round-robin over the partitions, keys ``<prefix><index>``; wait for acks."""
    producer = _producer(bootstrap, linger_ms=5)
    await producer.start()
    seen: set[bytes] = set()
    size = count = 0
    started = time.perf_counter()
    try:
        pending: list[Awaitable[Any]] = []
        for index, value in enumerate(items):
            seen.add(hashlib.blake2b(value, digest_size=16).digest())
            size += len(value)
            count += 1
            key = key_prefix + str(index).encode()
            pending.append(
                await producer.send(topic, value=value, key=key, partition=index % PARTITIONS)
            )
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return Produced(count, len(seen), size, time.perf_counter() - started)


class Peek:
    """A consumer without a group: end offsets and the first and last record of a topic."""

    def __init__(self, bootstrap: str) -> None:
        from aiokafka import AIOKafkaConsumer

        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=64 * 1024,  # one record is all we read at a time
        )

    async def __aenter__(self) -> Peek:
        await self.consumer.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.consumer.stop()

    async def count(self, topic: str) -> int:
        ends = await self.consumer.end_offsets(_tps(topic))
        return int(sum(ends.values()))

    async def edges(self, topic: str) -> tuple[int, int]:
        """(smallest first-record timestamp, largest last-record timestamp), in ms."""
        tps = _tps(topic)
        ends = await self.consumer.end_offsets(tps)
        firsts: list[int] = []
        lasts: list[int] = []
        for tp in tps:
            end = ends[tp]
            if end == 0:
                continue
            for offset, sink in ((0, firsts), (end - 1, lasts)):
                self.consumer.assign([tp])
                self.consumer.seek(tp, offset)
                batch = await self.consumer.getmany(tp, timeout_ms=10_000, max_records=1)
                records = batch.get(tp, [])
                if not records:
                    raise BenchError(f"could not read {tp.topic}[{tp.partition}]@{offset}")
                sink.append(int(records[0].timestamp))
        self.consumer.unsubscribe()  # no background fetching between calls
        if not firsts:
            raise BenchError(f"{topic} is empty")
        return min(firsts), max(lasts)


async def wait_for_output(
    peek: Peek,
    child: Child,
    topic: str,
    expected: int,
    *,
    timeout: float,
    on_first: Callable[[], None] | None = None,
    complete: Callable[[], Awaitable[bool]] | None = None,
) -> int:
    """Poll the output topic's end offsets until they add up to ``expected``; returns the count.

    ``complete`` is asked when the count stalls for 15 s (the expectation may be off, e.g. a
    reject): if it says the process has handled everything, the wait ends there.
    """
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while True:
        child.check_alive()
        count = await peek.count(topic)
        if count > 0 and on_first is not None:
            on_first()
            on_first = None
        if count >= expected:
            return count
        now = time.monotonic()
        if count != last:
            last, last_change = count, now
        elif now - last_change > 15 and complete is not None and await complete():
            print(
                f"bench: {child.kind}: {count} records on {topic}, {expected} expected; "
                "the process reports all input handled",
                file=sys.stderr,
            )
            return count
        stalled = now - last_change > (120 if count else 180)
        if now > deadline or stalled:
            why = "no progress" if stalled else f"not done after {timeout:.0f}s"
            raise BenchError(
                f"{child.kind}: {count} of {expected} records on {topic}, {why}:\n"
                f"{child.log_tail()}"
            )
        await asyncio.sleep(_POLL_S)


def _ours_complete(child: Child, total: int) -> Callable[[], Awaitable[bool]]:
    """Everything consumed, and every parsed item became an acked event or a duplicate."""

    async def complete() -> bool:
        try:
            m = await asyncio.to_thread(child.metrics)
        except (OSError, urllib.error.URLError, ValueError):
            return False
        handled = (
            m.get("wire_ingest_events_emitted_total", 0)
            + m.get("wire_ingest_duplicates_total", 0)
            + m.get("wire_ingest_items_rejected_total", 0)
        )
        return m.get("wire_ingest_items_consumed_total", 0) >= total and handled >= total

    return complete


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles of milliseconds."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(p: float) -> float:
        index = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))
        return round(ordered[index], 1)

    return {
        "p50_ms": rank(50),
        "p90_ms": rank(90),
        "p99_ms": rank(99),
        "max_ms": round(ordered[-1], 1),
        "mean_ms": round(sum(ordered) / len(ordered), 1),
    }


# ----------------------------------------------------------------------------------- the phases


async def saturation(
    kind: str, config: KafkaBenchConfig, bootstrap: str, work: Path, *, names: Names, peek: Peek
) -> tuple[Child, dict[str, Any]]:
    """Pre-produce N items, start the process, time first consumption to last output."""
    n = config.e2e_items
    produced = await produce_items(bootstrap, names.raw, synthetic_items(n), b"s")
    expected = produced.distinct if kind == "ours" else produced.count
    print(
        f"bench: {kind}: {produced.count:,} items ({produced.bytes / 1e6:,.1f} MB) produced in "
        f"{produced.seconds:.1f}s; starting the process",
        file=sys.stderr,
        flush=True,
    )
    child = Child.start(kind, bootstrap, names, work)
    profiler: list[Profiler] = []
    cpu: list[tuple[float, float, float]] = []  # (wall, process CPU, main-thread CPU)

    def read_cpu() -> None:
        with contextlib.suppress(OSError):  # the process is gone: no figure
            cpu.append((time.monotonic(), *cpu_seconds(child.pid)))

    def on_first() -> None:
        read_cpu()
        if config.py_spy is not None:
            path = work / f"profile-{kind}-saturation.txt"
            profiler.append(Profiler.start(config.py_spy, child.pid, path))

    try:
        count = await wait_for_output(
            peek,
            child,
            names.events,
            expected,
            timeout=120 + n / 20,
            on_first=on_first,
            complete=_ours_complete(child, n) if kind == "ours" else None,
        )
        done = time.time()
        read_cpu()
        # Ours: the parse agent's first forward to the repartition topic; the baselines: their
        # first output. Both are sent as the process handles its first message.
        first_topic = repartition_topic(names) if kind == "ours" else names.events
        start_ms, _ = await peek.edges(first_topic)
        _, end_ms = await peek.edges(names.events)
    except BaseException:
        child.stop()  # before the next system starts
        raise
    finally:
        for p in profiler:
            p.stop()
    window = max(end_ms - start_ms, 1) / 1000
    result: dict[str, Any] = {
        "items": n,
        "avg_item_bytes": round(produced.bytes / produced.count, 1),
        "outputs": count,
        "expected_outputs": expected,
        "seconds": round(window, 3),
        "items_per_s": round(n / window, 1),
        "startup_s": round(start_ms / 1000 - child.started, 2),
        "wall_s": round(done - child.started, 2),
    }
    if profiler:
        result["profile"] = str(profiler[0].path)
    if len(cpu) == 2:
        result["cpu"] = cpu_use(cpu[0], cpu[1], n)
    if kind == "ours":
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
            m = await asyncio.to_thread(child.metrics)
            result["worker_counters"] = {
                name.removeprefix("wire_ingest_").removesuffix("_total"): m.get(name, 0.0)
                for name in (
                    "wire_ingest_items_consumed_total",
                    "wire_ingest_items_parsed_total",
                    "wire_ingest_items_rejected_total",
                    "wire_ingest_duplicates_total",
                    "wire_ingest_events_emitted_total",
                    "wire_ingest_events_resent_total",
                    "wire_ingest_backfills_total",
                )
            }
    return child, result


async def latency(
    kind: str, config: KafkaBenchConfig, bootstrap: str, names: Names, child: Child
) -> dict[str, Any]:
    """Produce at a steady rate on the running process; match outputs to their raw records."""
    from aiokafka import AIOKafkaConsumer

    total = max(1, int(config.rate * config.latency_seconds))
    # Stories of their own (numbered from 10 million), so none is a duplicate of the saturation.
    items = list(synthetic_items(total, seed=11, first_story=10_000_000))
    expected = len({hashlib.blake2b(v, digest_size=16).digest() for v in items})
    if kind != "ours":
        expected = total
    topic = names.events
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
        fetch_max_wait_ms=100,
    )
    producer = _producer(bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    sent: dict[Any, int] = {}  # (partition, offset) for ours, key for the baselines -> ms
    received: list[tuple[Any, int, float, int | None]] = []  # match, out ts, recv ms, src ts
    forwarded: dict[Any, int] = {}  # ours: raw (partition, offset) -> repartition record ts
    stop = asyncio.Event()

    async def consume() -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=50)
            now_ms = time.time() * 1000
            for records in batch.values():
                for r in records:
                    if kind != "ours":
                        received.append((r.key, r.timestamp, now_ms, None))
                        continue
                    if r.topic == repartition_topic(names):
                        origin = decode_wire_input(r.value)[1]
                        forwarded[(origin.partition, origin.offset)] = r.timestamp
                        continue
                    src = orjson.loads(r.value)["source"]
                    match = (src["partition"], src["offset"])
                    received.append((match, r.timestamp, now_ms, src.get("timestampMs")))

    try:
        # Ours: the repartition topic too, to split the latency at the hop between agents.
        tps = _tps(topic) + (_tps(repartition_topic(names)) if kind == "ours" else [])
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # resolve the end now, before anything is produced
        reader = asyncio.create_task(consume())
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[Any]] = []
        behind = 0.0
        started = loop.time()
        for index, value in enumerate(items):
            due = started + index / config.rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                behind = max(behind, -delay)
            key = b"L" + str(index).encode()
            # An explicit CreateTime: aiokafka reports the first record's timestamp for every
            # record of a batch in RecordMetadata, so the metadata cannot tell it.
            stamp = int(time.time() * 1000)
            future = await producer.send(
                names.raw, value=value, key=key, partition=index % PARTITIONS, timestamp_ms=stamp
            )

            def record(fut: asyncio.Future[Any], key: bytes = key, stamp: int = stamp) -> None:
                if fut.cancelled() or fut.exception() is not None:
                    return
                meta = fut.result()
                sent[(meta.partition, meta.offset) if kind == "ours" else key] = stamp

            future.add_done_callback(record)
            pending.append(future)
        await asyncio.gather(*pending)
        produce_s = loop.time() - started
        # Drain: a system slower than the rate still has a backlog here. Stop when all outputs
        # are in, or nothing came for 15 s (or 5 s once ours reports all input handled).
        complete = _ours_complete(child, config.e2e_items + total) if kind == "ours" else None
        last, last_change = -1, time.monotonic()
        while len(received) < expected:
            child.check_alive()
            now = time.monotonic()
            if len(received) != last:
                last, last_change = len(received), now
            elif now - last_change > 15 or (
                now - last_change > 5 and complete is not None and await complete()
            ):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await reader
    finally:
        stop.set()
        await producer.stop()
        await consumer.stop()
    receive: list[float] = []
    stamped: list[float] = []
    parse_hop: list[float] = []
    merge_hop: list[float] = []
    mismatched = 0
    for match, out_ts, recv_ms, src_ts in received:
        raw_ts = sent.get(match)
        if raw_ts is None:
            continue
        if src_ts is not None and abs(src_ts - raw_ts) > 1:
            mismatched += 1
        receive.append(recv_ms - raw_ts)
        stamped.append(out_ts - raw_ts)
        forwarded_ts = forwarded.get(match)
        if forwarded_ts is not None:
            parse_hop.append(forwarded_ts - raw_ts)
            merge_hop.append(out_ts - forwarded_ts)
    result: dict[str, Any] = {
        "rate": config.rate,
        "items": total,
        "produce_seconds": round(produce_s, 2),
        "achieved_rate": round(total / produce_s, 1),
        "producer_max_behind_ms": round(behind * 1000, 1),
        "outputs": len(received),
        "expected_outputs": expected,
        "matched": len(receive),
        "source_timestamp_mismatches": mismatched,
        "receive": percentiles(receive),
        "stamp": percentiles(stamped),
    }
    if kind == "ours":
        # raw CreateTime -> repartition record CreateTime (parse agent), and from there to the
        # event's CreateTime (merge agent): where the latency is spent.
        result["parse_hop"] = percentiles(parse_hop)
        result["merge_hop"] = percentiles(merge_hop)
    return result


async def bench_system(
    kind: str, config: KafkaBenchConfig, bootstrap: str, work: Path, peek: Peek
) -> dict[str, Any]:
    names = Names.fresh("bench-" + kind.replace("_", ""))
    await create_topics(bootstrap, topics_before_start(kind, names))
    child, result = await saturation(kind, config, bootstrap, work, names=names, peek=peek)
    try:
        print(
            f"bench: {kind}: {result['items_per_s']:,.1f} items/s at saturation; "
            f"latency run at {config.rate:g} items/s for {config.latency_seconds:g}s ...",
            file=sys.stderr,
            flush=True,
        )
        profiler = None
        if config.py_spy is not None:
            path = work / f"profile-{kind}-latency.txt"
            profiler = Profiler.start(config.py_spy, child.pid, path)
        try:
            lat = await latency(kind, config, bootstrap, names, child)
        finally:
            if profiler is not None:
                profiler.stop()
        if profiler is not None:
            lat["profile"] = str(profiler.path)
        memory = child.memory_mb()
    finally:
        child.stop()
    return {
        "label": LABELS[kind],
        "pid": child.pid,
        "throughput": result,
        "latency": lat,
        "memory_mb": memory,
    }


async def memory_run(config: KafkaBenchConfig, bootstrap: str, work: Path) -> dict[str, Any]:
    """Ours on fresh topics: VmRSS after the first and the second count of merged items."""
    total, first = config.memory_items, config.first_checkpoint
    names = Names.fresh("bench-mem")
    await create_topics(bootstrap, [names.raw, names.events])
    produced = await produce_items(bootstrap, names.raw, synthetic_items(total, seed=13), b"m")
    print(
        f"bench: memory: {total:,} items produced in {produced.seconds:.1f}s; starting the worker",
        file=sys.stderr,
        flush=True,
    )
    child = Child.start("ours", bootstrap, names, work)
    samples: list[dict[str, float]] = []
    checkpoints: list[dict[str, float]] = []
    try:
        async with Peek(bootstrap) as peek:
            deadline = time.monotonic() + 300 + total / 20
            consumed = 0.0
            first_at: float | None = None
            next_report = time.monotonic() + 30
            while True:
                child.check_alive()
                if time.monotonic() > deadline:
                    raise BenchError(f"memory run: {consumed:.0f} of {total} consumed in time")
                try:
                    m = await asyncio.to_thread(child.metrics)
                except (OSError, urllib.error.URLError, ValueError):
                    await asyncio.sleep(_POLL_S)
                    continue
                # Items through both agents: the processing histogram counts one observation
                # per message in each stage, the parse stage's being the consumed ones. (The
                # parse agent alone runs ahead of the merge: ~80k items at 300k on two cores.)
                parsed = m.get("wire_ingest_items_consumed_total", 0.0)
                consumed = m.get("wire_ingest_processing_seconds_count", 0.0) - parsed
                mem = child.memory_mb()
                if consumed > 0 and first_at is None:
                    first_at = time.time()
                    samples.append({"items": consumed, **mem})
                wanted = [first, total][len(checkpoints)] if len(checkpoints) < 2 else None
                if wanted is not None and consumed >= wanted:
                    checkpoints.append(
                        {"items": consumed, "seconds": time.time() - (first_at or 0), **mem}
                    )
                    print(
                        f"bench: memory: VmRSS {mem.get('VmRSS')} MiB after {consumed:,.0f} items",
                        file=sys.stderr,
                        flush=True,
                    )
                if time.monotonic() > next_report:
                    next_report = time.monotonic() + 30
                    print(f"bench: memory: {consumed:,.0f} items", file=sys.stderr, flush=True)
                if len(checkpoints) == 2:
                    break
                await asyncio.sleep(_POLL_S)
            await wait_for_output(
                peek,
                child,
                names.events,
                produced.distinct,
                timeout=300,
                complete=_ours_complete(child, total),
            )
            _, end_ms = await peek.edges(names.events)
            start_ms, _ = await peek.edges(repartition_topic(names))
        peak = child.memory_mb()
    finally:
        child.stop()
    rss = [c.get("VmRSS", 0.0) for c in checkpoints]
    window = max(end_ms - start_ms, 1) / 1000
    return {
        "items": total,
        "first_checkpoint": first,
        "avg_item_bytes": round(produced.bytes / produced.count, 1),
        "at_first_consumption": samples[0] if samples else {},
        "checkpoints": [{k: round(v, 1) for k, v in c.items()} for c in checkpoints],
        "rss_growth_pct": round((rss[1] - rss[0]) / rss[0] * 100, 1) if rss[0] else None,
        "peak_rss_mb": peak.get("VmHWM"),
        "seconds": round(window, 1),
        "items_per_s": round(total / window, 1),
    }


def _ratios(systems: dict[str, Any]) -> dict[str, float]:
    """Ours over the no-op Faust passthrough (and over the two-hop and stateful ones when
    they ran)."""

    def rate(kind: str) -> float | None:
        value = (systems.get(kind) or {}).get("throughput", {}).get("items_per_s")
        return float(value) if value else None

    out: dict[str, float] = {}
    ours, noop = rate("ours"), rate("noop_faust")
    if ours and noop:
        out["throughput_ours_over_noop_faust"] = round(ours / noop, 3)
        for which in ("p50_ms", "p99_ms"):
            a = systems["ours"]["latency"]["receive"].get(which)
            b = systems["noop_faust"]["latency"]["receive"].get(which)
            if a is not None and b:
                out[f"latency_{which.removesuffix('_ms')}_ours_over_noop_faust"] = round(a / b, 2)
    two_hops = rate("noop_faust_2hop")
    if two_hops and ours:
        out["throughput_ours_over_noop_faust_2hop"] = round(ours / two_hops, 3)
    if two_hops and noop:
        out["throughput_noop_faust_2hop_over_noop_faust"] = round(two_hops / noop, 3)
    stateful = rate("noop_faust_stateful")
    if stateful and ours:
        out["throughput_ours_over_noop_faust_stateful"] = round(ours / stateful, 3)
    if stateful and two_hops:
        out["throughput_noop_faust_stateful_over_noop_faust_2hop"] = round(stateful / two_hops, 3)
    return out


async def _run_all(config: KafkaBenchConfig, broker: Broker, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {
        "broker": {
            "bootstrap": broker.bootstrap,
            "own": broker.own,
            "version": broker.local.running_version() if broker.local else None,
        },
        "partitions": PARTITIONS,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "systems": {},
    }
    systems: dict[str, Any] = out["systems"]
    for kind in config.systems:
        try:
            async with Peek(broker.bootstrap) as peek:
                systems[kind] = await bench_system(kind, config, broker.bootstrap, work, peek)
        except BenchError as exc:
            print(f"bench: {kind} failed: {exc}", file=sys.stderr, flush=True)
            systems[kind] = {"label": LABELS[kind], "error": str(exc)[:4000]}
    out["ratios"] = _ratios(systems)
    if config.memory_items > 0:
        try:
            out["memory"] = await memory_run(config, broker.bootstrap, work)
        except BenchError as exc:
            print(f"bench: memory run failed: {exc}", file=sys.stderr, flush=True)
            out["memory"] = {"error": str(exc)[:4000]}
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_kafka_bench(config: KafkaBenchConfig) -> dict[str, Any]:
    """Everything on the broker; every process started here is stopped, whatever happens."""
    config.validate()
    work = config.work_dir or Path(tempfile.mkdtemp(prefix="wire-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    keep = config.work_dir is not None or config.py_spy is not None
    previous = signal.signal(signal.SIGTERM, _interrupt)
    failed = True
    try:
        with Broker() as broker:
            try:
                result = asyncio.run(_run_all(config, broker, work))
            finally:
                reap_children()  # workers first, then the broker they talk to
        failed = any("error" in s for s in result["systems"].values()) or "error" in result.get(
            "memory", {}
        )
        result["work_dir"] = str(work) if keep or failed else None
        return result
    finally:
        reap_children()
        signal.signal(signal.SIGTERM, previous)
        if failed or keep:
            print(f"bench: logs and state kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------- the baseline processes


def run_noop_faust(kind: str = "noop_faust") -> int:
    """A Faust app with our Faust settings whose agents forward raw messages unchanged.

    ``noop_faust``: one agent, raw topic to output topic. ``noop_faust_2hop``, like ours: a
    first agent forwards to an internal topic with the partitions of ours' repartition topic,
    and a second one from there to the output topic. ``noop_faust_stateful``: the two hops,
    and the second agent reads and writes a changelogged table and sends to two topics.
    """
    import faust

    from workers.settings import Settings
    from workers.stream.app import bucket_table, faust_config

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper())
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    config = faust_config(settings)
    stateful = kind == "noop_faust_stateful"
    if not stateful:
        config["store"] = "memory://"  # no table: nothing to store
    app = faust.App(settings.app_id, **config)
    source = app.topic(settings.topic_raw, key_type=bytes, value_type=bytes)
    sink = app.topic(settings.topic_events, key_type=bytes, value_type=bytes)

    first_sink = sink
    if kind != "noop_faust":
        middle = app.topic(
            settings.repartition_topic,
            partitions=settings.partitions,
            internal=True,
            key_type=bytes,
            value_type=bytes,
        )
        first_sink = middle

    if kind == "noop_faust_2hop":

        @app.agent(middle, name="forward_out", concurrency=1)
        async def forward_out(stream: Any) -> None:
            async for event in stream.events():
                await sink.send(key=event.key, value=event.value)

    if stateful:
        table = bucket_table(app, settings)  # ours' table, with its RocksDB options
        outputs = (settings.topic_latest, settings.topic_events)

        async def send(topic: str, key: bytes, value: bytes) -> None:
            # As ours sends (workers.stream.agents.send): to the producer, not Topic.send.
            await app.producer.send(topic, key, value, partition=None, timestamp=None, headers=None)

        @app.agent(middle, name="store_and_forward", concurrency=1)
        async def store_and_forward(stream: Any) -> None:
            async for event in stream.events():
                table.data.get(event.key)  # ours reads its bucket once, from the store
                table[event.key] = event.value  # the store and a changelog record
                for topic in outputs:
                    await send(topic, event.key, event.value)

        @app.agent(source, name="forward", concurrency=1)
        async def forward_direct(stream: Any) -> None:
            async for event in stream.events():
                await send(settings.repartition_topic, event.key, event.value)

    else:

        @app.agent(source, name="forward", concurrency=1)
        async def forward(stream: Any) -> None:
            async for event in stream.events():
                await first_sink.send(key=event.key, value=event.value)

    worker = faust.Worker(app, loglevel=settings.log_level, redirect_stdouts=False)
    worker.execute_from_commandline()  # leaves through SystemExit
    return 0


async def _aiokafka_loop() -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from workers.settings import Settings
    from workers.stream.kafka_client import client_kwargs

    settings = Settings.from_env()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    consumer = AIOKafkaConsumer(
        settings.topic_raw,
        group_id=settings.app_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_kwargs(settings),
    )
    producer = AIOKafkaProducer(
        acks="all",
        max_batch_size=1024 * 1024,
        max_request_size=MAX_MESSAGE_BYTES,
        compression_type=settings.compression_type,  # as ours and the Faust no-ops write
        **client_kwargs(settings),
    )
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            pending = [
                await producer.send(settings.topic_events, key=r.key, value=r.value)
                for records in batch.values()
                for r in records
            ]
            if pending:  # at-least-once: outputs acked before their input offsets commit
                await asyncio.gather(*pending)
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.kafka <baseline>`` (env like ours): a no-op Faust app or the
    aiokafka loop."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 1 and args[0] in BASELINE_KINDS:
        return run_noop_faust(args[0])
    if args == ["aiokafka"]:
        asyncio.run(_aiokafka_loop())
        return 0
    usage = "|".join((*BASELINE_KINDS, "aiokafka"))
    print(f"usage: python -m benchmarks.kafka {usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
