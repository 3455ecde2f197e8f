"""The membership fence: no produce request under a group membership that may have lapsed."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.client import ConnectionGroup
from aiokafka.conn import CloseReason
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import NodeNotReadyError
from aiokafka.protocol.group import SyncGroupRequest

from tests.support.clock import FakeClock
from workers.stream.membership import (
    _FENCED_WRITE,
    ClientLink,
    Membership,
    MembershipLapsedError,
    Verdict,
    WriteRefusedError,
    _WriteGate,
    fenced,
    forget_membership,
    watch_membership,
)


def membership(session_s: float = 10.0) -> tuple[Membership, FakeClock]:
    clock = FakeClock(500.0)
    return Membership(session_s, clock=clock), clock


def test_the_lease_is_the_session_less_a_tenth_or_a_second() -> None:
    assert Membership(30.0).lease_s == 27.0
    assert Membership(10.0).lease_s == 9.0
    assert Membership(6.0).lease_s == 5.0


def test_before_the_first_join_records_go() -> None:
    member, clock = membership()
    member.lost()  # a first join's retries reset the generation: nothing was held yet
    assert member.verdict(clock.now) == Verdict.SEND


def test_records_go_while_a_heartbeat_or_join_is_younger_than_the_lease() -> None:
    member, clock = membership()
    member.joined()
    made = clock.now
    clock.now += 8.9
    assert member.verdict(made) == Verdict.SEND
    clock.now += 0.2  # 9.1 s since the join: the broker may be about to drop the member
    assert member.verdict(made) == Verdict.WAIT
    member.heartbeat_accepted(sent_at=clock.now - 0.01)
    assert member.verdict(made) == Verdict.SEND


def test_a_late_answer_to_an_older_heartbeat_does_not_move_the_proof_back() -> None:
    member, clock = membership()
    member.joined()
    member.heartbeat_accepted(sent_at=clock.now + 5)
    member.heartbeat_accepted(sent_at=clock.now + 1)
    assert member.proven_at == clock.now + 5


def test_after_a_loss_nothing_goes_and_after_the_rejoin_only_what_was_made_since() -> None:
    member, clock = membership()
    member.joined()
    before = clock.now + 1
    clock.now += 20  # frozen
    member.lost()  # the coordinator no longer knew the member
    in_the_gap = clock.now + 0.5
    assert member.verdict(before) == Verdict.REFUSE
    clock.now += 1
    assert member.verdict(in_the_gap) == Verdict.REFUSE
    member.joined()  # a new member, whatever partitions it gets
    clock.now += 1
    assert member.verdict(before) == Verdict.REFUSE
    assert member.verdict(in_the_gap) == Verdict.REFUSE
    assert member.verdict(clock.now) == Verdict.SEND


def test_a_rebalance_that_kept_the_member_refuses_nothing() -> None:
    member, clock = membership()
    member.joined()
    made = clock.now + 1
    clock.now += 3
    member.joined()  # a new generation, the same member: nobody else had its partitions
    assert member.verdict(made) == Verdict.SEND


def test_during_a_rebalance_a_heartbeat_proves_no_more_than_its_deadline() -> None:
    """The broker answers "rebalancing" to a member it still knows, but drops it at the
    rebalance timeout if it has not rejoined, whatever its heartbeats."""
    clock = FakeClock(500.0)
    member = Membership(30.0, rebalance_timeout_s=20.0, clock=clock)
    assert member.rebalance_lease_s == 18.0
    member.joined()  # a steady proof at 500
    clock.now += 5
    member.heartbeat_accepted(sent_at=clock.now, rebalancing=True)
    clock.now = 517.9
    assert member.verdict(clock.now) == Verdict.SEND
    clock.now = 518.1  # 27 s after the last heartbeat would still be fine; the deadline is not
    assert member.verdict(clock.now) == Verdict.WAIT
    member.heartbeat_accepted(sent_at=clock.now, rebalancing=True)
    assert member.verdict(clock.now) == Verdict.WAIT
    member.joined(sent_at=clock.now - 0.05)
    assert member.verdict(clock.now) == Verdict.SEND


def test_a_join_counts_from_when_its_sync_request_left() -> None:
    """A worker frozen while it waited for its assignment gets no fresh lease from it."""
    member, clock = membership()
    member.joined(sent_at=clock.now - 20)
    assert member.verdict(clock.now) == Verdict.WAIT
    member.heartbeat_accepted(sent_at=clock.now)
    assert member.verdict(clock.now) == Verdict.SEND


class Batch:
    def __init__(self, made_at: float) -> None:
        self._ctime = made_at


def test_a_held_request_goes_once_a_heartbeat_proves_the_membership(
    caplog: pytest.LogCaptureFixture,
) -> None:
    member, clock = membership()
    member.joined()
    batches = {"tp": Batch(clock.now)}
    clock.now += 15  # frozen past the session
    sent: list[tuple[int, dict[Any, Any]]] = []
    refused: list[str] = []

    async def send(node_id: int, batches: dict[Any, Any]) -> None:
        sent.append((node_id, batches))

    async def go() -> None:
        request = asyncio.ensure_future(fenced(send, member, refused.append, 0.001)(1, batches))
        for _ in range(20):
            await asyncio.sleep(0.002)
        assert not sent
        assert not request.done()
        member.heartbeat_accepted(sent_at=clock.now)
        await asyncio.wait_for(request, 1)

    with caplog.at_level(logging.INFO, "workers.stream.membership"):
        asyncio.run(go())
    assert sent == [(1, batches)]
    assert not refused
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]  # once each
    assert "no heartbeat accepted by the group coordinator for 15 s" in caplog.messages[0]


def test_a_request_made_before_a_loss_is_never_sent() -> None:
    member, clock = membership()
    member.joined()
    batches = {"tp": Batch(clock.now + 1), "tq": Batch(clock.now + 2)}
    clock.now += 15
    sent: list[int] = []
    refused: list[str] = []

    async def send(node_id: int, batches: dict[Any, Any]) -> None:
        sent.append(node_id)

    async def go() -> None:
        request = asyncio.ensure_future(fenced(send, member, refused.append, 0.001)(1, batches))
        await asyncio.sleep(0.01)
        member.lost()
        await asyncio.wait_for(request, 1)
        member.joined()  # and a rejoin changes nothing for it
        await fenced(send, member, refused.append, 0.001)(1, batches)

    asyncio.run(go())
    assert not sent
    assert len(refused) == 2
    assert "was dropped from its consumer group" in refused[0]
    assert "10 s session timeout" in refused[0]


class CoordinatorAnswer:
    def __init__(self, error_code: int) -> None:
        self.error_code = error_code


class RejoinRequest:
    """aiokafka's rejoin future, as far as a heartbeat and a reset use it."""

    def __init__(self, requested: bool = False) -> None:
        self.requested = requested

    def done(self) -> bool:
        return self.requested

    def set_result(self, _result: object) -> None:
        self.requested = True


