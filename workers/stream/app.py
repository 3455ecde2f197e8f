"""The Faust app of one worker process: configuration, topics, table, agents, web pages."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import faust

from workers import __version__
from workers.metrics import Metrics
from workers.settings import Settings
from workers.stream.batch_builds import install as install_batch_builds
from workers.stream.commits import CommitRounds
from workers.stream.delivery import DeliveryTracker
from workers.stream.delivery import install as install_delivery_proof
from workers.stream.expiry import Expiry
from workers.stream.handoff import below_ebb_mark
from workers.stream.handoff import install as install_handoff
from workers.stream.isolation import install as install_read_committed
from workers.stream.kafka_client import bootstrap_servers, faust_credentials
from workers.stream.membership import Membership, fence_producer, watch_membership
from workers.stream.partitioner import partition_for
from workers.stream.publish_path import install as install_publish_path
from workers.stream.stale_state import install as install_stale_state_rebuilds
from workers.stream.table_store import ChangelogBackedStore, faust_store_url
from workers.stream.table_store import install as install_table_flushes

# Faust's count of acked messages between commits, set beyond reach (the setting takes no None).
COMMIT_EVERY_NEVER = 2**62

ROCKSDB_OPTIONS = {
    "write_buffer_size": 8 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 64 * 1024 * 1024,
}


@dataclass
class WireApp:
    """Everything the agents need, built once per process by :func:`create_app`."""

    settings: Settings
    app: faust.App
    metrics: Metrics
    raw: Any
    items: Any
    events: Any
    latest: Any
    dlq: Any
    table: Any
    delivery: DeliveryTracker
    expiry: Expiry
    progress: Any = None
    version: str = __version__

    @property
    def retention(self) -> timedelta:
        return self.expiry.retention


def faust_config(settings: Settings) -> dict[str, Any]:
    """Settings in Faust's terms. Choices here are load-bearing; each says why."""
    config: dict[str, Any] = {
        "broker": [f"kafka://{host}" for host in bootstrap_servers(settings)],
        # RocksDB without its write-ahead log: the changelog is the table's log (table_store.py).
        "store": faust_store_url(settings.store),
        "datadir": str(settings.state_dir),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        # No leader-election topic: we never use app.timer(on_leader=True).
        "topic_disable_leader": True,
        # At-least-once: before offsets are committed, every record sent for them is
        # acknowledged or the worker stops (delivery.py); the outbox covers the rest (state.py).
        "processing_guarantee": "at_least_once",
        "producer_acks": -1,
        "producer_max_request_size": 16 * 1024 * 1024,
        # Events are ~10 KB: the 16 KB default batch holds one, so every event cost a request.
        "producer_max_batch_size": 1024 * 1024,
        # Also the changelog's and the repartition topic's records: Faust has one producer.
        "producer_compression_type": settings.compression_type,
        # Kafka's default partitioning, each key hashed once (partitioner.py).
        "producer_partitioner": partition_for,
        # Also load-bearing for positions.py: an offset out of range must go to the log start.
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": 1.0,
        # Commits on that timer only. Faust also commits every n acked messages (10,000 by
        # default) from inside its fetch loop, which hands out no message until that commit
        # is done; ours waits for every record in flight to be acknowledged (delivery.py).
        "broker_commit_every": COMMIT_EVERY_NEVER,
        # How soon a dead worker's partitions move to the living ones.
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": max(settings.session_timeout_s / 10, 1.0),
        "key_serializer": "raw",
        "value_serializer": "raw",
        "web_enabled": True,
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        "web_host": settings.web_host,
        # Faust's own pages: /table/<name>/<key>/ would serve a bucket's state (story texts)
        # to anyone who reaches the metrics port; /router/ the partition map. Ours are
        # /health, /health/ready and /metrics (web.py).
        "web_tables_enabled": False,
        "web_router_enabled": False,
        # Resume soon after a rebalance; the default waits 3 s doing nothing.
        "stream_recovery_delay": 0.2,
        # Faust would otherwise turn worker stdout into log lines.
        "worker_redirect_stdouts": False,
    }
    credentials = faust_credentials(settings)
    if credentials is not None:
        config["broker_credentials"] = credentials
    if settings.instance_id:
        config["consumer_group_instance_id"] = settings.instance_id
    return config


def bucket_table(app: faust.App, settings: Settings) -> Any:
    """The table of bucket states: raw bytes in, raw bytes out, one RocksDB per partition."""
    return app.Table(
        settings.table_name,
        default=None,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        # Per partition. Faust's RocksDB defaults let RSS grow from 770 MiB to 2.2 GiB over
        # 300k items; these caps held it at 527 -> 567 MiB (BENCHMARKS.md, round 0,
        # "The ceiling").
        options=ROCKSDB_OPTIONS,
    )


def settle_limit_s(app: faust.App) -> float:
    """How long a commit waits for the records sent before it (delivery.py).

    aiokafka fails a batch older than the producer's request timeout, but only when a send
    attempt ends, and an attempt begun just before that age may wait one more request timeout
    for its answer: twice the timeout, and a minute, is past any record aiokafka will settle.
    """
    return 2 * float(app.conf.producer_request_timeout) + 60.0


def create_app(settings: Settings, metrics: Metrics | None = None) -> WireApp:
    """Build the app with its topics, table, agents and pages; nothing connects yet."""
    from workers.stream.agents import Progress, register_agents
    from workers.stream.web import register_pages

    app = faust.App(settings.app_id, **faust_config(settings))
    metrics = metrics or Metrics()
    table = bucket_table(app, settings)
    wire = WireApp(
        settings=settings,
        app=app,
        metrics=metrics,
        raw=app.topic(settings.topic_raw, key_type=bytes, value_type=bytes),
        items=app.topic(
            settings.repartition_topic,
            partitions=settings.partitions,
            internal=True,
            key_type=bytes,
            value_type=bytes,
        ),
        events=app.topic(settings.topic_events, key_type=bytes, value_type=bytes),
        latest=app.topic(settings.topic_latest, key_type=bytes, value_type=bytes),
        dlq=app.topic(settings.topic_dlq, key_type=bytes, value_type=bytes),
        table=table,
        delivery=DeliveryTracker(settle_limit_s=settle_limit_s(app)),
        expiry=Expiry(table, timedelta(days=settings.state_retention_days), settings.partitions),
    )
    install_delivery_proof(app.producer, wire.delivery)
    membership = Membership(settings.session_timeout_s, float(app.conf.broker_rebalance_timeout))
    if watch_membership(app.conf.id, membership):  # Faust's group id
        fence_producer(app.producer, membership)  # before the builds: it asks after them
    install_batch_builds(app.producer, settings.compression_type)
    install_publish_path(app)
    install_handoff(app.consumer, below_ebb_mark(app.producer.buffer))
    install_read_committed(app.consumer)
    install_table_flushes(app, table, settings.store_flush_s)
    if settings.fault_injection == "fail-state-write" and isinstance(
        table.data, ChangelogBackedStore
    ):
        table.data.fail_writes = True
    install_stale_state_rebuilds(app, metrics.state_rebuilds.inc)
    app.sensors.add(CommitRounds(lambda: metrics.last_commit.set(time.time())))
    wire.progress = Progress()
    register_agents(wire)
    register_pages(wire)
    return wire
