"""``wire-ingest replay`` and ``wire-ingest parse`` through ``workers.cli.main``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import fixtures as fx
from tests.support.schemas import dlq_raw_bytes, validate_dlq, validate_event
from workers.cli import _shown, main
from workers.replay import expand_paths

# The fixture corpus spans 17 months, filed by name (tests/support/fixtures.py).
LONG = ("--retention-days", str(fx.CORPUS_RETENTION.days))


def json_lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def test_replay_seeds_and_fixtures(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    dlq = tmp_path / "dlq.jsonl"
    status = main(
        ["replay", *map(str, fx.SEED_ITEMS), str(fx.STORIES_DIR), "--dlq", str(dlq), *LONG]
    )
    out, err = capsysbinary.readouterr()
    assert status == 0
    events = json_lines(out)
    assert [
        (Path(e["source"]["file"]).name, e["eventType"], e["storyKey"], e["version"])
        for e in events
    ] == list(fx.EXPECTED_EVENTS)
    for event in events:
        validate_event(event)
    records = json_lines(dlq.read_bytes())
    assert [(Path(r["source"]["file"]).name, r["reason"]) for r in records] == list(
        fx.EXPECTED_REJECTS
    )
    for record in records:
        validate_dlq(record)
        assert dlq_raw_bytes(record) == Path(record["source"]["file"]).read_bytes()
    text = err.decode()
    assert text.count("replay: rejected ") == 7
    assert "replay: rejected " + str(fx.fixture("045_reject_binary_nul.bin")) + ": not_text" in text
    assert text.rstrip().endswith(
        "replay: 21 inputs, 14 parsed, 7 rejected, 1 duplicate; 9 stories of 13 versions "
        "(3 with updates, 2 twins sharing a minute and place); events: 9 created, 1 updated, "
        "3 backfilled, 0 regrouped, 0 merged"
    )


def test_replay_is_deterministic(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    args = ["replay", *map(str, fx.SEED_ITEMS), str(fx.STORIES_DIR), *LONG]
    assert main(args) == 0
    first = capsysbinary.readouterr().out
    assert main(args) == 0
    assert capsysbinary.readouterr().out == first
    assert len(first.splitlines()) == 13


def test_replay_refuses_versions_older_than_the_retention(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Name order reaches March 2026 before the July 2025 story: 7 days refuse it."""
    dlq = tmp_path / "dlq.jsonl"
    assert main(["replay", str(fx.STORIES_DIR), "--dlq", str(dlq)]) == 0
    err = capsysbinary.readouterr().err.decode()
    assert (
        "050_stara_zagora_mosaic.txt: expired (first published 2025-07-05T16:42:00+03:00, "
        "more than 7 days before stream time 2026-03-29T09:15:00+03:00" in err
    )
    assert err.rstrip().endswith(
        "replay: 19 inputs, 9 parsed, 10 rejected, 0 duplicates; 5 stories of 9 versions "
        "(3 with updates, 0 twins sharing a minute and place); events: 5 created, 2 updated, "
        "2 backfilled, 0 regrouped, 0 merged"
    )
    names = {"050_stara_zagora_mosaic.txt", "070_plovdiv_christmas_cp1251.txt"}
    names.add("080_brussels_rail_tickets_envelope.json")
    records = [json.loads(line) for line in dlq.read_bytes().splitlines()]
    expired = [r for r in records if r["reason"] == "expired"]
    assert {Path(r["source"]["file"]).name for r in expired} == names
    for record in expired:
        validate_dlq(record)
        assert dlq_raw_bytes(record) == Path(record["source"]["file"]).read_bytes()


