"""The Faust app as the worker configures it."""

from __future__ import annotations

from pathlib import Path

from workers.settings import Settings
from workers.stream.app import create_app

A_YEAR_AT_100K_MESSAGES_A_SECOND = 100_000 * 366 * 24 * 3600


def test_the_fetch_loop_never_stops_to_commit_by_count(tmp_path: Path) -> None:
    """Faust's fetch loop commits, and hands out nothing meanwhile, every n acked messages;
    the worker commits on its timer only, so n is out of any run's reach."""
    app = create_app(Settings(state_dir=tmp_path)).app

    assert app.conf.broker_commit_interval == 1.0
    assert app.consumer._commit_every > A_YEAR_AT_100K_MESSAGES_A_SECOND
