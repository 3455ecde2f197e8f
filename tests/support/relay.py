"""A TCP relay on loopback that a test can cut, to take one client off the broker's network.

The broker advertises a listener at the relay's address (``LocalBroker(relay=...)``), so a
client bootstrapped through the relay sends all of its traffic across it, while every other
client talks to the broker directly.

A cut is a partition, not a refusal: connections stay open and new ones are accepted, but
no byte crosses in either direction, so the client's requests simply go unanswered (as with
a pulled cable, or a firewall that drops packets). :meth:`Relay.mend` ends it one of two
ways:

- ``reset=True``: every connection the cut caught is reset, as TCP's own retries or a
  middlebox's lost state leave it after a long cut; nothing written during the cut is ever
  delivered, and the client's new connections go through;
- ``reset=False``: the connections survive, as TCP's retransmissions carry them over a cut
  of a minute: what each side wrote before and during the cut is delivered late, unless
  that side reset the connection meanwhile (a reset discards what its socket had not yet
  got across), in which case the relay resets the other side too.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

_CHUNK = 65536


@dataclass
class _Link:
    """One client connection and the relay's own to the broker (None while it is held)."""

    client: socket.socket
    upstream: socket.socket | None = None
    caught: bool = False
    dropped: bool = False  # reset by the mend: what the cut held is never delivered
    threads: list[threading.Thread] = field(default_factory=list)

    def reset(self) -> None:
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            with contextlib.suppress(OSError):
                # Linger 0: the close resets the connection, as a long cut leaves it; the
                # shutdown wakes a pump blocked in recv().
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class Relay:
    """Forwards 127.0.0.1:``listen_port`` to 127.0.0.1:``target_port`` until it is cut."""

    def __init__(self, listen_port: int, target_port: int) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.connections = 0  # accepted since start
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._cut = False
        self._mended = threading.Event()
        self._server: socket.socket | None = None
        self._closed = False

    def start(self) -> Relay:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.listen_port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()
        return self

    @property
    def is_cut(self) -> bool:
        return self._cut

    def cut(self) -> None:
        """From now on no byte crosses, on the open connections or on new ones."""
        with self._lock:
            self._cut = True
            self._mended.clear()
            for link in self._links:
                link.caught = True

    def mend(self, reset: bool = True) -> None:
        """End the cut: reset every connection it caught (``reset``), or deliver what they
        held and go on with those the client did not reset meanwhile."""
        with self._lock:
            self._cut = False
            caught = [link for link in self._links if link.caught]
            dropped = [link for link in caught if reset or _was_reset(link.client) or link.dropped]
            self._links = [link for link in self._links if link not in dropped]
            for link in caught:
                link.dropped = link in dropped
                link.caught = False
            self._mended.set()
        for link in dropped:
            link.reset()
        for link in caught:
            if not link.dropped and link.upstream is None:
                self._connect(link)  # made during the cut: connected only now

    def close(self) -> None:
        with self._lock:
            self._closed = True
            links, self._links = self._links, []
            self._mended.set()
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)  # wakes accept()
            self._server.close()
        for link in links:
            link.reset()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._closed:
                    client.close()
                    return
                self.connections += 1
                link = _Link(client, caught=self._cut)
                self._links.append(link)
            if not link.caught:  # a connection made during a cut is held, never connected
                self._connect(link)

    def _connect(self, link: _Link) -> None:
        try:
            link.upstream = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            link.reset()
            return
        for source, sink in ((link.client, link.upstream), (link.upstream, link.client)):
            thread = threading.Thread(
                target=self._pump, args=(link, source, sink), name="relay-pump", daemon=True
            )
            link.threads.append(thread)
            thread.start()

    def _pump(self, link: _Link, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(_CHUNK)
            except OSError:
                link.dropped = True  # reset by the peer: nothing of it is delivered
                return
            if link.caught:
                # Read during the cut: held, and this direction reads no more until the mend
                # delivers it or resets the connection.
                self._mended.wait()
                if link.dropped:
                    return
            if not data:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            try:
                sink.sendall(data)
            except OSError:
                return


# TCP_INFO's first byte is the connection's state; TCP_CLOSE once the peer reset it.
_TCP_CLOSE = 7


def _was_reset(sock: socket.socket) -> bool:
    """Whether the peer reset this connection (the relay itself never closes it first)."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == _TCP_CLOSE
    except OSError:
        return True
