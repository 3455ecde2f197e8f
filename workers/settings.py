"""Every setting of wire-ingest, read from environment variables, with documented defaults.

The README's configuration table is this module in prose; keep the two in step.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from workers.core.decode import DEFAULT_MAX_BYTES, DLQ_MAX_RAW_BYTES

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# Faults the reliability suite can switch on in a real worker; never set in production.
# crash-merge-agent: the merge agent dies outside its guard, as a bug would.
# exit-after-state-write: the process ends right after the merge agent wrote a bucket's state,
# before the changelog record or the event left (a SIGKILL at the worst moment).
FAULTS = ("crash-merge-agent", "exit-after-state-write", "fail-state-write")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# Faust's table stores: RocksDB on disk (the default), or memory (tests; restored from the
# changelog at every start).
STORES = ("rocksdb://", "memory://")
# Codecs of the record batches the worker writes (events, DLQ, repartition and changelog
# records); "none" writes them as they are. Every consumer of the worker's topics must read
# the codec chosen (zstd: Kafka clients 2.1+, librdkafka 1.0+, aiokafka with cramjam).
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")


# Faust's broker_request_timeout (its default, which the worker keeps): a consumer group's
# session may not outlast a request, or Faust refuses to start.
MAX_SESSION_TIMEOUT_S = 90.0


class SettingsError(ValueError):
    """A setting has a value the worker cannot use; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved configuration. Build it with :meth:`from_env`."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    app_id: str = "wire-ingest"
    topic_raw: str = "wire.raw"
    topic_events: str = "stories.events"
    topic_latest: str = "stories.latest"
    topic_dlq: str = "wire.dlq"
    partitions: int = 4
    replication_factor: int = 1
    state_dir: Path = Path("state")
    store: str = "rocksdb://"
    # RocksDB keeps the table without its write-ahead log (the changelog is the table's log):
    # the open databases flush this often, which bounds what a crash makes the next start
    # replay, and keeps the local state far younger than the changelog's tombstones (a day).
    store_flush_s: float = 30.0
    web_host: str = "127.0.0.1"
    web_port: int = 9108
    max_item_bytes: int = DEFAULT_MAX_BYTES
    # A bucket's stored state (one changelog record) may not pass this: the changelog takes
    # 16 MiB records, and a record the broker refuses would stop the worker on every restart.
    max_state_bytes: int = 8 * 1024 * 1024
    # A bucket expires this long (in stream time) after its newest version; a version of an
    # expired story is dead-lettered as "expired" (workers/core/retention.py).
    state_retention_days: float = 7.0
    # How long the raw topic keeps items: how far back a rebuild of the state from the raw
    # topic can go. -1 keeps them forever. Applied when the worker creates the topic.
    raw_retention_days: float = 30.0
    # How long dead-lettered records wait for `wire-ingest dlq replay`. -1: forever.
    dlq_retention_days: float = 30.0
    log_level: str = "info"
    # Wire text is ~4x smaller in zstd, and on a broker sharing the worker's CPUs the bytes
    # cost more than the compression (BENCHMARKS.md: +55 % items/s against "none").
    compression: str = "zstd"
    instance_id: str | None = None
    shutdown_grace_s: float = 12.0
    # How long a starting worker waits for an unreachable broker before it exits (code 4).
    start_timeout_s: float = 300.0
    session_timeout_s: float = 30.0
    fault_injection: str | None = None
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)  # never in a log
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            name = ENV_NAMES[f.name]
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            if f.type == "int":
                try:
                    values[f.name] = int(raw)
                except ValueError as exc:
                    raise SettingsError(f"{name}={raw!r} is not a whole number") from exc
            elif f.type == "float":
                try:
                    number = float(raw)
                except ValueError as exc:
                    raise SettingsError(f"{name}={raw!r} is not a number") from exc
                if not math.isfinite(number):  # "nan" and "inf" would pass every bound
                    raise SettingsError(f"{name}={raw!r} is not a finite number")
                values[f.name] = number
            elif f.type == "Path":
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.partitions < 1:
            raise SettingsError("WIRE_PARTITIONS must be at least 1")
        if self.replication_factor < 1:
            raise SettingsError("WIRE_REPLICATION_FACTOR must be at least 1")
        if not 1 <= self.web_port <= 65535:
            raise SettingsError(f"WIRE_WEB_PORT must be between 1 and 65535, not {self.web_port}")
        if self.log_level.lower() not in LOG_LEVELS:
            raise SettingsError(
                f"WIRE_LOG_LEVEL must be one of {LOG_LEVELS}, not {self.log_level!r}"
            )
        if self.compression.lower() not in COMPRESSIONS:
            raise SettingsError(
                f"WIRE_COMPRESSION must be one of {COMPRESSIONS}, not {self.compression!r}"
            )
        if not self.store.startswith(STORES):
            raise SettingsError(f"WIRE_STORE must start with one of {STORES}, not {self.store!r}")
        if not 1 <= self.store_flush_s <= 3600:
            raise SettingsError("WIRE_STORE_FLUSH_S must be between 1 and 3600 (seconds)")
        if self.start_timeout_s < 0:
            raise SettingsError("WIRE_START_TIMEOUT_S must be 0 (no waiting) or more (seconds)")
        if self.shutdown_grace_s <= 0:
            raise SettingsError("WIRE_SHUTDOWN_GRACE_S must be more than 0 (seconds)")
        for variable, path in (
            ("KAFKA_SSL_CAFILE", self.ssl_cafile),
            ("KAFKA_SSL_CERTFILE", self.ssl_certfile),
            ("KAFKA_SSL_KEYFILE", self.ssl_keyfile),
        ):
            if path and not Path(path).is_file():
                raise SettingsError(f"{variable}={path!r}: no such file")
        if not 1024 <= self.max_item_bytes <= DLQ_MAX_RAW_BYTES:
            # Larger, a rejected item could not be kept whole in its DLQ record.
            raise SettingsError(f"WIRE_MAX_ITEM_BYTES must be between 1024 and {DLQ_MAX_RAW_BYTES}")
        if not 64 * 1024 <= self.max_state_bytes <= 15 * 1024 * 1024:
            raise SettingsError("WIRE_MAX_STATE_BYTES must be between 65536 and 15728640")
        if not 1 / 24 <= self.state_retention_days <= 3660:
            raise SettingsError("WIRE_STATE_RETENTION_DAYS must be between 0.0417 (1 h) and 3660")
        for variable, days in (
            ("WIRE_RAW_RETENTION_DAYS", self.raw_retention_days),
            ("WIRE_DLQ_RETENTION_DAYS", self.dlq_retention_days),
        ):
            if days != -1 and days < 1:
                raise SettingsError(f"{variable} must be at least 1 (days), or -1 for forever")
        if not 6 <= self.session_timeout_s <= MAX_SESSION_TIMEOUT_S:
            raise SettingsError(
                f"WIRE_SESSION_TIMEOUT_S must be between 6 and {MAX_SESSION_TIMEOUT_S:.0f} "
                "(seconds; no more than the client's request timeout)"
            )
        problem = _bootstrap_problem(self.kafka_bootstrap)
        if problem is not None:
            raise SettingsError(f"KAFKA_BOOTSTRAP={self.kafka_bootstrap!r}: {problem}")
        if self.fault_injection not in (None, *FAULTS):
            raise SettingsError(f"WIRE_FAULT_INJECTION must be one of {FAULTS}")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise SettingsError(f"KAFKA_SECURITY_PROTOCOL must be one of {SECURITY_PROTOCOLS}")
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise SettingsError(f"KAFKA_SASL_MECHANISM must be one of {SASL_MECHANISMS}")
            missing = [
                variable
                for variable, value in (
                    ("KAFKA_SASL_USERNAME", self.sasl_username),
                    ("KAFKA_SASL_PASSWORD", self.sasl_password),
                )
                if not value
            ]
            if missing:
                raise SettingsError(f"SASL needs {' and '.join(missing)}")

    @property
    def table_name(self) -> str:
        return "story-buckets"

    @property
    def repartition_topic(self) -> str:
        return f"{self.app_id}.items-by-story"

    @property
    def compression_type(self) -> str | None:
        """The codec in Kafka clients' terms: None writes batches uncompressed."""
        name = self.compression.lower()
        return None if name == "none" else name

    @property
    def created_topics(self) -> tuple[str, ...]:
        return (self.topic_raw, self.topic_events, self.topic_dlq)


