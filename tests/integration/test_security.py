"""The worker on a broker that demands SASL_SSL: SCRAM-SHA-256 or -512 over TLS, verified
against a CA.

Everything the worker knows about security comes from its environment (KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_*, KAFKA_SSL_CAFILE), exactly as operators configure it. The broker is this module's
own (deploy/local/kafka.sh with KAFKA_SASL_SSL_PORT), never the session's PLAINTEXT broker;
PLAINTEXT on it serves only to create the input topic, as an operator's admin tooling would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.support.broker import LocalBroker, free_port
from tests.support.kafka_io import Record, create_topic
from tests.support.schemas import validate_event
from tests.support.waiting import wait_until
from tests.support.worker import Names, WorkerProcess
from workers.settings import Settings
from workers.stream.kafka_client import client_kwargs

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ORIGINAL = REPO / "seeds" / "000_original.txt"
UPDATE = REPO / "seeds" / "000_3b5780341c97b251.txt"
PARTITIONS = 4
SCRAM_USER = "wire"
# Distinctive, so that finding it in a log means it leaked (and not a common word).
SCRAM_PASSWORD = f"wire-secret-{uuid.uuid4().hex[:16]}"
WRONG_PASSWORD = f"not-the-secret-{uuid.uuid4().hex[:16]}"
AUTH_FAILED = "SaslAuthenticationFailed"  # aiokafka's name for Kafka error 58
TLS_FAILED = "CERTIFICATE_VERIFY_FAILED"  # OpenSSL's reason when the broker is not trusted
FAILURE_DEADLINE_S = 60.0

WorkerFactory = Callable[..., WorkerProcess]


@pytest.fixture(scope="module")
def secure_broker() -> Iterator[LocalBroker]:
    """A broker of its own with PLAINTEXT on one free port and SASL_SSL on another."""
    port = free_port()
    sasl_ssl_port = free_port()
    while sasl_ssl_port in (port, port + 1):
        sasl_ssl_port = free_port()
    broker = LocalBroker(
        port, sasl_ssl_port=sasl_ssl_port, scram_user=SCRAM_USER, scram_password=SCRAM_PASSWORD
    )
    try:
        broker.stop()  # drop what a crashed earlier run may have left for this port
        broker.start()
        yield broker
    finally:
        broker.stop()


def security_env(
    broker: LocalBroker, password: str = SCRAM_PASSWORD, mechanism: str = "SCRAM-SHA-256"
) -> dict[str, str]:
    """The worker's KAFKA_* variables for the broker's SASL_SSL listener."""
    return {
        "KAFKA_BOOTSTRAP": broker.sasl_ssl_bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": mechanism,
        "KAFKA_SASL_USERNAME": broker.scram_user,
        "KAFKA_SASL_PASSWORD": password,
        "KAFKA_SSL_CAFILE": str(broker.ca_file),
        # Whatever the calling shell has: no client certificate (the broker asks for none).
        "KAFKA_SSL_CERTFILE": "",
        "KAFKA_SSL_KEYFILE": "",
    }


def secure_kwargs(env: dict[str, str]) -> dict[str, object]:
    """aiokafka client arguments built the way the worker builds its own."""
    return client_kwargs(Settings.from_env(env))


@pytest.fixture
def secure_workers(tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start workers with a security environment; all are stopped (or killed) at the end."""
    started: list[WorkerProcess] = []

    def make(label: str, names: Names, env: dict[str, str]) -> WorkerProcess:
        worker = WorkerProcess(
            bootstrap=env["KAFKA_BOOTSTRAP"],
            names=names,
            state_dir=tmp_path / f"state-{label}",
            log_path=tmp_path / f"worker-{label}.log",
            partitions=PARTITIONS,
            extra_env=env,
        )
        started.append(worker)
        return worker.start()

    yield make
    for worker in started:
        if worker.alive():
            try:
                worker.stop(timeout=20)
            except AssertionError:
                worker.kill()


