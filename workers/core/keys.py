"""Deterministic fingerprints: content hash, paragraph ids, shingles, bucket and story keys.

Nothing here uses Python's salted ``hash()``: every value must be the same in every process, so
a replay on another machine gives every story the key it had.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from datetime import UTC
from functools import lru_cache

import orjson

from workers.core.model import WireItem

_WORD = re.compile(r"\w+")
SHINGLE_WORDS = 4
# Keep one shingle hash in SHINGLE_SAMPLE: a deterministic sample, so containment between two
# texts is estimated on the same shingles whichever text is seen first.
SHINGLE_SAMPLE = 4


def content_hash(item: WireItem) -> str:
    """A hash of what a reader sees; envelope metadata and layout whitespace do not count."""
    fields = item.to_dict()
    fields.pop("envelope")
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def raw_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def fold(text: str) -> str:
    """Words only, case-folded, single-spaced: what paragraph ids and text evidence compare."""
    return " ".join(_WORD.findall(text.casefold()))


@lru_cache(maxsize=65536)
def paragraph_id(paragraph: str) -> str:
    """Stable id of a paragraph: case, punctuation and spacing edits keep the id."""
    digest = hashlib.blake2b(fold(paragraph).encode(), digest_size=6).hexdigest()
    return f"p{digest}"


def paragraph_ids(item: WireItem) -> tuple[str, ...]:
    return tuple(paragraph_id(p) for p in item.paragraphs)


_PUNCTUATION = "".join(
    chr(c) for c in range(0x10000) if not chr(c).isalnum() and not chr(c).isspace()
)


_WORD_IDS: dict[str, int] = {}
_WORD_IDS_MAX = 500_000


def _word_id(token: str) -> int:
    """CRC-32 of a token without its leading and trailing punctuation (0: nothing left)."""
    return zlib.crc32(token.strip(_PUNCTUATION).encode())


def _word_ids(tokens: list[str]) -> list[int]:
    """Word ids through a plain dict: news vocabulary repeats, and a dict hit is cheapest."""
    cache = _WORD_IDS
    if len(cache) > _WORD_IDS_MAX:  # bounded: a long run forgets and starts over
        cache.clear()
    ids = []
    for token in tokens:
        value = cache.get(token)
        if value is None:
            value = cache[token] = _word_id(token)
        if value:
            ids.append(value)
    return ids


_M32 = 0xFFFFFFFF


def shingles(item: WireItem) -> frozenset[int]:
    """A sample of hashed word 4-grams of the body, for containment between versions.

    A 4-gram is kept when the XOR of its word ids is 0 modulo ``SHINGLE_SAMPLE`` (a power of
    two): a consistent choice, so two texts are compared on the same 4-grams whichever is seen
    first. The hash is integer
    arithmetic over CRC-32 word ids, stable across processes and Python versions (the state
    stores these numbers).
    """
    # str.split runs in C, several times faster than a regex; punctuation is stripped from
    # each token in the cached word id, and tokens of punctuation alone are dropped.
    tokens = " ".join(item.paragraphs).casefold().split()
    ids = _word_ids(tokens)
    mask = SHINGLE_SAMPLE - 1
    # Sample on the XOR of the four word ids (cheap, and it depends on every word), then hash
    # only the kept 4-grams: the multiplications are the expensive part.
    return frozenset(
        (((a * 0x9E3779B1 + b) * 0x85EBCA77 + c) * 0xC2B2AE3D + d) & _M32
        for a, b, c, d in zip(ids, ids[1:], ids[2:], ids[3:], strict=False)
        if not (a ^ b ^ c ^ d) & mask
    )


def first_place(item: WireItem) -> str | None:
    return item.places[0].casefold() if item.places else None


def _minute(item: WireItem) -> str:
    return item.first_created.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def bucket_key(item: WireItem) -> str:
    """Where every version of a story meets: provider plus first-published minute (UTC).

    An update keeps its original's first-published time, so all versions share this key and
    land in one partition and one table entry, whichever raw partition they came from.
    """
    return f"{item.provider}:{_minute(item)}"


def base_story_key(item: WireItem) -> str:
    """The story key a version proposes: provider, first-published minute, first dateline place.

    Every version of a BTA story keeps its first-published minute and its first dateline place
    (updates append places), so the key does not depend on which version arrives first.
    """
    place = first_place(item) or ""
    slug = hashlib.blake2b(place.encode(), digest_size=3).hexdigest() if place else "000000"
    return f"{item.provider}-{_minute(item)}-{slug}"


def plain_key(story_key: str) -> str:
    """A story key without the suffix a twin gets: provider, minute and place slug."""
    return "-".join(story_key.split("-", 3)[:3])
