"""No record leaves for the broker under a consumer-group membership that may have lapsed.

A worker whose process was frozen (SIGSTOP, a host deep in swap) or cut off from the broker
for longer than the session timeout has been replaced: the group gave its partitions
to another worker, which read them again from the committed offsets and went on. When the
frozen worker wakes, before its client learns that, it would still send what it had in hand
and what it makes of the messages left in its stream buffers: bucket states and events older
than the ones the other worker has written since, written after them. ``stories.latest`` and
the changelog would then end on an older version of a story (21 of 1,500 stories, in one run
of the scenario in ``tests/reliability/test_faults.py`` without this fence). Kafka fences
such a "zombie" only with transactions; this worker fences its own producer instead:

- a produce request goes only while the membership is proven: by a heartbeat the coordinator
  accepted, or a join it completed (each counted from when its request left), younger than
  the session timeout less a margin (:meth:`Membership.lease_s`); while a rebalance is
  pending, also no longer than the rebalance timeout (less a margin) after the last proof
  before it, as the broker then drops a member that has not rejoined whatever its
  heartbeats. Past that the request waits, until a heartbeat is accepted (the worker never
  left the group: it goes) or the coordinator does not know the member;
- a request holding a record made before the membership was lost, or while the worker was no
  member, never goes: the worker stops at once with exit code :data:`EXIT_MEMBERSHIP_LAPSED`,
  commits nothing, and a restart reads the inputs again from the committed offsets;
- a request that went but is still unanswered when the membership lapses has its connection
  reset (a TCP reset: what the socket had not sent yet is dropped). A network that held it
  over a cut would deliver it once the cut ends, after the other worker's records; aiokafka
  sends its batches again instead, through the fence;
- a request whose bytes the socket did not take at once waits, for the rest, in the
  connection's transport: before the event loop sends more of it, the membership must still
  clear it, else the connection is reset (a freeze there would complete the request after
  the session, and a woken loop sends before it runs any timer).

How it learns: aiokafka's ``GroupCoordinator`` (in Faust's consumer thread) reports each
heartbeat the coordinator answered with "no error" or "rebalancing", each completed join and
each reset of its generation (the coordinator did not know the member or its generation, or
the worker left the group) to the :class:`Membership` of its group; aiokafka's sender (on
the event loop) asks it before each produce request, once the request's batches are built,
with the creation time of its oldest batch; its client's send asks again once the request's
connection is up; and the connection's transport asks a last time at the write, once the
request is encoded (:class:`_WriteGate`). A client without those internals leaves the fence
off, with a warning.

What it cannot see: a pause the monotonic clock does not count (a VM its host paused, a
suspended machine: the woken worker's proof looks fresh, and only the heartbeat's answer,
if it comes before the request, stops it); a freeze in the microseconds between the last
check and the socket's send; bytes already past the worker's socket when the lease ends,
which a network delays (rather than drops) past the session; a coordinator that moved to
another broker and answers heartbeats blindly while it loads the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka.client import ConnectionGroup
from aiokafka.conn import CloseReason
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaError, NodeNotReadyError, NoError, RebalanceInProgressError
from aiokafka.protocol.group import HeartbeatRequest, SyncGroupRequest

from workers.stream.fatal import EXIT_MEMBERSHIP_LAPSED, stop

log = logging.getLogger(__name__)

# How often a held request asks again, and a request sent under a lapsed membership looks
# for its connection to reset.
RECHECK_S = 0.1

Clock = Callable[[], float]


class Verdict:
    """What the sender may do with a produce request."""

    SEND = "send"
    WAIT = "wait"
    REFUSE = "refuse"


@dataclass
class Membership:
    """What the worker knows of its place in the consumer group, in ``clock`` time
    (monotonic, as aiokafka's batches are stamped)."""

    session_timeout_s: float
    rebalance_timeout_s: float = 60.0
    clock: Clock = time.monotonic
    proven_at: float | None = None  # the last proof: a heartbeat accepted or a join (as sent)
    valid_until: float | None = None  # when the membership may have lapsed without a word
    steady_since: float | None = None  # the last proof given while no rebalance was pending
    lost_at: float | None = None  # the last reset of the generation
    member_since: float | None = None  # the first join completed after the last loss

    @property
    def lease_s(self) -> float:
        """How long a proof holds: the broker counts the session from its receipt of the
        heartbeat, which is later than its sending; the margin covers the request's trip."""
        return self.session_timeout_s - self._margin(self.session_timeout_s)

    @property
    def rebalance_lease_s(self) -> float:
        """How long a member may stay in a rebalance without rejoining: the broker drops it
        at the rebalance timeout, whatever its heartbeats, which still get answers."""
        return self.rebalance_timeout_s - self._margin(self.rebalance_timeout_s)

    @staticmethod
    def _margin(timeout_s: float) -> float:
        return max(1.0, timeout_s / 10)

    def heartbeat_accepted(self, sent_at: float, rebalancing: bool = False) -> None:
        """A heartbeat the coordinator accepted; ``rebalancing`` if its answer said the group
        is rebalancing: that rebalance began after the last steady proof, whose deadline
        bounds how long this one holds."""
        if self.proven_at is not None and sent_at <= self.proven_at:
            return  # a late answer to an older heartbeat
        self.proven_at = sent_at
        until = sent_at + self.lease_s
        if not rebalancing or self.steady_since is None:
            self.steady_since = sent_at
        else:
            until = min(until, self.steady_since + self.rebalance_lease_s)
        self.valid_until = until

    def joined(self, sent_at: float | None = None) -> None:
        """A join completed; ``sent_at``: when its SyncGroup request left (the broker counts
        the new session from its answer), else now."""
        now = self.clock()
        at = now if sent_at is None else min(sent_at, now)
        self.proven_at = self.steady_since = at
        self.valid_until = at + self.lease_s
        if self.member_since is None or self.is_lost():
            self.member_since = now

    def lost(self) -> None:
        if self.member_since is not None:  # a first join's retries lose nothing
            self.lost_at = self.clock()

    def is_lost(self) -> bool:
        """The coordinator dropped the member, and no join has completed since."""
        return (
            self.lost_at is not None
            and self.member_since is not None
            and self.lost_at >= self.member_since
        )

    def verdict(self, oldest_record_at: float) -> str:
        """SEND, WAIT or REFUSE for a request whose oldest batch was made at
        ``oldest_record_at``."""
        if self.member_since is None:
            return Verdict.SEND  # never in the group yet: no partition another could have
        if self.is_lost():
            return Verdict.REFUSE
        if self.lost_at is not None and oldest_record_at < self.member_since:
            return Verdict.REFUSE  # made before the loss, or while no member
        if self.valid_until is None or self.clock() > self.valid_until:
            return Verdict.WAIT
        return Verdict.SEND

    def unproven_s(self) -> float:
        return 0.0 if self.proven_at is None else self.clock() - self.proven_at


# group id -> the Membership its coordinator reports to (one per worker process).
_MEMBERSHIPS: dict[str, Membership] = {}
# group id -> when its last SyncGroup request left, for the join it completes.
_SYNC_SENT_AT: dict[str, float] = {}
_HEARTBEAT_API = HeartbeatRequest.API_KEY
_SYNC_GROUP_API = SyncGroupRequest.API_KEY


def watch_membership(group_id: str, membership: Membership) -> bool:
    """Have the coordinator of ``group_id`` report to ``membership``; False (and a warning)
    if this aiokafka's coordinator lacks the methods that are wrapped."""
    if not _wrap_coordinator():
        return False
    _MEMBERSHIPS[group_id] = membership
    return True


def forget_membership(group_id: str) -> None:
    _MEMBERSHIPS.pop(group_id, None)


_WRAPPED = "_wire_ingest_membership"


def _wrap_coordinator() -> bool:
    """Wrap, once per process, the three coordinator methods that tell of membership.

    On the class, as the coordinator is made inside the consumer's start, where its first
    join may complete before any later hook; a coordinator of a group no worker watches
    calls them unchanged. ``_send_req`` carries the heartbeats and the SyncGroup requests to
    the coordinator: their answers' codes say what a heartbeat proves (aiokafka's own
    ``_do_heartbeat`` returns True for "rebalancing" too, and its rejoin flag is also set by
    the worker's own metadata changes while the group is steady).
    """
    if getattr(GroupCoordinator, _WRAPPED, False):
        return True
    send_req = getattr(GroupCoordinator, "_send_req", None)
    join_complete = getattr(GroupCoordinator, "_on_join_complete", None)
    reset = getattr(GroupCoordinator, "reset_generation", None)
    if send_req is None or join_complete is None or reset is None:
        log.warning(
            "this aiokafka's GroupCoordinator lacks _send_req, _on_join_complete or "
            "reset_generation: records are sent without the membership fence"
        )
        return False

    async def send_to_coordinator(self: Any, request: Any) -> Any:
        membership = _MEMBERSHIPS.get(self.group_id)
        if membership is None:
            return await send_req(self, request)
        sent_at = time.monotonic()
        api = getattr(request, "API_KEY", None)
        if api == _SYNC_GROUP_API:
            _SYNC_SENT_AT[self.group_id] = sent_at
        response = await send_req(self, request)
        if api == _HEARTBEAT_API:
            code = getattr(response, "error_code", None)
            if code == NoError.errno:
                membership.heartbeat_accepted(sent_at)
            elif code == RebalanceInProgressError.errno:  # still a member, until the deadline
                membership.heartbeat_accepted(sent_at, rebalancing=True)
        return response

    async def on_join_complete(self: Any, *args: Any, **kwargs: Any) -> Any:
        membership = _MEMBERSHIPS.get(self.group_id)
        if membership is not None:  # before the assignment's callbacks, which may flush
            membership.joined(sent_at=_SYNC_SENT_AT.pop(self.group_id, None))
        return await join_complete(self, *args, **kwargs)

    def reset_generation(self: Any) -> Any:
        membership = _MEMBERSHIPS.get(self.group_id)
        if membership is not None:
            membership.lost()
        return reset(self)

    GroupCoordinator._send_req = send_to_coordinator
    GroupCoordinator._on_join_complete = on_join_complete
    GroupCoordinator.reset_generation = reset_generation
    setattr(GroupCoordinator, _WRAPPED, True)
    return True


SendProduceRequest = Callable[[int, dict[Any, Any]], Awaitable[None]]


class NodeLink(Protocol):
    """What the fence needs of a producer's connections to the brokers, besides asking it
    just before each write (:data:`_CLEARANCE`)."""

    def reset(self, node_id: int) -> bool:
        """Reset the connection if a produce request on it is unanswered; True if it did."""


@dataclass(frozen=True)
class _Clearance:
    """The fence's question for the produce request under way in a task, asked again by the
    client's send (:class:`ClientLink`) once the connection is up, just before the write;
    and the creation time of the request's oldest batch, for the check at the write."""

    ask: Callable[[], Awaitable[bool]]
    oldest: float


_CLEARANCE: ContextVar[_Clearance | None] = ContextVar("membership_clearance", default=None)
# Set by the client's send around the write of a produce request the fence cleared: the
# oldest batch's creation time, for the check its connection's transport makes at the write
# itself (:class:`_WriteGate`). Unset, a write is none of the fence's business.
_FENCED_WRITE: ContextVar[float | None] = ContextVar("membership_fenced_write", default=None)


class MembershipLapsedError(KafkaError):  # type: ignore[misc]
    """A produce request the fence refused at the last moment (the worker is stopping)."""

    retriable = False


def fenced(
    send: SendProduceRequest,
    membership: Membership,
    refuse: Callable[[str], None],
    recheck_s: float = RECHECK_S,
    link: NodeLink | None = None,
) -> SendProduceRequest:
    """``Sender._send_produce_req`` asking ``membership`` first (see the module's text).

    ``refuse`` ends the process: a refused request's records must never go, and no commit
    may follow. With ``link``, the question is asked again inside the send, once the
    connection is up and just before the write: a connection being made may take as long as
    a cut, and the request would be written after it. While the send is under way, once the
    membership may have lapsed, the link resets the connection if a produce request on it is
    unanswered (again every ``recheck_s`` until it does or the send ends), as a network that
    held the request would deliver it late, after the records of the worker that took the
    partitions over. aiokafka then sends the batches again, through this fence.
    """

    async def cleared(oldest: float) -> bool:
        said = False
        while (verdict := membership.verdict(oldest)) == Verdict.WAIT:
            if not said:
                log.warning(
                    "records held: no heartbeat accepted by the group coordinator for %.0f s "
                    "(session timeout %.0f s); waiting to learn whether this worker is still "
                    "in the group",
                    membership.unproven_s(),
                    membership.session_timeout_s,
                )
                said = True
            await asyncio.sleep(recheck_s)
        if verdict == Verdict.REFUSE:
            refuse(
                "this worker was dropped from its consumer group (frozen or cut off past the "
                f"{membership.session_timeout_s:.0f} s session timeout), and its partitions "
                "may have gone to another worker: the records it made before are not sent; "
                "stopping without committing, the inputs since the last commit will be "
                "processed again at the next start"
            )
            return False
        if said:
            log.info("records released: the group coordinator still knows this worker")
        return True

    async def send_when_a_member(node_id: int, batches: dict[Any, Any]) -> None:
        oldest = min((batch._ctime for batch in batches.values()), default=membership.clock())
        if not await cleared(oldest):
            return
        if link is None:
            await send(node_id, batches)
            return
        asked_again = _CLEARANCE.set(_Clearance(lambda: cleared(oldest), oldest))
        watch = _ResetWhenLapsed(membership, lambda: link.reset(node_id), recheck_s)
        try:
            await send(node_id, batches)
        finally:
            watch.cancel()
            _CLEARANCE.reset(asked_again)

    return send_when_a_member


class _ResetWhenLapsed:
    """Calls ``reset`` once the membership may have lapsed, until it resets something or
    :meth:`cancel`: a timer on the event loop, set for the lease's end (moved on by each
    proof since), then every ``recheck_s``. A loss the coordinator reported is seen at
    those times too, not at once."""

    def __init__(self, membership: Membership, reset: Callable[[], bool], recheck_s: float) -> None:
        self._membership = membership
        self._reset = reset
        self._recheck_s = recheck_s
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        membership = self._membership
        self._timer = None
        if membership.member_since is None:
            return  # never in the group: nothing to lapse
        left = (membership.valid_until or 0.0) - membership.clock()
        if not membership.is_lost() and left >= 0:
            self._timer = self._loop.call_later(left + self._recheck_s, self._arm)
            return
        if self._reset():
            log.warning(
                "a produce request was still unanswered when this worker's group membership "
                "may have lapsed (no heartbeat accepted for %.0f s, session timeout %.0f s): "
                "its connection is reset, so that no network delivers it late; its records "
                "go back through the membership fence",
                membership.unproven_s(),
                membership.session_timeout_s,
            )
            return
        # No produce request on an open connection yet (the send may still be connecting):
        # ask again while the send is under way.
        self._timer = self._loop.call_later(self._recheck_s, self._arm)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


_PRODUCE_API = 0  # ProduceRequest.API_KEY


class ClientLink:
    """:class:`NodeLink` over an aiokafka client's default connections (its ``_conns``).

    It wraps the client's ``send``: a produce request sent under the fence is written only
    once its connection is up and the fence, asked again then, clears it. Nothing that can
    wait runs between that answer and the write (aiokafka's own ``ready`` returns at once
    for a connection that is up), and a connection that cannot be made fails the request as
    aiokafka's send would, to be retried through the fence.

    With ``membership``, each connection's transport also asks it at the write itself
    (:class:`_WriteGate`): the request's encoding, after that answer, is not waited for but
    still takes its time, and a freeze there would write the request after the session.
    """

    def __init__(self, client: Any, membership: Membership | None = None) -> None:
        self._client = client
        self._membership = membership
        self._said_ungated = False
        send = client.send

        async def send_cleared(
            node_id: int, request: Any, *, group: Any = ConnectionGroup.DEFAULT
        ) -> Any:
            clearance = _CLEARANCE.get()
            if clearance is not None and getattr(request, "API_KEY", None) == _PRODUCE_API:
                while True:
                    if not await client.ready(node_id, group=group):
                        raise NodeNotReadyError(
                            f"Attempt to send a request to node which is not ready "
                            f"(node id {node_id})."
                        )
                    if not await clearance.ask():
                        raise MembershipLapsedError("the membership fence refused the request")
                    if self.connected(node_id, group):
                        break  # else it dropped while the fence held the request: again
                self._gate(node_id, group)
                checked_at_write = _FENCED_WRITE.set(clearance.oldest)
                try:
                    return await send(node_id, request, group=group)
                finally:
                    _FENCED_WRITE.reset(checked_at_write)
            return await send(node_id, request, group=group)

        client.send = send_cleared

    def _conn(self, node_id: int, group: Any = ConnectionGroup.DEFAULT) -> Any:
        return getattr(self._client, "_conns", {}).get((node_id, group))

    def connected(self, node_id: int, group: Any = ConnectionGroup.DEFAULT) -> bool:
        conn = self._conn(node_id, group)
        return conn is not None and bool(conn.connected())

    def _gate(self, node_id: int, group: Any) -> None:
        """Give the connection's transport a :class:`_WriteGate`, once."""
        conn = self._conn(node_id, group)
        writer = getattr(conn, "_writer", None)
        if self._membership is None or writer is None:
            return
        transport = writer.transport
        if getattr(transport, _GATED, None) is not None:
            return
        try:
            _WriteGate(
                transport,
                self._membership,
                lambda: conn.close(reason=CloseReason.CONNECTION_BROKEN),
            )
        except (AttributeError, TypeError):  # a transport whose methods cannot be wrapped
            with contextlib.suppress(AttributeError, TypeError):
                setattr(transport, _GATED, False)
            if not self._said_ungated:
                self._said_ungated = True
                log.warning(
                    "this event loop's transport %s cannot be wrapped: produce requests are "
                    "checked by the membership fence before their encoding, not at the write",
                    type(transport).__name__,
                )

    def reset(self, node_id: int) -> bool:
        """A TCP reset (linger 0), not a close: what the transport and the kernel have not
        sent yet is dropped (bytes already on their way may still arrive), and the
        connection's requests fail with a connection error, which aiokafka's sender
        retries."""
        conn = self._conn(node_id)
        if conn is None or getattr(conn, "_writer", None) is None:
            return False
        pending = getattr(conn, "_requests", ())
        if not any(
            getattr(kind, "API_KEY", None) == _PRODUCE_API and not answer.done()
            for _id, kind, answer in pending
        ):
            return False
        _reset(conn)
        return True


def _reset(conn: Any) -> None:
    """Reset ``conn``'s TCP connection (:func:`_abort`) and close it as broken."""
    _abort(conn._writer.transport)
    conn.close(reason=CloseReason.CONNECTION_BROKEN)


def _abort(transport: Any) -> None:
    """A TCP reset: linger 0, then abort, without flushing what the transport buffers."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # a closed socket: nothing left to send
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


_GATED = "_wire_ingest_write_gate"


class WriteRefusedError(ConnectionAbortedError):
    """A produce request's write refused by the fence at the transport: aiokafka closes the
    connection and its sender retries the batches, through the fence."""


class _WriteGate:
    """The fence at the transport of a connection to a broker, where nothing is left to run
    between its answer and the bytes' leaving but the socket's send.

    - **The write.** A write of a produce request under the fence (:data:`_FENCED_WRITE`)
      goes only if the membership still clears the request: its encoding, after the fence's
      last answer, may take a millisecond or more, and a freeze there would write it after
      the session. Over TLS the question is asked again once the request is encrypted
      (0.6 to 4.5 ms a megabyte), as its ciphertext is handed to the socket's transport.
      Refused, the write raises :class:`WriteRefusedError` (over TLS after a reset: the
      stream is cut).
    - **What the socket did not take.** What the kernel's socket buffer cannot take at once
      waits in the transport's buffer, for the event loop to send when the socket has room.
      A freeze then would leave the rest of the request to go out after it, completing a
      request the broker would append behind the other worker's records; and on waking, the
      loop runs that send before any timer. So before each such send (and before an SSL
      transport hands down more), if a fenced request's bytes may still wait there and the
      membership no longer clears them, the connection is reset instead: the broker drops
      the partial request, and aiokafka sends the batches again, through the fence. "May
      still wait": until the buffer is empty; a request that had left whole by then is
      sent twice (a duplicate, as at-least-once allows, never a loss).

    ``close`` closes aiokafka's connection; it runs on the next turn of the event loop, as a
    reset may come from inside aiokafka's own send. Other writes on the connection
    (metadata, API versions) pass untouched. A transport without asyncio's selector
    internals (``_write_ready``) keeps the check at the write.
    """

    def __init__(self, transport: Any, membership: Membership, close: Callable[[], None]) -> None:
        self._transport = transport
        self._membership = membership
        self._close = close
        # An SSL transport writes through the socket transport under it.
        ssl_protocol = getattr(transport, "_ssl_protocol", None)
        self._socket_transport = getattr(ssl_protocol, "_transport", None) or transport
        self._write: Callable[[Any], None] = transport.write
        self._write_ready: Callable[[], None] | None = getattr(
            self._socket_transport, "_write_ready", None
        )
        self._waiting_oldest: float | None = None  # a fenced request's bytes left unsent
        self._writing_oldest: float | None = None  # a fenced request being written (TLS)
        self._refused_at_socket = False
        self._socket_write: Callable[[Any], None] | None = None
        transport.write = self.write
        if self._write_ready is not None:
            self._socket_transport._write_ready = self.write_ready
        if self._socket_transport is not transport:
            self._socket_write = self._socket_transport.write
            self._socket_transport.write = self.socket_write
        setattr(transport, _GATED, self)

    def write(self, data: Any) -> None:
        oldest = _FENCED_WRITE.get()
        if oldest is None:
            self._write(data)
            return
        if self._membership.verdict(oldest) != Verdict.SEND:
            raise WriteRefusedError("the membership fence refused the request at its write")
        self._writing_oldest = oldest
        try:
            self._write(data)
        finally:
            self._writing_oldest = None
        if self._refused_at_socket:
            self._refused_at_socket = False
            raise WriteRefusedError("the membership fence refused the request once encrypted")
        if self._unsent():
            waiting = self._waiting_oldest
            self._waiting_oldest = oldest if waiting is None else min(waiting, oldest)

    def write_ready(self) -> None:
        assert self._write_ready is not None
        if self._reset_if_lapsed():
            return
        self._write_ready()
        if not self._unsent():
            self._waiting_oldest = None

    def socket_write(self, data: Any) -> None:
        """An SSL transport's ciphertext, handed down to its socket transport."""
        assert self._socket_write is not None
        writing = self._writing_oldest
        if writing is not None and self._membership.verdict(writing) != Verdict.SEND:
            self._refused_at_socket = True  # its write raises once the SSL layer returns
            _abort(self._transport)
            return
        if self._reset_if_lapsed():
            return
        self._socket_write(data)

    def _reset_if_lapsed(self) -> bool:
        """Reset the connection if a fenced request's bytes may still wait and the
        membership no longer clears them; True if it did."""
        oldest = self._waiting_oldest
        if oldest is None or self._membership.verdict(oldest) == Verdict.SEND:
            return False
        self._waiting_oldest = None
        log.warning(
            "a produce request was still being written when this worker's group membership "
            "may have lapsed (no heartbeat accepted for %.0f s, session timeout %.0f s): its "
            "connection is reset, so that the rest of it never goes; its records go back "
            "through the membership fence",
            self._membership.unproven_s(),
            self._membership.session_timeout_s,
        )
        _abort(self._transport)
        asyncio.get_running_loop().call_soon(self._close)
        return True

    def _unsent(self) -> int:
        """Bytes the kernel has not taken yet: an SSL transport's own (not yet encrypted or
        not yet handed down) and its socket transport's."""
        if self._transport.is_closing():
            return 0
        unsent = int(self._transport.get_write_buffer_size())
        if self._socket_transport is not self._transport:
            unsent += int(self._socket_transport.get_write_buffer_size())
        return unsent


def _stop(reason: str) -> None:
    stop(reason, EXIT_MEMBERSHIP_LAPSED)


def fence_producer(producer: Any, membership: Membership) -> None:
    """Fence the produce requests of every aiokafka client Faust's ``producer`` creates.

    Installed before the batch builds (batch_builds.py), whose wrapper then calls this one:
    a request is cleared once its batches are built, just before it is written to the
    broker's socket, not before a build that a freeze may stretch over the session timeout.
    """
    new_producer = producer._new_producer

    def new_fenced_producer(*args: Any, **kwargs: Any) -> Any:
        client = new_producer(*args, **kwargs)
        fence_client(client, membership)
        return client

    producer._new_producer = new_fenced_producer


def fence_client(
    client: Any, membership: Membership, refuse: Callable[[str], None] = _stop
) -> bool:
    """Fence the produce requests of the aiokafka producer ``client`` (its sender's, and at
    its connections' transports); False, with a warning, if it lacks the sender's method."""
    sender = getattr(client, "_sender", None)
    send = getattr(sender, "_send_produce_req", None)
    if sender is None or send is None:
        log.warning(
            "this aiokafka has no Sender._send_produce_req: records are sent without "
            "the membership fence"
        )
        return False
    sender._send_produce_req = fenced(
        send, membership, refuse, link=ClientLink(sender.client, membership)
    )
    return True
