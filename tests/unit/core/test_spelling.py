"""The edit distance the merge forgives names and places."""

from __future__ import annotations

from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from workers.core.spelling import edit_distance, within_edits

WORDS = st.text(alphabet="абвгдеЙй", max_size=7)


def _reference(a: str, b: str) -> int:
    """Levenshtein by its recursive definition."""

    @cache
    def distance(i: int, j: int) -> int:
        if not i or not j:
            return i or j
        return min(
            distance(i - 1, j) + 1,
            distance(i, j - 1) + 1,
            distance(i - 1, j - 1) + (a[i - 1] != b[j - 1]),
        )

    return distance(len(a), len(b))


@given(WORDS, WORDS)
def test_edit_distance_is_levenshtein(a: str, b: str) -> None:
    assert edit_distance(a, b) == edit_distance(b, a) == _reference(a, b)


@given(WORDS, WORDS, st.integers(0, 3))
def test_within_edits_is_the_distance_bounded(a: str, b: str, allowed: int) -> None:
    assert within_edits(a, b, allowed) is (_reference(a, b) <= allowed)


def test_examples() -> None:
    assert edit_distance("йерусалим", "ерусалим") == 1
    assert edit_distance("Йерусалим", "Ерусалим") == 2  # case counts: callers fold it
    assert edit_distance("Пловдвив", "Пловдив") == 1
    assert edit_distance("Бургас", "Ямбол") == 6
    assert edit_distance("", "абв") == 3
