"""benchmarks.long_story: a running story through the core, and the report of what it measured."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from benchmarks.long_story import long_story, main, run
from workers.core.merge import KEEP_UPDATES


def test_the_story_is_an_original_and_its_updates_in_time_order() -> None:
    items = list(long_story(3))
    assert [item.is_update for item in items] == [False, True, True, True]
    assert [item.version_created for item in items] == sorted(
        item.version_created for item in items
    )
    assert len({item.paragraphs for item in items}) == 4


def test_a_long_story_keeps_its_budget_and_times_each_mark() -> None:
    result = run(120)
    assert result["versions"] == result["story_total"] == 121
    assert result["kept_in_full"] == 1 + KEEP_UPDATES
    assert list(result["ms_per_arrival"]) == ["100"]
    assert result["arrivals_timed"] == {"100": 10}
    assert result["state_bytes"] > 0


def test_the_command_prints_its_figures_and_writes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "long.json"
    assert main(["--updates", "5", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("one story of 6 versions (6 kept in full):")
    assert "the median of the 6 arrivals up to it" in printed
    assert orjson.loads(out.read_bytes())["versions"] == 6
