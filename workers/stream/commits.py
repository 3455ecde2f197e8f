"""When the last commit round ended: the one sign that commits still happen.

Faust runs a commit round on its timer (``broker_commit_interval``, 1 s), whether or not an
offset moved. A round that never ends (a record whose delivery never settles, a commit the
broker never answers) stops every later one without an error, and each input since the last
commit is then processed again at the next start. The gauge it sets
(``wire_ingest_last_commit_timestamp_seconds``) lets an alert see that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust


class CommitRounds(faust.Sensor):
    """Calls ``on_round_end`` each time a commit round ends, committed or not."""

    def __init__(self, on_round_end: Callable[[], None]) -> None:
        super().__init__()
        self._on_round_end = on_round_end

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        super().on_commit_completed(consumer, state)
        self._on_round_end()