def produce_in_order(env: dict[str, str], topic: str, values: list[bytes]) -> None:
    """Send values one by one to partition 0 over the secure listener, each acked (acks=all)."""

    async def go() -> None:
        producer = AIOKafkaProducer(**secure_kwargs(env), acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(topic, value=value, partition=0)
        finally:
            await producer.stop()

    asyncio.run(go())


def read_exactly(
    env: dict[str, str], topic: str, count: int, timeout: float = 60.0
) -> list[Record]:
    """Read ``topic`` from the beginning over the secure listener until ``count`` records have
    come; then check that the topic holds no more than that."""

    async def go() -> list[Record]:
        consumer = AIOKafkaConsumer(
            **secure_kwargs(env), enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + timeout
            partitions = consumer.partitions_for_topic(topic)
            while not partitions:
                assert time.monotonic() < deadline, f"topic {topic} not found"
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic)
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            records: list[Record] = []
            while len(records) < count:
                assert time.monotonic() < deadline, (
                    f"timed out reading {topic}: {len(records)} of {count} records"
                )
                batch = await consumer.getmany(timeout_ms=200)
                for tp_records in batch.values():
                    records.extend(
                        Record(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)
                        for r in tp_records
                    )
            ends = await consumer.end_offsets(tps)
            assert sum(ends.values()) == count, f"{topic} holds {ends}, expected {count} records"
            return records
        finally:
            await consumer.stop()

    return asyncio.run(go())


def assert_no_secret(worker: WorkerProcess, *secrets: str) -> None:
    text = worker.log_path.read_text(errors="replace")
    assert text.strip(), "the worker wrote no log at all"
    for secret in secrets:
        assert secret not in text, f"the worker log contains a password:\n{worker.log_tail()}"


def wait_for_failure(worker: WorkerProcess, marker: str) -> None:
    """Wait until the worker logged ``marker`` or exited; it must never report ready."""
    became_ready: list[bool] = []

    def failed() -> bool:
        if worker.alive() and worker._get("/health/ready")[0] == 200:
            became_ready.append(True)
            return True
        return marker in worker.log_path.read_text(errors="replace") or not worker.alive()

    wait_until(
        failed,
        FAILURE_DEADLINE_S,
        f"the worker to fail with {marker}",
        interval=0.2,
        on_timeout=worker.log_tail,
    )
    assert not became_ready, f"the worker became ready:\n{worker.log_tail()}"
    # Exit or not, the reason must be in the log (an exit may just have flushed it).
    if not worker.alive():
        assert worker.proc is not None
        assert worker.proc.returncode != 0, f"exited with 0:\n{worker.log_tail()}"
    assert marker in worker.log_path.read_text(errors="replace"), worker.log_tail()


# SCRAM-SHA-512 is what managed clusters often offer (Amazon MSK offers no other SCRAM).
@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_worker_processes_seeds_over_sasl_ssl(
    secure_broker: LocalBroker, secure_workers: WorkerFactory, mechanism: str
) -> None:
    names = Names.fresh("sec")
    env = security_env(secure_broker, mechanism=mechanism)
    create_topic(secure_broker.bootstrap, names.raw, PARTITIONS)  # PLAINTEXT admin

    worker = secure_workers("ok", names, env)
    worker.wait_ready()
    assert worker.raw_partitions() == list(range(PARTITIONS))

    produce_in_order(env, names.raw, [ORIGINAL.read_bytes(), UPDATE.read_bytes()])
    events = [orjson.loads(r.value) for r in read_exactly(env, names.events, 2)]
    for event in events:
        validate_event(event)
    assert events[0]["eventType"] == "story.created"
    assert events[1]["eventType"] in ("story.updated", "story.backfilled")
    assert [e["version"] for e in events] == [1, 2]
    assert len({e["storyKey"] for e in events}) == 1

    # aiokafka logs each SASL login: the topic check before Faust starts logs some, and Faust's
    # own producer and consumer (started after "[^Worker]: Starting") must log theirs.
    log = worker.log_path.read_text(errors="replace")
    before, started, faust_part = log.partition("[^Worker]: Starting")
    assert started, worker.log_tail()
    login = f"Authenticated as {SCRAM_USER} via {mechanism}"
    assert login in before, worker.log_tail()
    assert faust_part.count(login) >= 2, worker.log_tail()
    assert_no_secret(worker, SCRAM_PASSWORD)
    assert worker.stop() < 15
    assert_no_secret(worker, SCRAM_PASSWORD)  # nothing printed on the way out either


def test_worker_with_wrong_password_fails_with_authentication_error(
    secure_broker: LocalBroker, secure_workers: WorkerFactory
) -> None:
    names = Names.fresh("secbad")
    worker = secure_workers("badpw", names, security_env(secure_broker, password=WRONG_PASSWORD))
    wait_for_failure(worker, AUTH_FAILED)
    assert "invalid credentials with SASL mechanism SCRAM-SHA-256" in worker.log_path.read_text(
        errors="replace"
    )
    assert_no_secret(worker, WRONG_PASSWORD, SCRAM_PASSWORD)


def test_worker_without_the_ca_file_refuses_the_broker(
    secure_broker: LocalBroker, secure_workers: WorkerFactory
) -> None:
    """Right password, no KAFKA_SSL_CAFILE: the system's trust store does not know the local CA,
    so TLS verification fails before any credential is sent."""
    env = {**security_env(secure_broker), "KAFKA_SSL_CAFILE": ""}
    worker = secure_workers("noca", Names.fresh("secca"), env)
    wait_for_failure(worker, TLS_FAILED)
    assert f"Authenticated as {SCRAM_USER}" not in worker.log_path.read_text(errors="replace")
    assert_no_secret(worker, SCRAM_PASSWORD)


def _command_line(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``wire-ingest dlq list`` with this environment, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "dlq", "list"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_tls_client_at_the_plaintext_listener_is_told_what_is_wrong(
    secure_broker: LocalBroker,
) -> None:
    """The broker hangs up on a TLS handshake; the cause used to print as nothing at all."""
    env = {**security_env(secure_broker), "KAFKA_BOOTSTRAP": secure_broker.bootstrap}
    done = _command_line(env)
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert 'Unable connect to "127.0.0.1:' in done.stderr
    assert ": ConnectionResetError)" in done.stderr
    assert "does the listener at that address speak TLS" in done.stderr
    assert SCRAM_PASSWORD not in done.stderr


def test_a_plaintext_client_at_the_tls_listener_gets_one_line(secure_broker: LocalBroker) -> None:
    env = {
        "KAFKA_BOOTSTRAP": secure_broker.sasl_ssl_bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
    }
    done = _command_line(env)
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "does it want TLS or SASL" in done.stderr


def test_a_client_at_the_kraft_controller_port_is_told_so(secure_broker: LocalBroker) -> None:
    done = _command_line({"KAFKA_BOOTSTRAP": f"127.0.0.1:{secure_broker.controller_port}"})
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "is it a KRaft controller's" in done.stderr