def coordinator(group_id: str, answer: int, rejoin_pending: bool = False) -> Any:
    """aiokafka's own GroupCoordinator, without its start, its client answering every request
    with ``answer``: enough for a heartbeat and a reset of its generation."""
    made: Any = object.__new__(GroupCoordinator)
    made.group_id = group_id
    made.generation = 3
    made.member_id = "m-1"
    made.coordinator_id = 1
    made._rejoin_needed_fut = RejoinRequest(rejoin_pending)

    async def send(node_id: int, request: Any, **kwargs: Any) -> CoordinatorAnswer:
        return CoordinatorAnswer(answer)

    made._client = SimpleNamespace(send=send)
    return made


NO_ERROR, UNKNOWN_MEMBER, REBALANCING = 0, 25, 27


def test_aiokafka_s_coordinator_tells_the_membership_of_its_group() -> None:
    member, stranger = Membership(10.0), Membership(10.0)  # aiokafka's clock: monotonic
    assert watch_membership("wi-app", member)
    assert watch_membership("wi-other", stranger)
    try:
        member.joined(sent_at=time.monotonic() - 20)  # as after a freeze
        now = time.monotonic()
        assert member.verdict(now) == Verdict.WAIT
        assert asyncio.run(coordinator("wi-app", NO_ERROR)._do_heartbeat()) is True
        assert member.verdict(now) == Verdict.SEND  # proven again
        assert asyncio.run(coordinator("wi-app", UNKNOWN_MEMBER)._do_heartbeat()) is False
        assert member.verdict(now) == Verdict.REFUSE  # aiokafka reset its generation
        assert stranger.proven_at is None
        assert stranger.lost_at is None
    finally:
        forget_membership("wi-app")
        forget_membership("wi-other")


