"""One word spelt two ways: the typo and transliteration distance the merge forgives.

Wire desks spell a name anew between versions ("Йерусалим", "Ерусалим") or fix a typo
("Пловдвив"). Places (:mod:`workers.core.keys`) and headline names (:mod:`workers.core.merge`)
allow each their own number of edits; this module only counts them.
"""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    """The Levenshtein distance: insertions, deletions and substitutions that make ``a`` ``b``."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            )
        previous = current
    return previous[-1]


def within_edits(a: str, b: str, allowed: int) -> bool:
    """Whether ``a`` and ``b`` are at most ``allowed`` edits apart; the length check first."""
    return abs(len(a) - len(b)) <= allowed and edit_distance(a, b) <= allowed
