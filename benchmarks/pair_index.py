"""A crowded bucket's near-duplicate sets worked out from nothing (the first arrival after a
restart): the pair index against every pair compared, side by side.

The grouping alone (``_labels_of_every_pair``), over fresh originals of one minute: each size
is drawn ``--draws`` times with a seed of its own, and the two ways alternate on each draw,
their labels checked equal. ``--shape`` sets what the originals are: ``one-place`` (each of
its own words, all of one place: every pair's words compared), ``own-places`` (no two of one
place: only places compared) or ``re-sends`` (four stories, each original one of them with a
word changed: a quarter of the pairs are near-duplicates, the shape the index suits least
of those measured, BENCHMARKS.md round 34).

    python -m benchmarks.pair_index [--shape one-place] [--words 600] [--varied-lengths]
        [--sizes 8,16,32,64,128,256] [--draws 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.crowded_bucket import originals
from benchmarks.report import print_and_save
from workers.core import merge as merge_module
from workers.core.merge import Version
from workers.core.model import WireItem

SHAPES = ("one-place", "own-places", "re-sends")
RESENT_STORIES = 4


WAYS: dict[str, Callable[[list[Version]], list[int]]] = {
    "every pair": merge_module._labels_comparing_every_pair,
    "pair index": merge_module._labels_of_every_pair,
}


def draw(count: int, shape: str, words: int, varied: bool, seed: int) -> list[WireItem]:
    """``count`` originals of one minute of the given shape."""
    items = list(
        originals(count, one_place=shape != "own-places", words=words, varied=varied, seed=seed)
    )
    if shape != "re-sends":
        return items
    rng = random.Random(seed)  # noqa: S311 - reproducible inputs, not secrets
    stories = items[:RESENT_STORIES]
    resent = []
    for n in range(count):
        story = stories[n % len(stories)]
        text = story.paragraphs[0].split()
        text[rng.randrange(len(text))] = f"друга{n}"
        resent.append(dataclasses.replace(story, paragraphs=(" ".join(text),)))
    return resent


def run(sizes: list[int], shape: str, words: int, varied: bool, draws: int) -> dict[str, Any]:
    """The median ms of each way at each size."""
    figures: dict[str, Any] = {
        "shape": shape,
        "words": words,
        "varied_lengths": varied,
        "draws": draws,
        "median_ms": {way: {} for way in WAYS},
    }
    for count in sizes:
        took: dict[str, list[float]] = {way: [] for way in WAYS}
        for n in range(draws):
            items = draw(count, shape, words, varied, seed=1000 * n + count)
            order = list(WAYS) if n % 2 == 0 else list(reversed(WAYS))
            labels = []
            for way in order:
                versions = [Version.of(item) for item in items]  # nothing worked out yet
                started = time.perf_counter()
                labels.append(WAYS[way](versions))
                took[way].append((time.perf_counter() - started) * 1000)
            if labels[0] != labels[1]:
                raise AssertionError(f"the two ways disagree at {count} originals, draw {n}")
        for way, ms in took.items():
            figures["median_ms"][way][str(count)] = round(statistics.median(ms), 2)
    return figures


def table_text(result: dict[str, Any]) -> str:
    length = f"{result['words']} words" + (
        " (half to 1.5 times)" if result["varied_lengths"] else ""
    )
    lines = [
        f"near-duplicate sets from nothing, {result['shape']}, {length}, "
        f"median of {result['draws']} draws (ms):",
        f"{'originals':>10} {'every pair':>12} {'pair index':>12} {'ratio':>7}",
    ]
    every, index = result["median_ms"]["every pair"], result["median_ms"]["pair index"]
    for count, baseline in every.items():
        ratio = index[count] / baseline if baseline else float("nan")
        lines.append(f"{count:>10} {baseline:>12,.1f} {index[count]:>12,.1f} {ratio:>7.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pair_index", description=__doc__)
    parser.add_argument("--shape", choices=SHAPES, default="one-place")
    parser.add_argument("--words", type=int, default=600, help="words an original")
    parser.add_argument(
        "--varied-lengths", action="store_true", help="0.5 to 1.5 times --words an original"
    )
    parser.add_argument("--sizes", default="8,16,32,64,128,256", help="originals, comma-separated")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    result = run(sizes, args.shape, args.words, args.varied_lengths, args.draws)
    print_and_save(table_text(result), result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
