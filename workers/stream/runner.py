"""``wire-ingest worker``: check topics, then run the Faust worker until a signal stops it."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import gc
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import IO

import faust
from aiokafka.errors import KafkaConnectionError

from workers.metrics import Metrics
from workers.settings import Settings, load_or_report
from workers.stream.allocator import fix_mmap_threshold
from workers.stream.app import WireApp, create_app
from workers.stream.client_logs import (
    cover_client_loggers,
    hold_back_faust_chatter,
    hold_back_repeated_client_lines,
    uncover_client_loggers,
)
from workers.stream.fatal import EXIT_TOPIC_CONFLICT
from workers.stream.kafka_client import remember_client_errors, unreachable
from workers.stream.topics import TopicConflictError, ensure_topics
from workers.stream.waiting_pages import serve_while_waiting

log = logging.getLogger(__name__)


class Worker(faust.Worker):
    """Faust's worker with a bounded shutdown.

    Stock Faust can ignore SIGTERM for minutes after an agent crashed. We give it
    ``grace_s`` to stop cleanly (commit offsets, close the table) and then exit anyway:
    uncommitted work is replayed on the next start, so a forced exit loses nothing.
    """

    grace_s: float = 12.0
    wire: WireApp | None = None

    def _on_sigterm(self) -> None:
        self._begin_stop(signal.SIGTERM)

    def _on_sigint(self) -> None:
        self._begin_stop(signal.SIGINT)

    def _begin_stop(self, sig: signal.Signals) -> None:
        if getattr(self, "_stopping", False):
            return
        self._stopping = True
        self._arm_watchdog()
        self.add_future(self._drain_commit_then_stop(sig))

    async def _drain_commit_then_stop(self, sig: signal.Signals) -> None:
        """Finish the message in hand, commit everything done, then let Faust stop.

        Faust's own stop can skip the final commit when a periodic commit is running at that
        moment, which leaves finished work to be processed again after the restart.
        """
        try:
            if self.wire is not None:
                await drain_and_commit(self.wire, timeout_s=min(5.0, self.grace_s / 2))
        except Exception:  # stopping must go on whatever happened here
            log.exception("final commit failed; uncommitted input will be processed again")
        self._schedule_shutdown(sig)

    def _arm_watchdog(self) -> None:
        if getattr(self, "_watchdog", None) is not None:
            return
        log.info("stop requested; forced exit in %.0fs if still running", self.grace_s)
        self._watchdog = threading.Timer(self.grace_s, _force_exit, args=(self.grace_s, self.wire))
        self._watchdog.daemon = True
        self._watchdog.start()


async def drain_and_commit(wire: WireApp, timeout_s: float) -> None:
    """Stop taking input, let the messages in hand finish, then commit what they covered.

    The stream buffers are emptied, as Faust does at a revocation: Faust's pure-Python stream
    iterator acks the buffered messages it skips once the flow is suspended, and the commit
    below would then pass messages that were never handled (its Cython iterator skips them
    without an ack). Dropped from the buffers, they are read again at the next start.
    """
    app = wire.app
    consumer = app.consumer
    consumer.stop_flow()
    app.flow_control.suspend()
    app.flow_control.clear()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while wire.progress.in_flight and loop.time() < deadline:
        await asyncio.sleep(0.02)
    # A commit already under way makes commit() wait for it and return: ask twice.
    await consumer.commit()
    await consumer.commit()
    log.info("stopped taking input; offsets committed")


def _force_exit(grace_s: float, wire: WireApp | None = None) -> None:
    """Exit 1 with one line; it names the records still waiting for the broker, which a stop
    that cannot commit is most often waiting for."""
    waiting = wire.delivery.waiting() if wire is not None else "none"
    unacknowledged = f" (records waiting for the broker: {waiting})" if waiting != "none" else ""
    sys.stderr.write(
        f"wire-ingest: worker did not stop within {grace_s:.0f}s{unacknowledged}; exiting\n"
    )
    sys.stderr.flush()
    os._exit(1)


async def _ensure_topics_when_reachable(settings: Settings) -> None:
    """Check the topics, waiting for an unreachable broker up to WIRE_START_TIMEOUT_S.

    A broker in maintenance (a restart, a rolling upgrade) is away for seconds to minutes: the
    worker waits for it, with one warning per attempt, instead of crash-looping. Past the
    timeout the last connection error goes on (exit code 4).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.start_timeout_s
    pause = 1.0
    while True:
        try:
            await ensure_topics(settings)
            return
        except KafkaConnectionError as exc:
            left = deadline - loop.time()
            if left <= 0:
                raise
            pause = min(pause, left)
            log.warning(
                "%s; retrying in %.0f s (waiting up to %.0f s more, WIRE_START_TIMEOUT_S)",
                unreachable(settings, exc),
                pause,
                left,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)


async def _wait_for_the_broker_unless_stopped(settings: Settings, metrics: Metrics) -> bool:
    """:func:`_ensure_topics_when_reachable`, or False if SIGTERM or SIGINT came first.

    The worker's own signal handlers are installed only once it starts; a pod stopped while
    it waits for the broker would otherwise die of the signal (exit 143) instead of exiting 0.
    Meanwhile the worker's web address answers (:mod:`workers.stream.waiting_pages`).
    """
    pages = await serve_while_waiting(settings, metrics)
    try:
        return await _wait_for_signal_or_broker(settings)
    finally:
        await pages.cleanup()


