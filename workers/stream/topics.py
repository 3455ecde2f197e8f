"""Topic names, their creation at start, and the partition-count checks that protect state.

Also the one other thing a start needs of the broker: the consumer group's coordinator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from workers.settings import Settings
from workers.stream.kafka_client import aiokafka_consumer, client_kwargs

log = logging.getLogger(__name__)

# Large enough for a maximum-size item wrapped in an event or (base64) in a DLQ record.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class TopicConflictError(RuntimeError):
    """An existing topic disagrees with the state layout; restarting will not fix it."""


class TopicCreationError(TopicConflictError):
    """The broker refused to create a topic the settings ask for; restarting will not fix it."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]
    must_match: bool  # partition count is part of the state layout


def changelog_topic(settings: Settings) -> str:
    """Faust's name for the table's changelog topic."""
    return f"{settings.app_id}-{settings.table_name}-changelog"


def worker_outputs(settings: Settings) -> dict[str, str]:
    """The topics the worker writes, each with what names it: raw bytes sent there by hand
    (``produce``, ``dlq replay --to-topic``) would reach consumers, or the worker's own state,
    as records that are no event, DLQ record or state of its."""
    return {
        settings.topic_events: "WIRE_TOPIC_EVENTS",
        settings.topic_latest: "WIRE_TOPIC_LATEST",
        settings.topic_dlq: "WIRE_TOPIC_DLQ",
        settings.repartition_topic: "the repartition topic, of WIRE_APP_ID",
        changelog_topic(settings): "the table's changelog, of WIRE_APP_ID",
    }


def refuse_output(command: str, settings: Settings, target: str) -> str | None:
    """The one line that refuses to send raw bytes to ``target``, if the worker writes it."""
    named = worker_outputs(settings).get(target)
    if named is None:
        return None
    return (
        f"{command}: {target} is a topic the worker writes ({named}); raw items go to a raw "
        f"topic (here {settings.topic_raw}, WIRE_TOPIC_RAW)"
    )


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The topics the worker creates when they are missing, and why each setting.

    - ``max.message.bytes`` 16 MiB everywhere: an item at the size limit fits an event, a
      DLQ record (base64) and a repartition record.
    - ``stories.latest`` and the changelog are compacted: the last record per key is the state.
    - The raw topic keeps ``WIRE_RAW_RETENTION_DAYS`` (how far back a rebuild can go), the DLQ
      ``WIRE_DLQ_RETENTION_DAYS`` (how long a record waits for a replay); the others keep the
      broker's default (7 days for events; the repartition topic is read within seconds).
    - With replicas, ``min.insync.replicas`` is 2 (1 with two replicas): with acks=all, a record
      is acknowledged only when a second broker has it, so one broker's loss loses nothing.
    """
    big = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
    replicas = settings.replication_factor
    if replicas > 1:
        big["min.insync.replicas"] = str(min(2, replicas - 1))
    compact = {**big, "cleanup.policy": "compact"}
    raw = {**big, "retention.ms": _retention_ms(settings.raw_retention_days)}
    dlq = {**big, "retention.ms": _retention_ms(settings.dlq_retention_days)}
    n = settings.partitions
    return [
        TopicSpec(settings.topic_raw, n, raw, must_match=False),
        TopicSpec(settings.topic_events, n, big, must_match=False),
        TopicSpec(settings.topic_latest, n, compact, must_match=False),
        TopicSpec(settings.topic_dlq, n, dlq, must_match=False),
        TopicSpec(settings.repartition_topic, n, big, must_match=True),
        TopicSpec(changelog_topic(settings), n, compact, must_match=True),
    ]


def _check_state_partitions(settings: Settings, existing: dict[str, int]) -> None:
    """Refuse to start when the story state's topics (the repartition topic, the changelog)
    have another partition count than WIRE_PARTITIONS, or disagree with each other (one was
    changed by hand): then no setting fits both, and only a reset mends it."""
    found = {
        spec.name: existing[spec.name]
        for spec in topic_specs(settings)
        if spec.must_match and spec.name in existing
    }
    counts = set(found.values())
    if len(counts) > 1:
        described = ", ".join(f"{name!r} has {count}" for name, count in found.items())
        raise TopicConflictError(
            f"the story state's topics disagree on their partition count ({described}; one "
            "was changed by hand?): no WIRE_PARTITIONS fits both. Reset the state (see README, "
            "'Resetting state')."
        )
    for name, have in found.items():
        if have != settings.partitions:
            raise TopicConflictError(
                f"topic {name!r} has {have} partitions but WIRE_PARTITIONS="
                f"{settings.partitions}; the story state is laid out over {have} partitions. "
                f"Set WIRE_PARTITIONS={have}, or reset the state (see README, "
                f"'Resetting state') before changing the partition count."
            )


def partition_counts(consumer: Any, topics: Iterable[str]) -> dict[str, int | None]:
    """The topics' partition counts in the metadata of Faust's Kafka client (None: unknown).

    The client's cluster metadata, which every worker refreshes (``metadata.max.age.ms``),
    not the group coordinator's snapshot behind ``Consumer.topic_partitions``, which aiokafka
    keeps up to date on the group's leader only. Private attributes, read as Faust's own
    ``key_partition`` reads them; none found, every count is None.
    """
    client = getattr(aiokafka_consumer(consumer), "_client", None)
    cluster = getattr(client, "cluster", None)
    counts: dict[str, int | None] = {}
    for topic in topics:
        partitions = cluster.partitions_for_topic(topic) if cluster is not None else None
        counts[topic] = len(partitions) if partitions else None
    return counts


def running_layout_conflict(
    settings: Settings,
    counts: Mapping[str, int | None],
    assigned: Iterable[tuple[str, int]],
) -> str | None:
    """What the start check would refuse, seen while the worker runs; None while all is well.

    ``counts``: the state topics' partition counts in the consumer's metadata (None: not known
    yet); ``assigned``: the (topic, partition) pairs of its assignment. A state topic grown by
    hand gets new partitions with no counterpart in the other state topic, and the group's
    assignor stops pairing repartition partition p with changelog partition p: a story's
    versions would meet two states. The worker has to stop before it reads such an assignment.
    """
    layout = {spec.name for spec in topic_specs(settings) if spec.must_match}
    beyond = sorted(
        f"{topic}[{partition}]"
        for topic, partition in assigned
        if topic in layout and partition >= settings.partitions
    )
    try:
        _check_state_partitions(
            settings, {name: count for name, count in counts.items() if count is not None}
        )
    except TopicConflictError as exc:
        return str(exc)
    if beyond:
        return (
            f"assigned {', '.join(beyond)}, beyond the story state's {settings.partitions} "
            "partitions (a state topic was grown by hand?). Reset the state (see README, "
            "'Resetting state')."
        )
    return None


def _retention_ms(days: float) -> str:
    return "-1" if days == -1 else str(int(days * 86_400_000))


async def ensure_topics(settings: Settings) -> dict[str, int]:
    """Create missing topics; refuse to start when a stateful topic has another partition count.

    The table's changelog partitions must equal the repartition topic's: partition p of the
    table is restored from changelog partition p and fed by repartition partition p. A mismatch
    would silently scatter a story's versions over two states, so it stops the worker instead.
    Then waits for the group's coordinator (:func:`_wait_for_group_coordinator`).
    """
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        existing = await _partition_counts(admin)
        missing = [spec for spec in topic_specs(settings) if spec.name not in existing]
        _check_state_partitions(settings, existing)
        if missing:
            new = [
                NewTopic(
                    spec.name,
                    spec.partitions,
                    settings.replication_factor,
                    topic_configs=spec.config,
                )
                for spec in missing
            ]
            log.info("creating topics: %s", ", ".join(s.name for s in missing))
            try:
                response = await admin.create_topics(new)
            except KafkaError as exc:  # another worker may have created them meanwhile
                log.info("create_topics: %s (re-checking)", exc)
            else:
                _raise_refusals(response)
        counts = await _wait_for_topics(admin, [s.name for s in topic_specs(settings)])
        await _wait_for_group_coordinator(admin, settings.app_id)
        return counts
    finally:
        await admin.close()


# What a broker answers while the group's coordinator is not there yet: a new broker creates
# its offsets topic on the first request for one, and loads it (or moves it) after a restart.
_COORDINATOR_NOT_YET = (
    errors.GroupCoordinatorNotAvailableError,
    errors.CoordinatorLoadInProgressError,
    errors.NotCoordinatorError,
)


async def _wait_for_group_coordinator(
    admin: AIOKafkaAdminClient, group_id: str, timeout_s: float = 30.0
) -> None:
    """Wait until the broker names the group's coordinator (at most ``timeout_s``).

    Faust's consumer logs an ERROR ("Group Coordinator Request failed") for each answer that
    there is none yet, which is what the first start on a new broker gets: asked here first,
    the consumer finds it ready. Past the timeout the consumer asks on its own (and logs).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await admin.find_coordinator(group_id)
            return
        except _COORDINATOR_NOT_YET as exc:
            if loop.time() > deadline:
                log.warning(
                    "no coordinator for group %s after %.0f s: %s", group_id, timeout_s, exc
                )
                return
            log.debug("waiting for the coordinator of group %s: %s", group_id, exc)
        except KafkaError as exc:  # not this wait's to judge (an ACL, say): the consumer's
            log.debug("asking for the coordinator of group %s: %s", group_id, exc)
            return
        await asyncio.sleep(0.1)


