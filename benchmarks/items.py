"""The generated wire items every benchmark feeds: seed-sized, deterministic, with the mix.

Standard library only: the baseline processes and the tests import it without the core.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
_STAMP = "%d.%m.%Y %H:%M"
_SIGNOFF = "\n\n/ИТ/\n"
# How many leads of the update seed's related list become background paragraphs of every
# version: real wire stories carry background, and it brings the items to the seed's size.
_BACKGROUND_PARAGRAPHS = 3


def _background(update: str) -> str:
    """The longest lines of the related list (its leads), as background paragraphs."""
    related = update.split(_SIGNOFF, 1)[1]
    leads = sorted(related.splitlines(), key=len, reverse=True)[:_BACKGROUND_PARAGRAPHS]
    return "\n\n".join(leads)


def synthetic_items(count: int, seed: int = 7, first_story: int = 0) -> Iterator[bytes]:
    """Seed-sized BTA items (~6 KB): about 60% originals, 30% updates and 10% re-deliveries.

    Every version carries three background paragraphs (the update seed's related leads), which
    brings originals to ~5 KB and updates to ~8 KB, ~6 KB on average like the real seed item.
    ``first_story`` numbers the stories from there (each story has its own first-published
    minute), so item sets generated with different values never share a story.
    """
    update = (SEEDS / "000_3b5780341c97b251.txt").read_text("utf-8")
    original = (SEEDS / "000_original.txt").read_text("utf-8")
    background = _background(update)
    update = update.replace(_SIGNOFF, f"\n\n{background}{_SIGNOFF}", 1)
    original = original.replace(_SIGNOFF, f"\n\n{background}{_SIGNOFF}", 1)
    rng = random.Random(seed)  # noqa: S311 - reproducible inputs, not secrets
    base = datetime(2025, 8, 12, 20, 57) + timedelta(minutes=first_story)
    published: list[tuple[datetime, int]] = []
    recent: list[bytes] = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.1 and recent:
            yield rng.choice(recent)
            continue
        if roll < 0.4 and published:
            when, story = rng.choice(published)
            text = update.replace("12.08.2025 20:57", when.strftime(_STAMP)).replace(
                "13.08.2025 01:35", (when + timedelta(hours=1 + n % 5)).strftime(_STAMP)
            )
        else:
            story = first_story + n
            when = base + timedelta(minutes=n)
            published.append((when, story))
            text = original.replace("12.08.2025 20:57", when.strftime(_STAMP))
        # Make the story's text its own, so different stories never match each other.
        text = text.replace("Путин", f"Путин-{story}").replace("Ким", f"Ким-{story}")
        raw = text.encode("utf-8")
        recent = [*recent[-50:], raw]
        yield raw
