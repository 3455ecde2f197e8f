"""One running story of an original and hundreds of updates through the core: the budget's cost.

README ("State") and BENCHMARKS.md ("State budget and expiry") say what a long story costs once
a story's state has a budget: an arrival takes about the same time at any length, and the
stored value stops growing. The versions are short (the lead and a line of their own), so
that what grows is the story's count, not its text. They are merged one at a time with the
core's ``merge``; the ten arrivals up to each mark are timed (their median) and the stored
value (the table's ``encode_state``, no outbox) is measured at the end.

    python -m benchmarks.long_story [--updates 800] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.core import merge_timed
from benchmarks.report import print_and_save
from workers.core.formats.bta import SOFIA
from workers.core.model import WireItem
from workers.stream.state import BucketState, encode_state

MARKS = (100, 400, 800)
AROUND = 10  # arrivals timed around each mark
FIRST = datetime(2026, 3, 2, 9, 0, tzinfo=SOFIA)
HEADLINE = "Парламентът гласува бюджета"
LEAD = "Парламентът гласува бюджета след дълъг дебат в пленарната зала."


def long_story(updates: int) -> Iterator[WireItem]:
    """The original, then ``updates`` updates a minute apart, each with a line of its own."""
    for n in range(updates + 1):
        lines = (
            (LEAD, f"Депутат номер {n} говори {n % 17 + 1} минути за бюджета.") if n else (LEAD,)
        )
        yield WireItem(
            provider="bta",
            headline=f"{HEADLINE} (обновена {n})" if n else HEADLINE,
            is_update=n > 0,
            first_created=FIRST,
            updated=FIRST + timedelta(minutes=n) if n else None,
            paragraphs=lines,
            places=("София",),
            agency="БТА",
        )


def run(updates: int) -> dict[str, Any]:
    """Merge the story version by version; time the arrivals around each mark."""
    marks = [m for m in MARKS if AROUND <= m <= updates + 1] or [updates + 1]
    bucket, medians, timed = merge_timed(long_story(updates), marks, AROUND)
    (story,) = bucket.views()
    return {
        "versions": updates + 1,
        "kept_in_full": len(bucket.versions),
        "story_total": story.total,
        "ms_per_arrival": medians,
        "arrivals_timed": timed,
        "state_bytes": len(encode_state(BucketState(bucket))),
    }


def table_text(result: dict[str, Any]) -> str:
    lines = [
        f"one story of {result['versions']:,} versions ({result['kept_in_full']} kept in full):",
        *(
            f"  per arrival at {mark} versions: {ms:.2f} ms "
            f"(the median of the {result['arrivals_timed'][mark]} arrivals up to it)"
            for mark, ms in result["ms_per_arrival"].items()
        ),
        f"  stored state: {result['state_bytes']:,} bytes",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.long_story", description=__doc__)
    parser.add_argument("--updates", type=int, default=800)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    result = run(args.updates)
    print_and_save(table_text(result), result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