def test_a_completed_join_proves_the_membership_from_its_sync_request() -> None:
    """aiokafka's join ends in ``_on_join_complete``; the proof counts from when the
    SyncGroup request left, which a freeze while waiting for its answer makes old."""
    member = Membership(10.0)
    assert watch_membership("wi-app", member)
    try:
        joining = coordinator("wi-app", NO_ERROR)
        before = time.monotonic()
        asyncio.run(joining._send_req(SyncGroupRequest("wi-app", 3, "m-1", None, [])))
        with pytest.raises(AttributeError):  # the stand-in has no assignors past this point
            asyncio.run(joining._on_join_complete(3, "m-1", "faust", b""))
        assert member.member_since is not None
        assert member.proven_at is not None
        assert before <= member.proven_at < member.member_since  # as sent, not as answered
        assert member.verdict(time.monotonic()) == Verdict.SEND
    finally:
        forget_membership("wi-app")


def test_only_a_rebalancing_answer_bounds_a_heartbeat_by_the_rebalance_deadline() -> None:
    """aiokafka asks for a rejoin itself too (its metadata changed) while the group is
    steady: its heartbeats then still prove a full lease, or a long revoke would be held
    for good."""
    member = Membership(10.0, rebalance_timeout_s=5.0)  # leases of 9 s, and 4 s in a rebalance
    assert watch_membership("wi-app", member)
    try:
        member.joined()
        assert member.steady_since is not None
        steady = member.steady_since
        pending = coordinator("wi-app", NO_ERROR, rejoin_pending=True)
        assert asyncio.run(pending._do_heartbeat()) is True
        assert member.steady_since > steady  # a steady proof, rejoin pending or not
        assert member.valid_until == member.steady_since + 9.0
        steady = member.steady_since
        assert asyncio.run(coordinator("wi-app", REBALANCING)._do_heartbeat()) is True
        assert member.steady_since == steady
        assert member.valid_until == steady + 4.0  # the deadline, not 9 s after this one
    finally:
        forget_membership("wi-app")


def test_the_worker_s_producer_asks_the_fence_after_the_batch_build() -> None:
    """Checked before the build, a request whose build a freeze stretched past the session
    went out after it (6 stories set back in the reliability scenario)."""
    from workers.settings import Settings
    from workers.stream.app import create_app

    wire = create_app(Settings(app_id="wi-fence-order"))
    try:

        async def made() -> Any:
            client = wire.app.producer._new_producer()
            send = client._sender._send_produce_req
            inner = [c.cell_contents for c in send.__closure__ if callable(c.cell_contents)]
            return send.__name__, [f.__name__ for f in inner]

        outer, inner = asyncio.run(made())
        assert outer == "built_then_sent"
        assert "send_when_a_member" in inner
    finally:
        forget_membership(wire.app.conf.id)


class Link:
    """A producer's connections as the fence sees them: reset by ``reset``."""

    def __init__(self, reset: Any) -> None:
        self.reset = reset


class Conn:
    def __init__(self, up: bool = True) -> None:
        self.up = up

    def connected(self) -> bool:
        return self.up


