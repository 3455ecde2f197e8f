"""A message's Kafka timestamp, as the agents read it: none when the record carries none."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from workers.stream.agents import _source_of, kafka_time


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1_763_640_000.123, 1_763_640_000.123),
        (-0.001, None),  # Kafka's -1 ms (no timestamp), as Faust hands it over
        (0, None),
        (None, None),
    ],
)
def test_a_record_without_a_timestamp_has_none(
    timestamp: float | None, expected: float | None
) -> None:
    message = SimpleNamespace(topic="wire.raw", partition=0, offset=7, timestamp=timestamp)
    assert kafka_time(message) == expected
    source = _source_of(message, b"raw")
    assert source.timestamp_ms == (int(expected * 1000) if expected else None)
