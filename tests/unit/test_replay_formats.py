"""Every wire format through ``wire-ingest replay``: one story per original, updates linked.

The fixtures of the four formats beyond BTA are read together with the BTA seeds, in one
replay and in reversed order; every event they give validates against the canonical event
schema (and its item against ninjs 3.1), and every broken fixture becomes a valid DLQ record.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.fixtures import (
    FORMATS_DIR,
    FORMATS_RECEIVED_AT,
    REPO_ROOT,
    SEED_ITEMS,
    format_items,
)
from tests.support.schemas import validate_dlq, validate_event
from workers.replay import Replayer

# What an editor expects of the fixtures: per provider, the number of versions of each story
# (an original with its updates is one story), and how many stories a kill ended.
EXPECTED_VERSIONS = {
    "bta": [2],  # the seed and its update
    "northwind": [1, 1, 2, 3],  # the newsMessage's two; ninjs ferry v1+v2; G2 bridge v1, v2, kill
    "northwindwire": [2],  # the ninjs museum and its kill
    "dpa": [1, 1, 4],  # IPTC's dpa ninjs sample; 7901 year-end; original, 2 leads, kill
    "ap": [1, 4],  # ANPA year-end; original, two writethrus, kill
    "reuters": [1],  # IPTC's NewsML-G2 listing 1
    "acmenews": [1],  # IPTC's NewsML-G2 listing 2
    "ntb": [1],  # IPTC's NTB ninjs sample
}


def _replay(paths: list[Path]) -> Replayer:
    replayer = Replayer(retention=timedelta(days=36600), received_at=FORMATS_RECEIVED_AT)
    for path in paths:
        fed = replayer.feed_file(path)
        assert fed.reject is None, (path.name, fed.reject)
    return replayer


def _stories(replayer: Replayer) -> dict[str, dict[str, Any]]:
    return replayer.result.live_stories()


def test_a_mixed_replay_gives_one_story_per_original_with_its_updates_linked() -> None:
    paths = [*SEED_ITEMS, *format_items()]
    forward = _stories(_replay(paths))
    backward = _stories(_replay(paths[::-1]))
    items = {key: event["item"] for key, event in forward.items()}
    # Arrival order changes neither the stories nor what they show.
    assert forward.keys() == backward.keys()
    for key, event in backward.items():
        assert event["item"] == items[key], key

    by_provider: dict[str, list[int]] = {}
    for item in items.values():
        provider = item["uri"].rsplit(":", 1)[-1].split("-", 1)[0]
        by_provider.setdefault(provider, []).append(int(item["version"]))
    assert {p: sorted(v) for p, v in by_provider.items()} == EXPECTED_VERSIONS
    canceled = {key for key, item in items.items() if item["pubStatus"] == "canceled"}
    assert len(canceled) == 4  # the G2 bridge, the ninjs museum, the dpa and the AP stories
    formats_seen = {event["item"].get("slugline") is not None for event in forward.values()}
    assert formats_seen == {True, False}


def test_every_event_of_every_format_is_a_valid_canonical_event() -> None:
    replayer = _replay([*SEED_ITEMS, *format_items()])
    assert replayer.result.events
    for event in replayer.result.events:
        validate_event(event)  # its item against the ninjs 3.1 schema too


@pytest.mark.parametrize(
    "path",
    sorted(FORMATS_DIR.glob("*/1*.txt")) + sorted(FORMATS_DIR.glob("newsml-g2/hostile-*.xml")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_broken_inputs_of_every_format_become_valid_dlq_records(path: Path) -> None:
    replayer = Replayer(received_at=FORMATS_RECEIVED_AT)
    fed = replayer.feed_file(path)
    assert fed.events == ()
    assert fed.reject is not None
    assert fed.reject["reason"] in {"bad_framing", "bad_xml"}
    validate_dlq(fed.reject)


def test_the_replay_command_reads_every_format(tmp_path: Path) -> None:
    dlq = tmp_path / "dlq.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workers.cli",
            "replay",
            "--received-at",
            FORMATS_RECEIVED_AT.isoformat(),
            "--retention-days",
            "36600",
            "--dlq",
            str(dlq),
            *map(str, [*SEED_ITEMS, *format_items()]),
        ],
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    events = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert {e["item"]["uri"] for e in events} == {
        e["item"]["uri"] for e in _replay([*SEED_ITEMS, *format_items()]).result.events
    }
    assert dlq.read_bytes() == b""
    assert "0 rejected" in proc.stderr.decode()
