"""``wire-ingest worker`` whose Kafka clients refresh their metadata every second.

aiokafka refreshes a client's metadata every ``metadata_max_age_ms`` (5 minutes by default):
that is when a worker learns that a topic gained partitions. This launcher shortens it, so a
test sees the worker's answer to a topic grown by hand in seconds.

Run as ``python -m tests.support.fresh_metadata_worker worker`` with the worker's environment.
"""

from __future__ import annotations

from typing import Any

from workers.settings import Settings
from workers.stream import app

METADATA_MAX_AGE_MS = 1000


def install() -> None:
    faust_config = app.faust_config

    def with_fresh_metadata(settings: Settings) -> dict[str, Any]:
        config = faust_config(settings)
        config["consumer_metadata_max_age_ms"] = METADATA_MAX_AGE_MS
        config["producer_metadata_max_age_ms"] = METADATA_MAX_AGE_MS
        return config

    app.faust_config = with_fresh_metadata  # create_app looks it up at call time


if __name__ == "__main__":
    from workers.cli import main

    install()
    raise SystemExit(main())
