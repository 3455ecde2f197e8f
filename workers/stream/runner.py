"""``wire-ingest worker``: check topics, then run the Faust worker until a signal stops it."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading

import faust

from workers.settings import Settings, SettingsError
from workers.stream.app import create_app
from workers.stream.topics import TopicConflictError, ensure_topics

log = logging.getLogger(__name__)


class Worker(faust.Worker):
    """Faust's worker with a bounded shutdown.

    Stock Faust can ignore SIGTERM for minutes after an agent crashed. We give it
    ``grace_s`` to stop cleanly (commit offsets, close the table) and then exit anyway:
    uncommitted work is replayed on the next start, so a forced exit loses nothing.
    """

    grace_s: float = 12.0

    def _on_sigterm(self) -> None:
        self._arm_watchdog()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._arm_watchdog()
        super()._on_sigint()

    def _arm_watchdog(self) -> None:
        if getattr(self, "_watchdog", None) is not None:
            return
        log.info("stop requested; forced exit in %.0fs if still running", self.grace_s)
        self._watchdog = threading.Timer(self.grace_s, _force_exit, args=(self.grace_s,))
        self._watchdog.daemon = True
        self._watchdog.start()


def _force_exit(grace_s: float) -> None:
    sys.stderr.write(f"wire-ingest: worker did not stop within {grace_s:.0f}s; exiting\n")
    sys.stderr.flush()
    os._exit(1)


def run_worker(settings: Settings | None = None) -> int:
    try:
        settings = settings or Settings.from_env()
    except SettingsError as exc:
        print(f"wire-ingest: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(ensure_topics(settings))
    except TopicConflictError as exc:
        print(f"wire-ingest: refusing to start: {exc}", file=sys.stderr)
        return 3
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    wire = create_app(settings)
    worker = Worker(wire.app, loglevel=settings.log_level, redirect_stdouts=False)
    worker.grace_s = settings.shutdown_grace_s
    worker.execute_from_commandline()  # leaves through SystemExit when the worker stops
    return 0