async def _wait_for_signal_or_broker(settings: Settings) -> bool:
    loop = asyncio.get_running_loop()
    waiting = asyncio.current_task()
    assert waiting is not None  # always inside asyncio.run()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        waiting.cancel()

    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop)
    try:
        await _ensure_topics_when_reachable(settings)
    except asyncio.CancelledError:
        if not stopped:
            raise
        return False
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
    return True


# Held while the worker runs: a second worker on the same state dir is refused at once.
STATE_LOCK_FILE = ".wire-ingest.lock"
_state_locks: dict[Path, IO[str]] = {}


def state_dir_problem(settings: Settings) -> str | None:
    """Why the table's RocksDB could not live in WIRE_STATE_DIR, if so (made when missing);
    otherwise the dir is this worker's until it exits (:data:`STATE_LOCK_FILE`).

    Checked before the worker waits for the broker: Faust would find out only when it opens
    the table, with a traceback; a second worker on the dir would join the group, take
    partitions, wait for RocksDB's lock and crash (exit 1) a rebalance later.
    """
    where = f"WIRE_STATE_DIR={str(settings.state_dir)!r}"
    if settings.state_dir.exists() and not settings.state_dir.is_dir():
        return f"{where} is a file, not a directory"
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"{where} cannot be made ({exc.strerror or exc})"
    if not os.access(settings.state_dir, os.W_OK | os.X_OK):
        return f"{where} is not writable by this user"
    return _claim_state_dir(settings.state_dir, where)


def _claim_state_dir(state_dir: Path, where: str) -> str | None:
    """Lock the dir for this process (an flock, gone with the process however it ends)."""
    path = (state_dir / STATE_LOCK_FILE).resolve()
    if path in _state_locks:  # this process's already (a worker run again in one process)
        return None
    lock = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        return (
            f"{where} is in use by another worker (pid {holder} on this host); "
            "give each worker a state dir of its own"
        )
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    _state_locks[path] = lock
    return None


def web_address_problem(settings: Settings) -> str | None:
    """Why the health and metrics server could not listen where the settings say, if so.

    Checked before anything starts: Faust would find out only while starting its services,
    with a traceback and exit code 1. The probe binds as the server does (SO_REUSEADDR on
    POSIX, so a port in TIME_WAIT counts as free) and lets go at once.
    """
    where = f"WIRE_WEB_HOST:WIRE_WEB_PORT {settings.web_host}:{settings.web_port}"
    try:
        # Every address the host name gives ("localhost": 127.0.0.1 and ::1), as aiohttp binds.
        addresses = socket.getaddrinfo(
            settings.web_host, settings.web_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        return f"{where} does not resolve ({exc.strerror or exc})"
    for family, kind, protocol, _name, address in addresses:
        try:
            with socket.socket(family, kind, protocol) as probe:
                if os.name == "posix":
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind(address)
                probe.listen()
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return (
                    f"{where} cannot be listened on ({exc.strerror or exc}); "
                    f"{settings.web_host} is no address of this host: set WIRE_WEB_HOST"
                )
            return (
                f"{where} cannot be listened on ({exc.strerror or exc}); another worker "
                "there? Set WIRE_WEB_PORT"
            )
    return None


def _start_status(settings: Settings, metrics: Metrics) -> int | None:
    """The exit status of a start that ends before the worker runs, with its one line on
    stderr; None once the broker is there and the topics are right."""
    try:
        if not asyncio.run(_wait_for_the_broker_unless_stopped(settings, metrics)):
            print("wire-ingest: stopped by a signal while waiting for the broker", file=sys.stderr)
            return 0
    except TopicConflictError as exc:
        print(f"wire-ingest: refusing to start: {exc}", file=sys.stderr)
        return EXIT_TOPIC_CONFLICT
    except KafkaConnectionError as exc:
        print(f"wire-ingest: {unreachable(settings, exc)}", file=sys.stderr)
        return 4
    return None


def run_worker(settings: Settings | None = None) -> int:
    settings = settings or load_or_report()
    if settings is None:
        return 2
    problem = web_address_problem(settings) or state_dir_problem(settings)
    if problem is not None:
        print(f"wire-ingest: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    remember_client_errors(one_line=False)
    # Made before the wait, so that its pages count the client's errors from the start.
    metrics = Metrics()
    lines = hold_back_repeated_client_lines(
        lambda logger: metrics.kafka_client_errors.labels(logger).inc()
    )
    status = _start_status(settings, metrics)
    if status is not None:  # no worker: the filter goes, as it came, with this call
        uncover_client_loggers(lines)
        return status
    fix_mmap_threshold()  # before the worker allocates its batches and fetches
    wire = create_app(settings, metrics)
    cover_client_loggers(lines)  # the client modules Faust's driver imported too
    hold_back_faust_chatter()
    # Everything built so far (modules, the app, its topics) lives as long as the process:
    # keep it out of the collector's generations, so each collection scans only new objects.
    gc.freeze()
    worker = Worker(wire.app, loglevel=settings.log_level, redirect_stdouts=False)
    worker.grace_s = settings.shutdown_grace_s
    worker.wire = wire
    worker.execute_from_commandline()  # leaves through SystemExit when the worker stops
    return 0
