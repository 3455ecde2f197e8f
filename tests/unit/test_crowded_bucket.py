"""benchmarks.crowded_bucket: unrelated originals of one minute, and the report of the figures."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from benchmarks.crowded_bucket import WORDS_PER_ITEM, main, originals, run
from workers.core import keys


def test_the_originals_are_of_one_minute_with_texts_of_one_length() -> None:
    same = list(originals(5, one_place=True))
    own = list(originals(5, one_place=False))
    assert {item.first_created for item in same + own} == {same[0].first_created}
    assert {item.places for item in same} == {("София",)}
    assert len({item.places for item in own}) == 5
    assert {len(keys.words(item.paragraphs[0])) for item in same} == {WORDS_PER_ITEM}
    assert len({item.headline for item in same}) == 5


def test_varied_lengths_are_half_to_one_and_a_half_times_the_words() -> None:
    lengths = {
        len(keys.words(item.paragraphs[0]))
        for item in originals(40, one_place=True, words=20, varied=True)
    }
    assert min(lengths) >= 10
    assert max(lengths) <= 30
    assert len(lengths) > 5


def test_every_original_stays_a_story_of_its_own_and_each_mark_is_timed() -> None:
    result = run(60)
    assert result["stories"] == {"one place": 60, "own places": 60}
    assert {shape: list(marks) for shape, marks in result["ms_per_arrival"].items()} == {
        "one place": ["50"],
        "own places": ["50"],
    }
    assert set(result["ms_first_after_restart"]) == {"one place", "own places"}
    assert all(ms > 0 for ms in result["ms_first_after_restart"].values())


def test_the_command_prints_its_figures_and_writes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "crowded.json"
    assert main(["--originals", "12", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("12 unrelated originals of one minute in one bucket:")
    assert "one place (12 stories): per arrival " in printed
    assert "    the first arrival after a restart: " in printed
    assert orjson.loads(out.read_bytes())["originals"] == 12
