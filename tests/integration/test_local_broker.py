"""The local Kafka broker (deploy/local/kafka.sh) works for real: topics, clients, restarts."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.broker import KAFKA_SH, BrokerScriptError, LocalBroker, relayed_broker
from tests.support.broker import own_broker as own_stopped_broker
from tests.support.relay import Relay

pytestmark = pytest.mark.integration

PARTITIONS = 4
COUNT = 100
DEADLINE_S = 60.0


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create ``topic`` and wait until every partition has a leader."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(topic, partitions, 1)])
        errors = [err for err in response.topic_errors if err[1] != 0]
        assert not errors, f"create_topics failed: {errors}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_S
        while True:
            [meta] = await admin.describe_topics([topic])
            leaders = [p["leader"] for p in meta["partitions"] if p["error_code"] == 0]
            if meta["error_code"] == 0 and len(leaders) == partitions and min(leaders) >= 0:
                return
            assert loop.time() < deadline, f"topic {topic} not ready: {meta}"
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, values: list[str], partitions: int) -> None:
    """Send ``values`` round-robin over the partitions, acks=all, and wait for every ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=v.encode(), key=v.encode(), partition=i % partitions)
            for i, v in enumerate(values)
        ]
        acks = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    assert Counter(a.partition for a in acks) == Counter(i % partitions for i in range(len(values)))