class Client:
    """aiokafka's client as far as the fence uses it: its connections, ``ready`` (which
    waits for ``connecting`` when set, then connects, unless ``fails``), and ``send``."""

    def __init__(self, connecting: asyncio.Event | None = None, fails: bool = False) -> None:
        self._conns: dict[Any, Conn] = {}
        self.connecting = connecting
        self.fails = fails
        self.written: list[Any] = []
        self.write_marks: list[bool] = []
        self.mark = False

    async def ready(self, node_id: int, *, group: Any = ConnectionGroup.DEFAULT) -> bool:
        if (node_id, group) in self._conns and self._conns[(node_id, group)].connected():
            return True
        if self.connecting is not None:
            await self.connecting.wait()
        if self.fails:
            return False
        self._conns[(node_id, group)] = Conn()
        return True

    async def send(
        self, node_id: int, request: Any, *, group: Any = ConnectionGroup.DEFAULT
    ) -> Any:
        assert await self.ready(node_id, group=group)
        self.written.append(request)
        self.write_marks.append(self.mark)
        return "answer"


PRODUCE = SimpleNamespace(API_KEY=0)
METADATA = SimpleNamespace(API_KEY=3)


def _produce_through(client: Client) -> Any:
    """aiokafka's ``_send_produce_req`` as far as the fence sees it: one produce request
    sent through the client."""

    async def send(node_id: int, batches: dict[Any, Any]) -> None:
        await client.send(node_id, PRODUCE)

    return send


def test_the_fence_asks_again_once_a_slow_connection_is_up() -> None:
    """A connection may take as long as a cut to come up, and the request would then be
    written after the session: the client's send asks the fence again once it is up."""
    member, clock = membership()
    member.joined()
    refused: list[str] = []
    connecting = asyncio.Event()
    client = Client(connecting)
    link = ClientLink(client)

    async def go() -> None:
        request = asyncio.ensure_future(
            fenced(_produce_through(client), member, refused.append, 0.001, link)(
                1, {"tp": Batch(clock.now)}
            )
        )
        await asyncio.sleep(0.01)
        assert not client.written
        clock.now += 20  # the cut outlasted the session...
        member.lost()  # ...and the coordinator dropped the member
        connecting.set()
        with pytest.raises(MembershipLapsedError):
            await asyncio.wait_for(request, 1)

    asyncio.run(go())
    assert not client.written
    assert len(refused) == 1


def test_a_connected_request_is_written_right_after_the_fence_s_answer() -> None:
    """Nothing that lets the event loop run comes between the answer and the write."""
    member, clock = membership()
    member.joined()
    client = Client()
    client._conns[(1, ConnectionGroup.DEFAULT)] = Conn()
    link = ClientLink(client)

    async def go() -> None:
        def mark() -> None:
            client.mark = True

        asyncio.get_running_loop().call_soon(mark)
        await fenced(_produce_through(client), member, [].append, 0.001, link)(
            1, {"tp": Batch(clock.now)}
        )

    asyncio.run(go())
    assert client.written == [PRODUCE]
    assert client.write_marks == [False]


def test_a_connection_that_cannot_be_made_fails_the_request_unwritten() -> None:
    member, clock = membership()
    member.joined()
    client = Client(fails=True)
    link = ClientLink(client)
    with pytest.raises(NodeNotReadyError):
        asyncio.run(
            fenced(_produce_through(client), member, [].append, 0.001, link)(
                1, {"tp": Batch(clock.now)}
            )
        )
    assert not client.written


def test_the_client_s_other_requests_and_sends_outside_the_fence_pass_untouched() -> None:
    member, clock = membership()
    member.joined()
    client = Client()
    link = ClientLink(client)

    async def metadata_then_produce(node_id: int, batches: dict[Any, Any]) -> None:
        await client.send(node_id, METADATA)
        member.lost()  # between the two: only the produce request is asked about
        await client.send(node_id, PRODUCE)

    async def go() -> None:
        with pytest.raises(MembershipLapsedError):
            await fenced(metadata_then_produce, member, [].append, 0.001, link)(
                1, {"tp": Batch(clock.now)}
            )
        assert await client.send(1, PRODUCE) == "answer"  # not under the fence

    asyncio.run(go())
    assert client.written == [METADATA, PRODUCE]


