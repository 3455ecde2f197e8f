"""benchmarks.pair_index: the pair index against every pair compared, and its report."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from benchmarks.pair_index import draw, main, run
from workers.core.merge import Version, _labels_comparing_every_pair


def test_re_sends_are_four_stories_with_a_word_changed() -> None:
    items = draw(12, "re-sends", words=200, varied=False, seed=3)
    labels = _labels_comparing_every_pair([Version.of(item) for item in items])
    assert len(set(labels)) == 4
    assert len({item.paragraphs for item in items}) == 12


def test_each_shape_gives_a_figure_for_both_ways_at_each_size() -> None:
    for shape, stories in (("one-place", 9), ("own-places", 9), ("re-sends", 4)):
        items = draw(9, shape, words=200, varied=True, seed=1)
        assert len(set(_labels_comparing_every_pair([Version.of(i) for i in items]))) == stories
        result = run([8, 9], shape, words=200, varied=True, draws=2)
        assert {way: list(ms) for way, ms in result["median_ms"].items()} == {
            "every pair": ["8", "9"],
            "pair index": ["8", "9"],
        }


def test_the_command_prints_its_figures_and_writes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pairs.json"
    argv = ["--shape", "re-sends", "--words", "200", "--sizes", "8,12", "--draws", "1"]
    assert main([*argv, "--json", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("near-duplicate sets from nothing, re-sends, 200 words")
    assert printed[1].split() == ["originals", "every", "pair", "pair", "index", "ratio"]
    assert [line.split()[0] for line in printed[2:]] == ["8", "12"]
    assert orjson.loads(out.read_bytes())["shape"] == "re-sends"