async def _consume(
    bootstrap: str, topic: str, expected: int, group_id: str | None = None
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` until ``expected`` records arrived (or fail at the deadline).

    With ``group_id`` the consumer joins that group, resumes from its committed offsets and
    commits what it read; without, it reads every partition from the beginning.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        records: list[ConsumerRecord[bytes, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_S
        while len(records) < expected:
            remaining = deadline - loop.time()
            assert remaining > 0, f"only {len(records)} of {expected} records from {topic}"
            batches = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for batch in batches.values():
                records.extend(batch)
        if group_id is not None:
            await consumer.commit()
        return records
    finally:
        await consumer.stop()


def _values(records: list[ConsumerRecord[bytes, bytes]]) -> list[str]:
    return [r.value.decode() for r in records if r.value is not None]


def _assert_all_back(records: list[ConsumerRecord[bytes, bytes]], sent: list[str]) -> None:
    assert sorted(_values(records)) == sorted(sent)
    # Per partition, records come back in the order they were produced.
    for partition in range(PARTITIONS):
        in_partition = [r for r in records if r.partition == partition]
        assert [r.offset for r in in_partition] == sorted(r.offset for r in in_partition)
        assert _values(in_partition) == sent[partition::PARTITIONS]


def test_topic_produce_consume(kafka_bootstrap: str) -> None:
    topic = _unique("it-broker")
    sent = [f"msg-{i:03d}" for i in range(COUNT)]

    asyncio.run(_create_topic(kafka_bootstrap, topic, PARTITIONS))
    asyncio.run(_produce(kafka_bootstrap, topic, sent, PARTITIONS))
    records = asyncio.run(_consume(kafka_bootstrap, topic, COUNT, group_id=_unique("it-group")))

    _assert_all_back(records, sent)
    per_partition = Counter(r.partition for r in records)
    assert per_partition == dict.fromkeys(range(PARTITIONS), COUNT // PARTITIONS)


@pytest.mark.parametrize("version", ["2.8.2", "4.x", "4.4", "latest"])
def test_a_kafka_version_kafka_sh_cannot_run_is_one_line_and_exit_1(version: str) -> None:
    proc = subprocess.run(
        [str(KAFKA_SH), "version"],
        env={**os.environ, "KAFKA_VERSION": version},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (1, "")
    [line] = proc.stderr.splitlines()
    assert re.fullmatch(
        rf"kafka\.sh: error: KAFKA_VERSION must be a 3\.x or 4\.x release such as 4\.\d+\.\d+, "
        rf"got '{re.escape(version)}'",
        line,
    ), line


# A `setsid` that takes a second to hand over to the real one, and meanwhile shows arguments
# that are not yet the broker's: as the launching subshell does until it execs, a window a
# loaded machine stretches (it made a CI run's broker "exit during startup" while it ran on).
_SLOW_SETSID = """#!/usr/bin/env bash
real=$(PATH=${PATH#*:} command -v setsid)
printf -v WI_LAUNCH '%q ' "$real" "$@"
export WI_LAUNCH
exec bash -c 'sleep 1; eval "exec $WI_LAUNCH"'
"""


def test_a_broker_slow_to_launch_is_waited_for_not_reported_dead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "setsid").write_text(_SLOW_SETSID)
    (shims / "setsid").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    with own_stopped_broker() as broker:
        assert broker.start() == broker.bootstrap
        assert broker.is_running()
        asyncio.run(_create_topic(broker.bootstrap, _unique("it-slow-launch"), 1))


def test_a_broker_that_exits_at_startup_is_reported_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_HEAP_OPTS", "-Xms64m -Xmx32m")  # the JVM refuses to start
    with own_stopped_broker() as broker:
        with pytest.raises(BrokerScriptError) as failed:
            broker.start()
        assert failed.value.returncode == 1
        assert "the broker exited during startup" in failed.value.stderr
        assert not broker.is_running()


@pytest.fixture(scope="module")
def own_broker() -> Iterator[LocalBroker]:
    """A broker of this module's own, so stopping it never disturbs other tests' broker; with
    a RELAYED listener, for the relay's test."""
    broker = relayed_broker()
    try:
        broker.stop()
        broker.start()
        yield broker
    finally:
        broker.stop()


def test_the_broker_runs_the_kafka_version_asked_for(own_broker: LocalBroker) -> None:
    """CI runs the suite once per Kafka line (KAFKA_VERSION): the broker must be that release."""
    asked = os.environ.get("KAFKA_VERSION") or own_broker.kafka_version()
    assert own_broker.kafka_version() == asked
    assert own_broker.running_version() == asked
    assert asked.split(".")[0] in ("3", "4")


def test_a_relay_carries_a_client_and_cuts_it_off(own_broker: LocalBroker) -> None:
    """The fault tests' network cut: a client bootstrapped through the relay is told the
    relay's address, so all its traffic crosses it; cut, its requests go unanswered while
    other clients go on; mended, it reconnects and its send is acknowledged."""
    bootstrap = own_broker.start()
    relay_port = int(own_broker.relay_bootstrap.rsplit(":", 1)[1])
    relay = Relay(relay_port, own_broker.relayed_port).start()
    topic = _unique("it-relay")

    async def scenario() -> None:
        await _create_topic(bootstrap, topic, 1)
        producer = AIOKafkaProducer(bootstrap_servers=own_broker.relay_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"before")
            brokers = producer.client.cluster.brokers()
            assert {(b.host, b.port) for b in brokers} == {("127.0.0.1", relay_port)}
            relay.cut()
            during = await producer.send(topic, b"during")
            done, _ = await asyncio.wait([during], timeout=3.0)
            assert not done, "a send was acknowledged across a cut relay"
            await _produce(bootstrap, topic, ["direct"], 1)  # the broker itself goes on
            relay.mend()
            await asyncio.wait_for(during, DEADLINE_S)  # the client sends it again
        finally:
            await producer.stop()

    try:
        asyncio.run(scenario())
    finally:
        relay.close()
    assert relay.connections >= 3  # the bootstrap's, the one the cut reset, the one after
    assert sorted(_values(asyncio.run(_consume(bootstrap, topic, 3)))) == [
        "before",
        "direct",
        "during",
    ]


def test_restart_on_same_data_keeps_messages_and_offsets(own_broker: LocalBroker) -> None:
    broker = own_broker
    bootstrap = broker.start()  # idempotent: running already, unless an earlier test failed
    topic, group = _unique("it-restart"), _unique("it-restart-group")
    sent = [f"before-{i:03d}" for i in range(COUNT)]
    asyncio.run(_create_topic(bootstrap, topic, PARTITIONS))
    asyncio.run(_produce(bootstrap, topic, sent, PARTITIONS))
    assert len(asyncio.run(_consume(bootstrap, topic, COUNT, group_id=group))) == COUNT

    try:
        broker.stop(keep_data=True)
        assert not broker.is_running()
    finally:
        assert broker.start() == bootstrap
    assert broker.is_running()

    # Every message survived, in order.
    _assert_all_back(asyncio.run(_consume(bootstrap, topic, COUNT)), sent)
    # The group's committed offsets survived too: it only sees what is produced after restart.
    after = [f"after-{i:03d}" for i in range(8)]
    asyncio.run(_produce(bootstrap, topic, after, PARTITIONS))
    resumed = asyncio.run(_consume(bootstrap, topic, len(after), group_id=group))
    assert sorted(_values(resumed)) == after


def test_kill_then_start_keeps_acknowledged_messages(own_broker: LocalBroker) -> None:
    broker = own_broker
    bootstrap = broker.start()
    topic = _unique("it-kill")
    sent = [f"acked-{i:03d}" for i in range(COUNT)]
    asyncio.run(_create_topic(bootstrap, topic, PARTITIONS))
    asyncio.run(_produce(bootstrap, topic, sent, PARTITIONS))

    try:
        broker.kill()
        assert not broker.is_running()
    finally:
        assert broker.start() == bootstrap

    _assert_all_back(asyncio.run(_consume(bootstrap, topic, COUNT)), sent)