def test_a_request_still_unanswered_when_the_membership_lapses_has_its_connection_reset(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A network that held the request would deliver it after the session, behind the
    records of the worker that took the partitions over: its connection is reset instead."""
    member, clock = membership()
    member.joined()
    clock.now += 8.95  # the lease (9 s) ends in 0.05 s
    batches = {"tp": Batch(clock.now)}
    resets: list[int] = []
    answered = asyncio.Event()

    def reset(node_id: int) -> bool:
        resets.append(node_id)
        answered.set()  # aiokafka fails the request: its sender retries the batches
        return True

    async def send(node_id: int, batches: dict[Any, Any]) -> None:
        await answered.wait()  # a cut: no answer

    async def go() -> None:
        request = asyncio.ensure_future(
            fenced(send, member, [].append, 0.001, Link(reset))(1, batches)
        )
        await asyncio.sleep(0.3)  # the timer came and found the lease still running
        assert not resets
        clock.now += 1  # the lease is over
        await asyncio.wait_for(request, 2)

    with caplog.at_level(logging.WARNING, "workers.stream.membership"):
        asyncio.run(go())
    assert resets == [1]
    [line] = caplog.messages
    assert "a produce request was still unanswered when this worker's group membership" in line
    assert "no heartbeat accepted for 10 s" in line


def test_a_request_not_yet_written_at_the_lapse_is_reset_once_it_is() -> None:
    """The send may still be connecting when the lease ends: the watch asks again until its
    request is on a connection to reset, then stops."""
    member, clock = membership()
    member.joined()
    asked: list[bool] = []
    answered = asyncio.Event()

    def reset(node_id: int) -> bool:
        written = len(asked) >= 3  # connected on the fourth look
        asked.append(written)
        if written:
            answered.set()
        return written

    async def send(node_id: int, batches: dict[Any, Any]) -> None:
        await answered.wait()
        await asyncio.sleep(0.05)  # the sender's retry backoff: no more looks

    async def go() -> None:
        clock.now += 8.99  # the lease ends in 0.01 s
        request = asyncio.ensure_future(
            fenced(send, member, [].append, 0.001, Link(reset))(1, {"tp": Batch(clock.now)})
        )
        await asyncio.sleep(0)  # cleared by the fence, the send under way
        clock.now += 1
        await asyncio.wait_for(request, 2)

    asyncio.run(go())
    assert asked == [False, False, False, True]


def test_a_request_answered_in_time_leaves_no_timer_behind() -> None:
    member, clock = membership()
    member.joined()
    resets: list[int] = []

    async def send(node_id: int, batches: dict[Any, Any]) -> None:
        return None

    async def go() -> None:
        loop = asyncio.get_running_loop()
        await fenced(send, member, [].append, 0.001, Link(lambda n: bool(resets.append(n))))(
            1, {"tp": Batch(clock.now)}
        )
        clock.now += 60
        assert not [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
        await asyncio.sleep(0.15)

    asyncio.run(go())
    assert not resets


TLS = Path(__file__).resolve().parents[2] / "support" / "tls"


class Peer:
    """A loopback TCP peer (over TLS if ``tls``) that reads nothing until told to, then
    counts what arrives and whether the connection was reset."""

    def __init__(self, tls: bool = False) -> None:
        self.accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()
        self.server: asyncio.Server | None = None
        self.tls = tls

    async def connect(self) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
        async def serve(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
            await self.accepted.put(reader)
            await asyncio.sleep(5)

        server_tls = client_tls = None
        if self.tls:
            server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_tls.load_cert_chain(TLS / "loopback.crt", TLS / "loopback.key")
            client_tls = ssl.create_default_context(cafile=TLS / "loopback.crt")
        self.server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_tls)
        port = self.server.sockets[0].getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_tls)
        return writer, await self.accepted.get()

    async def read(self, reader: asyncio.StreamReader, up_to: int) -> tuple[int, bool]:
        """Bytes read (until ``up_to``, the end or a reset) and whether it was reset."""
        got, was_reset = 0, False
        try:
            while got < up_to and (chunk := await asyncio.wait_for(reader.read(1 << 20), 2)):
                got += len(chunk)
        except ConnectionResetError:
            was_reset = True
        return got, was_reset

    def close(self) -> None:
        assert self.server is not None
        self.server.close()


REQUEST_SIZE = 8_000_000  # more than the sockets' buffers take at once


def test_a_reset_connection_sends_nothing_more_of_what_it_buffered() -> None:
    """A TCP reset, not a close: the bytes the client's socket and transport still held
    never reach the other side, which sees the connection reset."""

    async def go() -> tuple[int, bool]:
        peer = Peer()
        writer, reader = await peer.connect()
        writer.write(b"x" * REQUEST_SIZE)
        await asyncio.sleep(0.05)
        closed: list[object] = []

        def close(reason: object) -> None:
            closed.append(reason)

        loop = asyncio.get_running_loop()
        answered, unanswered = loop.create_future(), loop.create_future()
        answered.set_result(None)
        metadata = SimpleNamespace(API_KEY=3)
        produce = SimpleNamespace(API_KEY=0)
        conn = SimpleNamespace(_writer=writer, close=close, _requests=[])
        client = Client()
        client._conns[(1, ConnectionGroup.DEFAULT)] = conn
        assert not ClientLink(Client()).reset(1)
        conn._requests = [(1, produce, answered), (2, metadata, unanswered)]
        assert not ClientLink(client).reset(1)  # no produce request waits for its answer
        assert not closed
        conn._requests.append((3, produce, unanswered))
        assert ClientLink(client).reset(1)
        read = await peer.read(reader, REQUEST_SIZE)
        peer.close()
        assert closed == [CloseReason.CONNECTION_BROKEN]
        return read

    got, was_reset = asyncio.run(go())
    assert was_reset
    assert got < REQUEST_SIZE


def test_aiokafka_s_own_send_writes_a_connected_request_without_letting_the_loop_run() -> None:
    """What the last check relies on: aiokafka's ``AIOKafkaClient.send`` (its ``ready``) does
    not suspend before the write when the node's connection is up."""
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.produce import ProduceRequest

    member, clock = membership()
    member.joined()
    marks: list[bool] = []
    state = {"mark": False}

    class Connected:
        def connected(self) -> bool:
            return True

        def send(self, request: Any, expect_response: bool = True) -> Any:
            marks.append(state["mark"])
            done = asyncio.get_running_loop().create_future()
            done.set_result("answer")
            return done

    async def go() -> None:
        client = AIOKafkaClient(bootstrap_servers="127.0.0.1:9")
        client._conns[(1, ConnectionGroup.DEFAULT)] = Connected()
        link = ClientLink(client)
        request = ProduceRequest(required_acks=-1, timeout=1000, topics=[], transactional_id=None)

        async def send(node_id: int, batches: dict[Any, Any]) -> None:
            assert await client.send(node_id, request) == "answer"

        def mark() -> None:
            state["mark"] = True

        asyncio.get_running_loop().call_soon(mark)
        await fenced(send, member, [].append, 0.001, link)(1, {"tp": Batch(clock.now)})

    asyncio.run(go())
    assert marks == [False]


def _gated_write_then_freeze(gate: bool, tls: bool) -> tuple[int, bool, list[object]]:
    """A fenced produce request's write that the socket takes only part of; then a freeze
    past the session (the clock moves on, no heartbeat comes); then the peer reads."""
    member, clock = membership()
    member.joined()
    closed: list[object] = []

    async def go() -> tuple[int, bool]:
        peer = Peer(tls)
        writer, reader = await peer.connect()
        if gate:  # closing aiokafka's connection
            _WriteGate(writer.transport, member, lambda: closed.append("closed"))
        writing = _FENCED_WRITE.set(clock.now)
        try:
            writer.write(b"x" * REQUEST_SIZE)
        finally:
            _FENCED_WRITE.reset(writing)
        transport: Any = writer.transport
        unsent = transport.get_write_buffer_size()
        if tls:  # and what the SSL transport handed down to its socket transport
            unsent += transport._ssl_protocol._transport.get_write_buffer_size()
        assert unsent > 0  # the rest waits in user space
        clock.now += 20  # frozen past the session here
        read = await peer.read(reader, REQUEST_SIZE)
        writer.transport.abort()
        peer.close()
        return read

    got, was_reset = asyncio.run(go())
    return got, was_reset, closed


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "tls"])
def test_the_rest_of_a_request_the_socket_did_not_take_never_goes_after_the_lease(
    caplog: pytest.LogCaptureFixture, tls: bool
) -> None:
    """A freeze while the event loop still had part of a produce request to write: on
    waking, the loop would send the rest before any timer ran, and the broker would append
    the completed request behind the other worker's records. The gate resets the connection
    instead, and the broker never has the whole request."""
    got, was_reset, _closed = _gated_write_then_freeze(gate=False, tls=tls)
    assert (got, was_reset) == (REQUEST_SIZE, False)  # without the gate, all of it went

    with caplog.at_level(logging.WARNING, "workers.stream.membership"):
        got, was_reset, closed = _gated_write_then_freeze(gate=True, tls=tls)
    assert was_reset
    assert got < REQUEST_SIZE
    assert closed == ["closed"]  # aiokafka retries, through the fence
    [line] = [r.getMessage() for r in caplog.records if r.name == "workers.stream.membership"]
    assert "a produce request was still being written when this worker's group" in line


