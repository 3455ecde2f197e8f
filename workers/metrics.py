"""Prometheus metrics of the worker. Counts and timings only: no item text ever goes here.

Each worker builds its own :class:`Metrics` on a private registry, so several workers (or tests)
in one process never share counters.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from workers import __version__
from workers.core.events import EVENT_TYPE_NAMES
from workers.core.rejects import RejectReason

# The *_created series double the scrape size and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

PREFIX = "wire_ingest"
# Up to 30 min: a backlog's latency must still read on the dashboard when the falling-behind
# alert (10 min) fires.
# fmt: off
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
                   120, 300, 600, 1800)
PROCESSING_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                      0.25, 0.5, 1, 2.5, 5)
# fmt: on

# The two agents (workers/stream/agents.py); also the stages of the processing histogram.
AGENTS = ("parse", "merge")

LagSource = Callable[[], Iterable[tuple[str, int, int]]]


class _LagCollector(Collector):
    """Consumer lag per partition, computed at scrape time from the consumer's own positions."""

    def __init__(self, source: LagSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            f"{PREFIX}_consumer_lag_messages",
            "Messages behind the partition's high-water mark, per consumed partition; "
            "transaction markers count until the fetch passes them.",
            labels=["topic", "partition"],
        )
        for topic, partition, lag in self._source():
            family.add_metric([topic, str(partition)], lag)
        yield family