def test_replay_without_dlq_file_still_reports_rejects(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    assert main(["replay", str(fx.fixture("015_reject_empty.txt"))]) == 0
    out, err = capsysbinary.readouterr()
    assert out == b""
    assert b"empty (no bytes but whitespace)" in err


def test_replay_max_bytes(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    dlq = tmp_path / "dlq.jsonl"
    assert main(["replay", str(fx.SEED_UPDATED), "--max-bytes", "1024", "--dlq", str(dlq)]) == 0
    assert capsysbinary.readouterr().out == b""
    (record,) = json_lines(dlq.read_bytes())
    assert record["reason"] == "too_large"
    validate_dlq(record)


def test_replay_dead_letters_keep_the_format_and_time_it_read_them_with(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """As the worker keeps an input's ``wire-format`` and ``wire-received-at`` headers."""
    dlq = tmp_path / "dlq.jsonl"
    empty = str(fx.fixture("015_reject_empty.txt"))
    args = ["replay", empty, "--dlq", str(dlq), "--format", "bta"]
    assert main([*args, "--received-at", "2025-11-20T12:00"]) == 0
    (record,) = json_lines(dlq.read_bytes())
    assert record["headers"] == {
        "wire-format": "bta",
        "wire-received-at": "2025-11-20T12:00:00+00:00",
    }
    validate_dlq(record)
    assert main(["replay", empty, "--dlq", str(dlq)]) == 0
    (record,) = json_lines(dlq.read_bytes())
    assert "headers" not in record  # detected, and read against the file's time
    capsysbinary.readouterr()


def test_replay_to_a_dlq_file_that_cannot_be_written_is_one_line_and_exit_2(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    where = tmp_path / "missing" / "dlq.jsonl"
    assert main(["replay", str(fx.SEED_ORIGINAL), "--dlq", str(where)]) == 2
    out, err = capsysbinary.readouterr()
    assert out == b""
    assert err == f"replay: cannot write {where}: No such file or directory\n".encode()


def test_a_dlq_offset_without_its_partition_is_refused(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    """Every partition has an offset 5: alone it would name several records."""
    assert main(["dlq", "replay", "--offset", "5"]) == 2
    assert capsysbinary.readouterr().err == (
        b"dlq: --offset needs --partition (an offset names a record in one partition)\n"
    )


def test_replay_of_a_missing_file_fails(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    missing = tmp_path / "nope.txt"
    assert main(["replay", str(fx.SEED_ORIGINAL), str(missing)]) == 2
    out, err = capsysbinary.readouterr()
    assert f"replay: cannot read {missing}".encode() in err
    assert len(out.splitlines()) == 1  # the event before the failure was written


def test_directory_order_skips_hidden_files_documentation_and_subdirectories(
    tmp_path: Path,
) -> None:
    for name in ("b.txt", "a.txt", ".hidden.txt", "README.md", "LICENSE", "notes.md"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_bytes(b"")
    explicit = tmp_path / ".hidden.txt"
    notices: list[str] = []
    assert list(expand_paths([tmp_path, explicit], notices.append)) == [
        tmp_path / "a.txt",
        tmp_path / "b.txt",
        tmp_path / "empty.txt",  # an empty message is an input (rejected as "empty")
        explicit,  # a file named on the command line is taken as given
    ]
    said = "\n".join(notices)
    assert f"skipping the subfolder {tmp_path / 'sub'}" in said
    for name in ("README.md", "LICENSE", "notes.md"):
        assert f"skipping {tmp_path / name}: documentation" in said
    assert f"{tmp_path / 'empty.txt'} is empty" in said
    assert f"skipping the hidden file {tmp_path / '.hidden.txt'}" in said
    assert len(notices) == 6


def test_an_empty_file_named_on_the_command_line_is_named_too(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    notices: list[str] = []
    assert list(expand_paths([empty], notices.append)) == [empty]
    assert notices == [f"{empty} is empty: it goes as an empty item (rejected as 'empty')"]


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["dlq", "list", "--reason", "no_bdy"], "invalid choice: 'no_bdy'"),
        (["dlq", "list", "--partition", "-1"], "must be at least 0, not -1"),
        (["dlq", "show", "--since", "tomorrow"], "not an ISO 8601 time: 'tomorrow'"),
        (["replay", "seeds", "--retention-days", "0"], "at least 0.04167 and at most 36600"),
        (["replay", "seeds", "--retention-days", "nan"], "at most 36600, not nan"),
        (["replay", "seeds", "--retention-days", "inf"], "at most 36600, not inf"),
        (["replay", "seeds", "--retention-days", "1e9"], "at most 36600, not 1e9"),
        (["parse", "seeds", "--max-bytes", "1000"], "at least 1024 and at most 8388608, not 1000"),
        (["replay", "seeds", "--max-bytes", "8388609"], "at most 8388608, not 8388609"),
    ],
)
def test_options_out_of_their_range_are_refused_with_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], wanted: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert wanted in capsys.readouterr().err


@pytest.mark.parametrize(
    ("bound", "lower", "shown"),
    [
        (1 / 24, True, "0.04167"),
        (1 / 24, False, "0.04166"),
        (0.07, True, "0.07"),
        (9999.01, True, "10000"),
        (999_999_999.5, True, "1000000000"),
        (8_388_608.5, False, "8388608"),
        (36600.0, False, "36600"),
        (1024, True, "1024"),
        (0, True, "0"),
    ],
)
def test_a_bound_is_shown_as_typed(bound: float, lower: bool, shown: str) -> None:
    assert _shown(bound, up=lower) == shown


@given(st.floats(min_value=1e-4, max_value=1e9, allow_nan=False), st.booleans())
def test_a_bound_is_shown_in_four_digits_on_the_side_the_option_accepts(
    bound: float, lower: bool
) -> None:
    shown = _shown(bound, up=lower)
    assert float(shown) >= bound if lower else float(shown) <= bound
    assert "e" not in shown
    # Four digits or the whole part's, and one more where rounding up carries (9999.5: 10000).
    assert len(shown.replace(".", "").lstrip("0")) <= max(4, len(str(int(bound)))) + 1


def test_the_bounds_an_out_of_range_option_names_are_accepted() -> None:
    """The refusal shows an hour as 0.04167 days: a user who types that back is let in."""
    for days in ("0.04167", "36600"):
        assert main(["replay", str(fx.SEED_ORIGINAL), "--retention-days", days]) == 0


def test_to_topic_goes_with_replay_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dlq", "list", "--to-topic", "wire.raw"]) == 2
    assert capsys.readouterr().err == "dlq: --to-topic goes with replay, not list\n"


@pytest.mark.parametrize(
    ("topic", "named"),
    [
        ("stories.events", "WIRE_TOPIC_EVENTS"),
        ("stories.latest", "WIRE_TOPIC_LATEST"),
        ("wire.dlq", "WIRE_TOPIC_DLQ"),
        ("wire-ingest.items-by-story", "the repartition topic, of WIRE_APP_ID"),
        ("wire-ingest-story-buckets-changelog", "the table's changelog, of WIRE_APP_ID"),
        ("my.events", "WIRE_TOPIC_EVENTS"),  # as configured
    ],
)
@pytest.mark.parametrize(
    "command", [["produce", "SEED", "--topic"], ["dlq", "replay", "--to-topic"]]
)
def test_raw_bytes_are_not_sent_to_a_topic_the_worker_writes(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    topic: str,
    named: str,
) -> None:
    """A mistyped --topic would put a record that is no event in front of every consumer."""
    from tests.support.broker import free_port

    monkeypatch.setenv("KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")  # refused before any call
    monkeypatch.setenv(
        "WIRE_TOPIC_EVENTS", "my.events" if topic == "my.events" else "stories.events"
    )
    argv = [str(fx.SEED_ORIGINAL) if arg == "SEED" else arg for arg in command]
    assert main([*argv, topic]) == 2
    assert capsys.readouterr().err == (
        f"{command[0]}: {topic} is a topic the worker writes ({named}); raw items go to a raw "
        "topic (here wire.raw, WIRE_TOPIC_RAW)\n"
    )


def test_replay_and_parse_take_the_workers_item_limit_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    monkeypatch.setenv("WIRE_MAX_ITEM_BYTES", "2000")  # under the seed original's size
    assert main(["parse", str(fx.SEED_ORIGINAL)]) == 1
    assert b'"too_large"' in capsysbinary.readouterr().out
    assert main(["replay", str(fx.SEED_ORIGINAL)]) == 0
    assert b"1 rejected" in capsysbinary.readouterr().err
    assert main(["parse", str(fx.SEED_ORIGINAL), "--max-bytes", "100000"]) == 0


def test_parse_and_replay_mind_only_their_own_settings(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    monkeypatch.setenv("WIRE_WEB_PORT", "99999")  # the worker's alone
    assert main(["parse", str(fx.SEED_ORIGINAL)]) == 0
    assert main(["replay", str(fx.SEED_ORIGINAL)]) == 0


def test_the_unreadable_records_dlq_list_names_can_be_selected() -> None:
    from workers.cli import build_parser

    args = build_parser().parse_args(["dlq", "list", "--reason", "unreadable"])
    assert args.reason == ["unreadable"]


def test_replay_refuses_to_run_on_a_bad_environment(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    monkeypatch.setenv("WIRE_STATE_RETENTION_DAYS", "0")
    assert main(["replay", str(fx.SEED_ORIGINAL)]) == 2
    assert b"WIRE_STATE_RETENTION_DAYS" in capsysbinary.readouterr().err


@pytest.mark.parametrize("kind", ["missing", "dangling link"])
def test_parse_of_a_missing_file_is_one_line_and_exit_2(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], kind: str
) -> None:
    missing = tmp_path / "nope.txt"
    if kind == "missing":
        target = missing
    else:
        (tmp_path / "link.txt").symlink_to(missing)
        target = tmp_path / "link.txt"
    assert main(["parse", str(target)]) == 2
    err = capsysbinary.readouterr().err.decode()
    assert err == f"parse: cannot read {target}: No such file or directory\n"


def test_parse_of_a_directory_parses_its_items(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    (tmp_path / "a.txt").write_bytes(fx.SEED_ORIGINAL.read_bytes())
    (tmp_path / "README.md").write_text("not an item")
    assert main(["parse", str(tmp_path)]) == 0
    out, err = capsysbinary.readouterr()
    assert json.loads(out)["fields"]["headline"] == fx.SEED_ORIGINAL_HEADLINE
    assert err.decode().startswith(f"parse: skipping {tmp_path / 'README.md'}: documentation")


@pytest.mark.parametrize("command", [["produce", "SEED"], ["follow"]])
def test_produce_and_follow_without_a_broker_say_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes], command: list[str]
) -> None:
    from tests.support.broker import free_port

    monkeypatch.setenv("KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")  # nothing listens there
    argv = [str(fx.SEED_ORIGINAL) if arg == "SEED" else arg for arg in command]
    assert main(argv) == 4
    err = capsysbinary.readouterr().err.decode()
    assert err.count("\n") == 1, err
    assert err.startswith(f"{command[0]}: cannot reach Kafka at 127.0.0.1:")


def test_replay_of_a_copied_directory_matches(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    # Sources name the files, so compare everything but the source.
    copy = tmp_path / "stories"
    shutil.copytree(fx.STORIES_DIR, copy)
    assert main(["replay", str(fx.STORIES_DIR), *LONG]) == 0
    original = json_lines(capsysbinary.readouterr().out)
    assert main(["replay", str(copy), *LONG]) == 0
    copied = json_lines(capsysbinary.readouterr().out)
    strip = [{k: v for k, v in e.items() if k != "source"} for e in original]
    assert strip == [{k: v for k, v in e.items() if k != "source"} for e in copied]
    # Without the seeds, the re-delivered seed update is an update whose original never comes:
    # it joins the only story of its minute and place, the Moscow twin (the rule that keeps a
    # flash and its rewritten update together; README, "Story keys and merging").
    assert Path(original[2]["source"]["file"]).name == "020_seed_redelivery_crlf_whitespace.txt"
    assert (original[2]["eventType"], original[2]["storyKey"]) == ("story.updated", fx.SEED_STORY)
    assert original[0]["storyKey"] == fx.SEED_STORY


def test_parse_prints_fields_and_keys(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["parse", str(fx.SEED_UPDATED)]) == 0
    doc = json.loads(capsysbinary.readouterr().out)
    assert doc["file"] == str(fx.SEED_UPDATED)
    assert doc["bucketKey"] == "bta:20250812T1757Z"
    assert doc["storyKey"] == fx.SEED_STORY
    assert doc["contentHash"] == "777534a031f49cd30c743d9987b32bda8376879367d4c381b7078c7b1e6bf917"
    assert len(doc["paragraphIds"]) == 8
    fields = doc["fields"]
    assert fields["headline"] == fx.SEED_UPDATED_HEADLINE
    assert fields["isUpdate"] is True
    assert fields["authors"] == ["Пламен Йотински", "Иво Тасев"]
    assert fields["places"] == ["Москва", "Пхенян"]
    assert fields["firstCreated"] == "2025-08-12T20:57:00+03:00"
    assert fields["versionCreated"] == "2025-08-13T01:35:00+03:00"
    assert fields["signoff"] == "ИТ"
    assert len(fields["related"]) == 4


def test_parse_of_a_reject_exits_1_but_prints_every_file(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    bad = fx.fixture("095_reject_bad_timestamp.txt")
    status = main(["parse", str(bad), str(fx.SEED_ORIGINAL)])
    assert status == 1
    out = capsysbinary.readouterr().out.decode()
    decoder = json.JSONDecoder()
    first, end = decoder.raw_decode(out)
    second, _ = decoder.raw_decode(out, end + 1)
    assert first["file"] == str(bad)
    assert first["rejected"]["reason"] == "bad_timestamp"
    assert "32.13.2025" in first["rejected"]["detail"]
    assert second["fields"]["headline"] == fx.SEED_ORIGINAL_HEADLINE


@pytest.mark.parametrize("command", ["produce", "follow", "dlq"])
def test_without_a_broker_stderr_holds_one_line_outside_pytest_too(command: str) -> None:
    """Outside pytest's log capture the client's own log lines would reach stderr too."""
    import os
    import subprocess
    import sys

    from tests.support.broker import free_port

    args = {"produce": ["produce", str(fx.SEED_ORIGINAL)], "follow": ["follow"]}
    env = {**os.environ, "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", *args.get(command, ["dlq", "list"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1, done.stderr
    assert "(last: Unable connect to" in done.stderr  # the client's cause, in the one line


def test_the_summary_of_one_story_speaks_of_one() -> None:
    from tests.support.fixtures import SEED_ORIGINAL
    from workers.replay import Replayer

    replayer = Replayer()
    replayer.feed_file(SEED_ORIGINAL)
    assert "; 1 story of 1 version (" in replayer.summary()


def test_parse_reads_an_item_with_the_format_and_arrival_time_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--received-at`` dates an item whose wire gives no year (ANPA 1312: the latest 13
    November by then); ``--format`` reads the item as that format, which this one is not."""
    item = str(fx.FORMATS_DIR / "anpa1312" / "01-original.txt")
    assert main(["parse", item, "--received-at", "2031-03-01T00:00"]) == 0
    assert json.loads(capsys.readouterr().out)["fields"]["firstCreated"] == (
        "2030-11-13T15:09:00+00:00"
    )
    assert main(["parse", item, "--format", "bta"]) == 1
    assert json.loads(capsys.readouterr().out)["rejected"]["reason"] == "not_text"


def test_the_summary_of_one_input_speaks_of_one(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    assert main(["replay", str(fx.SEED_ORIGINAL)]) == 0
    assert (
        capsysbinary.readouterr()
        .err.decode()
        .rstrip()
        .endswith(
            "replay: 1 input, 1 parsed, 0 rejected, 0 duplicates; 1 story of 1 version "
            "(0 with updates, 0 twins sharing a minute and place); events: 1 created, 0 updated, "
            "0 backfilled, 0 regrouped, 0 merged"
        )
    )
