"""A stand-in for ``workers.stream.fatal.stop`` in unit tests: it records each call and
raises, as the real one never returns (it ends the process)."""

from __future__ import annotations

from typing import NoReturn


class StoppedError(Exception):
    """Raised where the worker would have ended."""


class Stops:
    """Monkeypatch it in for ``stop``; ``calls`` holds each (reason, exit code)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, reason: str, code: int) -> NoReturn:
        self.calls.append((reason, code))
        raise StoppedError(reason)
