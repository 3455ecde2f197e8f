"""Many unrelated originals of one minute in one bucket through the core: what an arrival costs.

A bucket holds every story of its first-published minute, and the merge groups its versions
again on each arrival. Its originals' near-duplicate sets (of one place, nearly the same
words) are remembered for the last crowded buckets, so an arrival compares the new original
with each other one (round 31; before, every pair again, quadratic in the originals). A
feed that stamps many items with one minute makes that count, so this measures an arrival at
growing counts: all of one place (each pair compared on its words), and each of its own place
(each pair compared on its place only). Each original is 30 words of its own,
the same count for all (the typo check's worst case: equal lengths go on to a word-by-word
comparison). The ten arrivals up to each mark are timed (their median). Then one more
arrival is timed with nothing remembered, as the first after a restart: it works the sets
out again, comparing the pairs that may match (round 33). ``--words`` sets the originals'
length, ``--varied-lengths`` draws each from half to one and a half times it.

    python -m benchmarks.crowded_bucket [--originals 200] [--words 30] [--varied-lengths]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.core import merge_timed
from benchmarks.report import print_and_save
from workers.core import merge as merge_module
from workers.core.formats.bta import SOFIA
from workers.core.model import WireItem

MARKS = (50, 100, 200, 400)
AROUND = 10  # arrivals timed up to each mark
MINUTE = datetime(2026, 3, 2, 9, 0, tzinfo=SOFIA)
WORDS_PER_ITEM = 30
SHAPES = ("one place", "own places")


def originals(
    count: int,
    *,
    one_place: bool,
    words: int = WORDS_PER_ITEM,
    varied: bool = False,
    seed: int = 7,
) -> Iterator[WireItem]:
    """``count`` originals of one minute, each of its own words, of one place or each its own;
    ``words`` long, or (``varied``) of half to one and a half times that."""
    rng = random.Random(seed)  # noqa: S311 - reproducible inputs, not secrets
    vocabulary = [f"дума{n}" for n in range(5000)]
    for n in range(count):
        length = rng.randint(words // 2, words * 3 // 2) if varied else words
        text = " ".join(rng.choice(vocabulary) for _ in range(length))
        yield WireItem(
            provider="bta",
            headline=f"Заглавие номер {n} {rng.choice(vocabulary)}",
            is_update=False,
            first_created=MINUTE,
            updated=None,
            paragraphs=(f"{text}.",),
            places=("София",) if one_place else (f"Град{n}",),
            agency="БТА",
        )


def run(count: int, words: int = WORDS_PER_ITEM, varied: bool = False) -> dict[str, Any]:
    """Merge each shape's originals one at a time; time the arrivals up to each mark, then
    one more with nothing remembered (the first after a restart)."""
    marks = [m for m in MARKS if AROUND <= m <= count] or [count]
    figures: dict[str, Any] = {
        "originals": count,
        "words": words,
        "varied_lengths": varied,
        "ms_per_arrival": {},
        "ms_first_after_restart": {},
        "stories": {},
    }
    for shape in SHAPES:
        items = list(
            originals(count + 1, one_place=shape == "one place", words=words, varied=varied)
        )
        bucket, medians, _ = merge_timed(items[:-1], marks, AROUND)
        figures["stories"][shape] = len(bucket.views())
        figures["ms_per_arrival"][shape] = medians
        merge_module._near_duplicate_sets.clear()  # what a restart leaves: nothing remembered
        started = time.perf_counter()
        merge_module.merge(bucket, items[-1])
        took = time.perf_counter() - started
        figures["ms_first_after_restart"][shape] = round(took * 1000, 1)
    return figures


def table_text(result: dict[str, Any]) -> str:
    lines = [f"{result['originals']:,} unrelated originals of one minute in one bucket:"]
    for shape, by_mark in result["ms_per_arrival"].items():
        at = ", ".join(f"{ms:.2f} ms at {mark}" for mark, ms in by_mark.items())
        lines.append(f"  {shape} ({result['stories'][shape]} stories): per arrival {at}")
        restart = result["ms_first_after_restart"][shape]
        lines.append(f"    the first arrival after a restart: {restart:,.1f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.crowded_bucket", description=__doc__
    )
    parser.add_argument("--originals", type=int, default=200)
    parser.add_argument("--words", type=int, default=WORDS_PER_ITEM, help="words an original")
    parser.add_argument(
        "--varied-lengths", action="store_true", help="0.5 to 1.5 times --words an original"
    )
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    result = run(args.originals, args.words, args.varied_lengths)
    print_and_save(table_text(result), result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
