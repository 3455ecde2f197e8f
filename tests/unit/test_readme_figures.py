"""The limits the README states are the code's: a change to either fails here.

Tests of a limit's behaviour read the code's constant, so they pass whatever its value; the
README states the value in words. Each row pairs the two.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workers.core import decode, merge, pipeline
from workers.core.formats import newsml_g2
from workers.stream.app import ROCKSDB_OPTIONS

README = Path(__file__).parents[2] / "README.md"
MIB = 1024 * 1024


def _readme() -> str:
    """The README with its lines joined: a phrase may break across lines."""
    return re.sub(r"\s+", " ", README.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("value", "stated", "phrase"),
    [
        (merge.KEEP_UPDATES, 10, "its originals and its 10 newest updates in full"),
        (merge.FOLDED_HASHES, 1024, "the last 1,024 of them by a 16-character content hash"),
        (merge.FOLDED_HASH_CHARS, 16, "the last 1,024 of them by a 16-character content hash"),
        (merge.MAX_PROVIDER_IDS, 64, "their provider ids (up to 64) stay on the story"),
        (merge.NEAR_DUPLICATE, 0.8, "headline + body of at least **0.8**"),
        (merge.KEPT_PARAGRAPH, 0.5, "each with at least half of its word trigrams there"),
        (merge.MAX_TYPO_FIXES, 3, "but for at most 3 typos fixed"),
        (merge.MIN_TYPO_WORD, 4, "each in a word of four letters or more"),
        (merge.REMEMBER_FROM, 8, "(8 originals or more, 20,000 originals in all"),
        (merge.REMEMBERED_ORIGINALS, 20_000, "(8 originals or more, 20,000 originals in all"),
        (pipeline.DLQ_MAX_RAW_BYTES, 8 * MIB, "keeps its first 8 MiB in `rawBase64`"),
        (newsml_g2.MAX_DEPTH, 100, "nesting deeper than 100 levels"),
        (newsml_g2.MAX_ELEMENTS, 100_000, "more than 100,000 elements is refused"),
        (decode.MAX_LINES_READ_APART, 5_000, "An input of over 5,000 lines is Windows-1251"),
        (decode.MAX_STRAY_CP1251_BYTES, 8, "at most 8 invalid bytes or one per 10"),
        (decode.STRAY_CP1251_PER_LETTERS, 10, "at most 8 invalid bytes or one per 10"),
        (decode.MIN_UTF8_LETTERS, 16, "at least 16 other characters beyond ASCII"),
        (ROCKSDB_OPTIONS["write_buffer_size"], 8 * MIB, "2 x 8 MiB write buffers"),
        (ROCKSDB_OPTIONS["max_write_buffer_number"], 2, "2 x 8 MiB write buffers"),
        (ROCKSDB_OPTIONS["block_cache_size"], 64 * MIB, "a 64 MiB block cache per partition"),
    ],
)
def test_a_limit_is_what_the_readme_says(value: object, stated: object, phrase: str) -> None:
    assert phrase in _readme()
    assert value == stated


def test_the_layout_names_every_module() -> None:
    """The README's source tree names each module of workers/ and benchmarks/, and no other."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index("```\nworkers/\n") :]
    block = block[: block.index("\n```", 4)]
    named = set(re.findall(r"[a-z_0-9]+\.py", block))
    root = README.parent
    modules = {
        path.name
        for package in ("workers", "benchmarks")
        for path in (root / package).rglob("*.py")
        if not path.name.startswith("__")
    }
    assert named == modules