class Metrics:
    """All metrics of one worker process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        # process_start_time_seconds and the process's CPU, memory and file descriptors: a
        # start time that keeps changing is a crash loop (WireIngestCrashLooping).
        ProcessCollector(registry=r)
        self.consumed = Counter(
            f"{PREFIX}_items_consumed", "Raw items read from the raw topic.", registry=r
        )
        self.parsed = Counter(
            f"{PREFIX}_items_parsed",
            "Items parsed from the raw messages (a NewsML-G2 newsMessage gives several).",
            registry=r,
        )
        self.rejected = Counter(
            f"{PREFIX}_items_rejected",
            "Raw items refused and sent to the DLQ, by reason.",
            ["reason"],
            registry=r,
        )
        self.duplicates = Counter(
            f"{PREFIX}_duplicates", "Versions already known (re-deliveries): no event.", registry=r
        )
        self.events = Counter(
            f"{PREFIX}_events_emitted", "Canonical events sent, by type.", ["type"], registry=r
        )
        self.events_resent = Counter(
            f"{PREFIX}_events_resent",
            "Events sent again after a crash, byte for byte (same eventId).",
            registry=r,
        )
        self.backfills = Counter(
            f"{PREFIX}_backfills", "Older versions that arrived after a newer one.", registry=r
        )
        self.stories = Gauge(
            f"{PREFIX}_stories_in_state",
            "Stories held in this worker's assigned table partitions.",
            registry=r,
        )
        self.buckets = Gauge(
            f"{PREFIX}_buckets_in_state",
            "Story buckets (first-published minutes) held in this worker's table partitions.",
            registry=r,
        )
        self.expired = Counter(
            f"{PREFIX}_buckets_expired",
            "Buckets deleted because stream time passed their retention.",
            registry=r,
        )
        self.processing = Histogram(
            f"{PREFIX}_processing_seconds",
            "Time spent in the core per message, by stage.",
            ["stage"],
            buckets=PROCESSING_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            f"{PREFIX}_end_to_end_latency_seconds",
            "From the raw message's Kafka timestamp to its event being acknowledged.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rebalances = Counter(
            f"{PREFIX}_rebalances",
            "Consumer-group rebalances this worker went through.",
            registry=r,
        )
        self.kafka_client_errors = Counter(
            f"{PREFIX}_kafka_client_errors",
            "ERROR lines of the Kafka client (failed connections, fetches, metadata updates, "
            "coordinator lookups), by logger: dozens a second while a broker refuses "
            "connections; a few a minute while one hangs.",
            ["logger"],
            registry=r,
        )
        self.agent_errors = Counter(
            f"{PREFIX}_agent_errors",
            "Unexpected errors caught at an agent boundary (each also became a DLQ record).",
            ["agent"],
            registry=r,
        )
        self.agent_crashes = Counter(
            f"{PREFIX}_agent_crashes",
            "Agents that died with an error outside the per-message guard; the worker is not "
            "ready until the agent handles a message again.",
            ["agent"],
            registry=r,
        )
        self.ready = Gauge(
            f"{PREFIX}_ready",
            "1 while /health/ready answers 200: started, recovered, every agent alive.",
            registry=r,
        )
        self.behind = Gauge(
            f"{PREFIX}_seconds_behind",
            "How far behind: now minus the Kafka time of the last message processed, on "
            "consumed partitions with lag (0 when there is none). An upper bound.",
            registry=r,
        )
        self.last_event = Gauge(
            f"{PREFIX}_last_event_timestamp_seconds",
            "Unix time the broker last acknowledged an event of this worker (0: none yet).",
            registry=r,
        )
        self.last_item = Gauge(
            f"{PREFIX}_last_item_timestamp_seconds",
            "Unix time this worker last finished an input message (either agent; 0: none yet).",
            registry=r,
        )
        self.last_commit = Gauge(
            f"{PREFIX}_last_commit_timestamp_seconds",
            "Unix time this worker's last commit round ended (one a second, committed or not; "
            "0: none yet). It stops when commits hang.",
            registry=r,
        )
        self.state_rebuilds = Counter(
            f"{PREFIX}_state_rebuilds",
            "Table partitions whose local state was ahead of the changelog (the broker lost "
            "records, or the topic was re-created): dropped and rebuilt from the changelog.",
            registry=r,
        )
        self.rebalance_seconds = Histogram(
            f"{PREFIX}_rebalance_seconds",
            "From the start of a rebalance to the end of its table recovery.",
            buckets=(0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0),
            registry=r,
        )
        self.assigned = Gauge(
            f"{PREFIX}_assigned_partitions",
            "Partitions of the raw and repartition topics this worker consumes now.",
            ["topic"],
            registry=r,
        )
        self.state_bytes = Gauge(
            f"{PREFIX}_state_bytes",
            "Bytes of the table's local store for the partitions this worker holds (active "
            "and standby): RocksDB files on disk; keys and values for the memory store.",
            registry=r,
        )
        self.unacknowledged = Gauge(
            f"{PREFIX}_records_unacknowledged",
            "Records sent (events, DLQ records, repartitioned items, changelog records) the "
            "broker has not acknowledged yet; commits wait for them.",
            registry=r,
        )
        self.oldest_unacknowledged = Gauge(
            f"{PREFIX}_oldest_unacknowledged_seconds",
            "How long the oldest record still waiting for the broker's acknowledgement has "
            "waited (0: none waits). Minutes: a topic deleted, a partition without a leader, "
            "a broker that does not answer.",
            registry=r,
        )
        self.state_volume_size = Gauge(
            f"{PREFIX}_state_volume_size_bytes",
            "Size of the file system WIRE_STATE_DIR is on.",
            registry=r,
        )
        self.state_volume_free = Gauge(
            f"{PREFIX}_state_volume_free_bytes",
            "Bytes free for use on the file system WIRE_STATE_DIR is on: at none, "
            "RocksDB refuses every write and the worker stops with exit code 10.",
            registry=r,
        )
        self.build_info = Gauge(
            f"{PREFIX}_build_info",
            "Always 1; labels tell the running build.",
            ["version", "python"],
            registry=r,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self._lag_source: LagSource | None = None
        self.registry.register(_LagCollector(self._lag))
        for reason in RejectReason:
            self.rejected.labels(reason.value)
        # The children counted for every item, looked up once (``labels()`` takes a lock and
        # builds a tuple of strings on every call).
        self.events_by_type = {t: self.events.labels(t) for t in EVENT_TYPE_NAMES}
        self.processing_by_stage = {agent: self.processing.labels(agent) for agent in AGENTS}
        for agent in AGENTS:
            self.agent_errors.labels(agent)
            self.agent_crashes.labels(agent)

    def watch_lag(self, source: LagSource) -> None:
        """Set the function that reports (topic, partition, lag) at scrape time."""
        self._lag_source = source

    def _lag(self) -> Iterable[tuple[str, int, int]]:
        return self._lag_source() if self._lag_source is not None else ()

    def render(self) -> bytes:
        return generate_latest(self.registry)