# The broker's "already exists": another worker created the topic first, which is fine.
TOPIC_ALREADY_EXISTS = 36


def _raise_refusals(response: Any) -> None:
    """The broker answers a creation it refuses per topic, with a reason, and raises nothing:
    say its reason (a replication factor above the broker count, a config it rejects) instead
    of waiting for topics that will never come. Topics refused for one reason share it."""
    refused: dict[str, list[str]] = {}
    for row in getattr(response, "topic_errors", ()):
        topic, code = row[0], row[1]
        if code in (0, TOPIC_ALREADY_EXISTS):
            continue
        message = row[2] if len(row) > 2 and row[2] else ""
        name = getattr(errors.for_code(code), "__name__", f"error {code}")
        refused.setdefault(name + (f" ({message})" if message else ""), []).append(topic)
    if refused:
        raise TopicCreationError(
            "the broker refused to create "
            + "; ".join(f"{', '.join(topics)}: {reason}" for reason, topics in refused.items())
        )


async def _wait_for_topics(
    admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 60.0
) -> dict[str, int]:
    """Topic creation is asynchronous in Kafka: wait until metadata shows every topic."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        counts = await _partition_counts(admin)
        absent = [name for name in names if name not in counts]
        if not absent:
            return counts
        if loop.time() > deadline:
            raise RuntimeError(f"topics still missing after {timeout_s:.0f}s: {absent}")
        await asyncio.sleep(0.2)


async def _partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    counts: dict[str, int] = {}
    for meta in await admin.describe_topics():
        if meta.get("error_code", 0) == 0:
            counts[meta["topic"]] = len(meta["partitions"])
    return counts