def test_the_gate_lets_a_cleared_request_and_the_connection_s_other_writes_go_whole() -> None:
    member, clock = membership()
    member.joined()

    async def go() -> tuple[int, bool]:
        peer = Peer()
        writer, reader = await peer.connect()
        _WriteGate(writer.transport, member, lambda: None)
        writing = _FENCED_WRITE.set(clock.now)
        try:
            writer.write(b"p" * REQUEST_SIZE)  # cleared, and the membership holds
        finally:
            _FENCED_WRITE.reset(writing)
        first = await peer.read(reader, REQUEST_SIZE)  # all of it, the rest sent by the loop
        clock.now += 20
        writer.write(b"m" * 1000)  # not a produce request: none of the fence's business
        second = await peer.read(reader, 1000)
        writer.close()
        peer.close()
        return first, second

    assert asyncio.run(go()) == ((REQUEST_SIZE, False), (1000, False))


def test_a_request_whose_encoding_outlasts_the_lease_is_not_written() -> None:
    """The fence's last answer comes before aiokafka encodes the request; a freeze during
    the encoding (a millisecond or more for a large request) would have it written after
    the session. The transport asks again at the write: refused, nothing is written, and
    aiokafka's send fails with a connection error, retried through the fence."""
    member, clock = membership()
    member.joined()

    async def go() -> tuple[int, bool]:
        peer = Peer()
        writer, reader = await peer.connect()

        class Conn:
            _writer = writer

            def connected(self) -> bool:
                return True

            def close(self, reason: object) -> None:
                writer.transport.abort()

            def send(self, request: Any) -> None:
                clock.now += 20  # frozen while encoding
                writer.write(b"x" * 1000)

        class EncodingClient:
            def __init__(self) -> None:
                self._conns = {(1, ConnectionGroup.DEFAULT): Conn()}

            async def ready(self, node_id: int, *, group: Any = ConnectionGroup.DEFAULT) -> bool:
                return True

            async def send(
                self, node_id: int, request: Any, *, group: Any = ConnectionGroup.DEFAULT
            ) -> Any:
                return self._conns[(node_id, group)].send(request)

        client = EncodingClient()
        link = ClientLink(client, member)

        async def send(node_id: int, batches: dict[Any, Any]) -> None:
            await client.send(node_id, PRODUCE)

        with pytest.raises(WriteRefusedError):
            await fenced(send, member, [].append, 0.001, link)(1, {"tp": Batch(clock.now)})
        await client.send(1, METADATA)  # outside the fence: written even now
        read = await peer.read(reader, 1000)
        writer.close()
        peer.close()
        return read

    assert asyncio.run(go()) == (1000, False)