def _bootstrap_problem(bootstrap: str) -> str | None:
    """What is wrong with a "host:port,host:port" list as the Kafka client reads it, if anything.

    The client parses it only when it first connects, where a bad port is a traceback.
    """
    for entry in bootstrap.split(","):
        address = entry.strip()
        if not address:
            return "an empty address in the list"
        if address.startswith("["):  # an IPv6 literal, "[::1]:9092"
            host, bracket, port = address[1:].partition("]")
            if not bracket or (port and not port.startswith(":")):
                return f"{address!r} is not [IPv6 address]:port"
            port = port[1:]
        elif address.count(":") == 1:
            host, _, port = address.partition(":")
        else:  # a host alone (port 9092), or an IPv6 literal without brackets
            host, port = address, ""
        if not host:
            return f"{address!r} names no host"
        if port and not (port.isdecimal() and 1 <= int(port) <= 65535):
            return f"{address!r}: the port must be a number from 1 to 65535"
    return None


def load_or_report() -> Settings | None:
    """Settings from the environment, or None after one stderr line naming the bad variable.

    Every command that reads the environment starts here, so all refuse alike (exit code 2).
    """
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"wire-ingest: configuration error: {exc}", file=sys.stderr)
        return None


# Field name -> environment variable. One place, so docs and code cannot drift apart.
ENV_NAMES: dict[str, str] = {
    "kafka_bootstrap": "KAFKA_BOOTSTRAP",
    "app_id": "WIRE_APP_ID",
    "topic_raw": "WIRE_TOPIC_RAW",
    "topic_events": "WIRE_TOPIC_EVENTS",
    "topic_latest": "WIRE_TOPIC_LATEST",
    "topic_dlq": "WIRE_TOPIC_DLQ",
    "partitions": "WIRE_PARTITIONS",
    "replication_factor": "WIRE_REPLICATION_FACTOR",
    "state_dir": "WIRE_STATE_DIR",
    "store": "WIRE_STORE",
    "store_flush_s": "WIRE_STORE_FLUSH_S",
    "web_host": "WIRE_WEB_HOST",
    "web_port": "WIRE_WEB_PORT",
    "max_item_bytes": "WIRE_MAX_ITEM_BYTES",
    "max_state_bytes": "WIRE_MAX_STATE_BYTES",
    "state_retention_days": "WIRE_STATE_RETENTION_DAYS",
    "raw_retention_days": "WIRE_RAW_RETENTION_DAYS",
    "dlq_retention_days": "WIRE_DLQ_RETENTION_DAYS",
    "log_level": "WIRE_LOG_LEVEL",
    "compression": "WIRE_COMPRESSION",
    "instance_id": "WIRE_INSTANCE_ID",
    "shutdown_grace_s": "WIRE_SHUTDOWN_GRACE_S",
    "start_timeout_s": "WIRE_START_TIMEOUT_S",
    "session_timeout_s": "WIRE_SESSION_TIMEOUT_S",
    "fault_injection": "WIRE_FAULT_INJECTION",
    "security_protocol": "KAFKA_SECURITY_PROTOCOL",
    "sasl_mechanism": "KAFKA_SASL_MECHANISM",
    "sasl_username": "KAFKA_SASL_USERNAME",
    "sasl_password": "KAFKA_SASL_PASSWORD",
    "ssl_cafile": "KAFKA_SSL_CAFILE",
    "ssl_certfile": "KAFKA_SSL_CERTFILE",
    "ssl_keyfile": "KAFKA_SSL_KEYFILE",
}
