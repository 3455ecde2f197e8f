"""The membership fence on a real broker: a produce request whose lease ran out after the
fence's last answer, while aiokafka encoded it, never reaches the broker; held, it goes once
a heartbeat proves the membership again, and the broker has each record once."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.client import ConnectionGroup

from tests.support.clock import FakeClock
from tests.support.kafka_io import create_topic, read_all
from workers.stream.membership import _GATED, Membership, fence_client

pytestmark = pytest.mark.integration


def test_a_request_whose_lease_ends_while_it_is_encoded_never_reaches_the_broker(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"fence-{uuid.uuid4().hex[:12]}"
    create_topic(kafka_bootstrap, topic, 1)
    clock = FakeClock(time.monotonic())
    member = Membership(10.0, clock=clock)
    member.joined()
    refused: list[str] = []
    frozen: list[bool] = []

    async def produce() -> tuple[int, int, int]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        assert fence_client(producer, member, refused.append)
        await producer.start()
        try:
            first = await producer.send_and_wait(topic, b"first")
            [(node_id, group)] = [
                key for key in producer.client._conns if key[1] == ConnectionGroup.DEFAULT
            ]
            conn = producer.client._conns[(node_id, group)]
            assert getattr(conn._writer.transport, _GATED, None) is not None
            send = conn.send

            def frozen_while_encoding(request: Any, **kwargs: Any) -> Any:
                if not frozen:  # past the fence's last answer: the lease ends in the encoding
                    frozen.append(True)
                    clock.now += 60
                return send(request, **kwargs)

            conn.send = frozen_while_encoding
            second = await producer.send(topic, b"second")
            deadline = time.monotonic() + 30
            while not any("records held" in m for m in caplog.messages):  # the retry, held
                assert not second.done(), "written though its lease had ended"
                assert time.monotonic() < deadline, caplog.messages
                await asyncio.sleep(0.05)
            held = len(await asyncio.to_thread(read_all, kafka_bootstrap, topic))
            member.heartbeat_accepted(clock.now)  # still a member: the batch goes
            sent = await asyncio.wait_for(second, 30)
            return first.offset, held, sent.offset
        finally:
            await producer.stop()

    with caplog.at_level(logging.WARNING):
        first, held, second = asyncio.run(produce())
    assert frozen == [True]
    assert not refused
    assert (first, held, second) == (0, 1, 1)  # refused at the write, then sent once
    assert [r.value for r in read_all(kafka_bootstrap, topic)] == [b"first", b"second"]
