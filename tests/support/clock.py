"""A clock a test sets by hand, for code that takes its time as a callable."""

from __future__ import annotations


class FakeClock:
    """Returns ``now``, which the test moves."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
