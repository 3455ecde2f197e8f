"""Deterministic input sets for the fault-injection scenarios."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UPDATE = (REPO / "seeds" / "000_3b5780341c97b251.txt").read_text("utf-8")
ORIGINAL = (REPO / "seeds" / "000_original.txt").read_text("utf-8")
_STAMP = "%d.%m.%Y %H:%M"
BASE = datetime(2025, 3, 1, 8, 0)


@dataclass(frozen=True)
class Corpus:
    values: list[bytes]
    stories: int
    rejects: int


def _story_text(template: str, story: int, first: datetime, updated: datetime | None) -> str:
    text = template.replace("12.08.2025 20:57", first.strftime(_STAMP))
    if updated is not None:
        text = text.replace("13.08.2025 01:35", updated.strftime(_STAMP))
    # Story-specific words: two stories never share their text.
    return text.replace("Путин", f"Путин{story}").replace("Ким", f"Ким{story}")


def _version(story: int, version: int, first: datetime) -> bytes:
    """Version 0 is the original; version k > 0 is the k-th update, k hours later."""
    if version == 0:
        return _story_text(ORIGINAL, story, first, None).encode()
    text = _story_text(UPDATE, story, first, first + timedelta(hours=version))
    text = text.replace("/ИТ/", f"Допълнение номер {version} към историята {story}.\n\n/ИТ/")
    return text.encode()


def stories_corpus(stories: int, seed: int = 1, redeliveries: float = 0.1) -> Corpus:
    """Many stories of 1 to 4 versions each, shuffled, with re-deliveries and a few rejects."""
    rng = random.Random(seed)
    values: list[bytes] = []
    for story in range(stories):
        first = BASE + timedelta(minutes=story)
        values += [_version(story, v, first) for v in range(rng.randint(1, 4))]
    rng.shuffle(values)
    copies = []
    for value in rng.sample(values, int(len(values) * redeliveries)):
        # Byte-identical, or the same item with CRLF line ends and trailing blanks.
        copies.append(value if rng.random() < 0.5 else value.replace(b"\n", b"  \r\n"))
    rejects = [b"no timestamp here\n\njust text %d" % i for i in range(max(len(values) // 100, 1))]
    values += copies + rejects
    rng.shuffle(values)
    return Corpus(values, stories, len(rejects))


def small_stories_corpus(stories: int) -> Corpus:
    """Short single-version items (about 400 bytes): for memory runs over many items."""
    values = []
    for story in range(stories):
        first = BASE + timedelta(minutes=story)
        values.append(
            (
                f"Кратка новина {story}\n\nАвтор Авторов\nСофия,\n{first.strftime(_STAMP)}\n(БТА)\n"
                f"Първи абзац на новина {story} с няколко думи за теста.\n\n"
                f"Втори абзац {story} за паметта на работника.\n\n/ИТ/\n"
            ).encode()
        )
    return Corpus(values, stories, 0)


def hostile_corpus(count: int, seed: int = 2) -> list[bytes]:
    """Inputs built to break a parser: junk, truncation, mutation, giants, backtracking bait."""
    rng = random.Random(seed)
    seed_bytes = UPDATE.encode()
    makers = [
        lambda: rng.randbytes(rng.randint(0, 4096)),
        lambda: seed_bytes[: rng.randint(0, len(seed_bytes))],
        lambda: bytes(
            b ^ (1 << rng.randint(0, 7)) if rng.random() < 0.01 else b for b in seed_bytes
        ),
        lambda: seed_bytes.replace(b"\n", b"\x00", rng.randint(1, 5)),
        lambda: b"\xff\xfe" + seed_bytes[:2000],
        lambda: b"x" * rng.randint(100_000, 900_000),  # one very long line
        ("1" * 50_000 + ".").encode,
        ("Москва/" * 20_000 + ", 12.08.2025 20:57").encode,
        ("12.08.2025 20:57 |" * 5_000).encode,
        ("ОБНОВЕНА " * 20_000).encode,
        ("\n" * 100_000 + "a").encode,
        lambda: json.dumps({"text": rng.choice([1, None, [], {}]), "url": 5}).encode(),
        lambda: json.dumps({"text": UPDATE, "receivedAt": 12}).encode(),
        lambda: b"{" * rng.randint(1, 5000),
        lambda: json.dumps([UPDATE]).encode(),
        lambda: UPDATE.encode("utf-16"),
    ]
    values = [rng.choice(makers)() for _ in range(count)]
    giant = b"5MB " + rng.randbytes(16) * (5 * 1024 * 1024 // 16)
    values[:: max(count // 5, 1)] = [giant] * len(values[:: max(count // 5, 1)])
    return values