def test_over_tls_a_request_whose_lease_ends_while_it_is_encrypted_is_not_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over TLS the request is encrypted inside the transport's write, after the check at
    the write (4 ms for a megabyte): its ciphertext is asked about again on its way to the
    socket. Refused, nothing of it is sent and the write fails, as aiokafka retries."""
    member, clock = membership()
    member.joined()
    closed: list[str] = []
    encrypt = ssl.SSLObject.write

    def frozen_while_encrypting(self: ssl.SSLObject, data: Any) -> int:
        written = encrypt(self, data)
        clock.now += 60
        return written

    async def go() -> tuple[int, bool]:
        peer = Peer(tls=True)
        writer, reader = await peer.connect()
        _WriteGate(writer.transport, member, lambda: closed.append("closed"))
        monkeypatch.setattr(ssl.SSLObject, "write", frozen_while_encrypting)
        writing = _FENCED_WRITE.set(clock.now)
        try:
            with pytest.raises(WriteRefusedError):
                writer.write(b"x" * 1_000_000)
        finally:
            _FENCED_WRITE.reset(writing)
            monkeypatch.undo()
        read = await peer.read(reader, 1_000_000)
        peer.close()
        return read

    got, was_reset = asyncio.run(go())
    assert got == 0
    assert was_reset


class SocketTransport:
    """asyncio's socket transport as the gate sees it under an SSL transport."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.buffered = 0
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def _write_ready(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.aborted


class SslTransport:
    """An SSL transport: its write hands the (here unencrypted) bytes down at once."""

    def __init__(self) -> None:
        self._ssl_protocol = SimpleNamespace(_transport=SocketTransport())

    def write(self, data: bytes) -> None:
        self._ssl_protocol._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return bool(self._ssl_protocol._transport.aborted)

    def get_extra_info(self, name: str) -> Any:
        return None

    def abort(self) -> None:
        self._ssl_protocol._transport.aborted = True


def test_a_reset_from_inside_another_write_closes_the_connection_on_the_next_turn() -> None:
    """Over TLS, another request's write (metadata) while a fenced request's bytes wait and
    the lease has ended resets the connection from inside aiokafka's send: the write
    returns without error, nothing of it goes, and aiokafka's connection is closed on the
    next turn of the loop, so that the request that send goes on to register fails with
    the rest instead of waiting for an answer that cannot come."""
    member, clock = membership()
    member.joined()
    closed: list[str] = []
    transport = SslTransport()
    socket_transport = transport._ssl_protocol._transport

    async def go() -> list[str]:
        _WriteGate(transport, member, lambda: closed.append("closed"))
        writing = _FENCED_WRITE.set(clock.now)
        try:
            socket_transport.buffered = 500  # the socket took part of it
            transport.write(b"produce")
        finally:
            _FENCED_WRITE.reset(writing)
        clock.now += 20  # frozen past the session
        transport.write(b"metadata")
        at_once = list(closed)
        await asyncio.sleep(0)
        return at_once

    assert asyncio.run(go()) == []
    assert closed == ["closed"]
    assert socket_transport.aborted
    assert socket_transport.sent == [b"produce"]


def test_a_transport_that_cannot_be_wrapped_is_left_as_it_is_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An event loop whose transports take no new attributes (uvloop's are built in C):
    requests are still cleared before their encoding, and sent; one WARNING says so."""

    class BuiltInTransport:
        __slots__ = ()

        def write(self, data: bytes) -> None:
            written.append(data)

    class Connected:
        def __init__(self) -> None:
            self._writer = SimpleNamespace(transport=BuiltInTransport())

        def connected(self) -> bool:
            return True

    member, clock = membership()
    member.joined()
    written: list[bytes] = []
    client = Client()
    client._conns[(1, ConnectionGroup.DEFAULT)] = Connected()  # type: ignore[assignment]
    link = ClientLink(client, member)

    async def go() -> None:
        for _ in range(2):
            await fenced(_produce_through(client), member, [].append, 0.001, link)(
                1, {"tp": Batch(clock.now)}
            )

    with caplog.at_level(logging.WARNING, "workers.stream.membership"):
        asyncio.run(go())
    assert client.written == [PRODUCE, PRODUCE]
    [line] = [r.getMessage() for r in caplog.records if r.name == "workers.stream.membership"]
    assert "transport BuiltInTransport cannot be wrapped" in line
