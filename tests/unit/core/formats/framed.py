"""Property-test pieces shared by the framed formats (IPTC 7901, ANPA 1312)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import strategies as st

from workers.core.model import WireItem
from workers.core.rejects import Reject, RejectReason

PROVIDER = re.compile(r"[a-z0-9]+")

RECEIVE_TIMES = st.none() | st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12, minutes=-30))]
    ),
)


def mangled(folder: Path) -> st.SearchStrategy[bytes]:
    """A fixture of ``folder`` with a few bytes overwritten, then maybe cut short."""
    fixtures = [path.read_bytes() for path in sorted(folder.glob("*.txt"))]

    @st.composite
    def draw_one(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(fixtures)))
        for _ in range(draw(st.integers(0, 6))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data[: draw(st.integers(0, len(data)))])

    return draw_one()


def checker(wire_format: str) -> Callable[[tuple[WireItem, ...] | Reject], None]:
    """What every parse result of ``wire_format`` must be: a one-line Reject, or one item
    with the invariants."""

    def check(result: tuple[WireItem, ...] | Reject) -> None:
        if isinstance(result, Reject):
            assert isinstance(result.reason, RejectReason)
            assert "\n" not in result.detail
            return
        assert isinstance(result, tuple)
        assert len(result) == 1
        for one in result:
            assert isinstance(one, WireItem)
            assert one.first_created.utcoffset() is not None
            assert one.headline.strip()
            assert PROVIDER.fullmatch(one.provider)
            assert one.wire_format == wire_format
            assert all(p.strip() for p in one.paragraphs)
            assert one.pub_status in {"usable", "canceled"}

    return check
