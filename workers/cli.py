"""The ``wire-ingest`` command: worker, replay, parse, produce, follow, dlq."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, TypeVar

import orjson

from workers import __version__


def _write_json_line(stream: BinaryIO, value: object) -> None:
    stream.write(orjson.dumps(value))
    stream.write(b"\n")


def _notice(command: str) -> Callable[[str], None]:
    """One stderr line per file a command leaves out of a directory (see expand_paths)."""

    def say(text: str) -> None:
        print(f"{command}: {text}", file=sys.stderr)

    return say


def _core_limits(args: argparse.Namespace) -> bool:
    """Fill the options left unset from the worker's settings (the environment), so that
    ``replay`` and ``parse`` judge items as the worker does; False after one stderr line
    when the environment holds a bad setting."""
    if args.max_bytes is not None and getattr(args, "retention_days", 0) is not None:
        return True
    import os

    from workers.settings import ENV_NAMES, Settings, SettingsError

    # Only these two: a bad worker-only setting (a web port) is no reason to refuse a parse.
    names = (ENV_NAMES["max_item_bytes"], ENV_NAMES["state_retention_days"])
    try:
        settings = Settings.from_env({n: os.environ[n] for n in names if n in os.environ})
    except SettingsError as exc:
        print(f"wire-ingest: configuration error: {exc}", file=sys.stderr)
        return False
    if args.max_bytes is None:
        args.max_bytes = settings.max_item_bytes
    if getattr(args, "retention_days", 0) is None:
        args.retention_days = settings.state_retention_days
    return True


def cmd_replay(args: argparse.Namespace) -> int:
    from workers.replay import Replayer, expand_paths

    if not _core_limits(args):
        return 2
    replayer = Replayer(
        max_bytes=args.max_bytes,
        retention=timedelta(days=args.retention_days),
        received_at=args.received_at,
        wire_format=args.format,
    )
    out = sys.stdout.buffer
    try:
        dlq: BinaryIO | None = args.dlq.open("wb") if args.dlq else None
    except OSError as exc:
        print(f"replay: cannot write {args.dlq}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        for path in expand_paths(args.paths, _notice("replay")):
            try:
                fed = replayer.feed_file(path)
            except OSError as exc:
                print(f"replay: cannot read {path}: {exc.strerror}", file=sys.stderr)
                return 2
            for event in fed.events:
                _write_json_line(out, event)
            if fed.reject is not None:
                if dlq is not None:
                    _write_json_line(dlq, fed.reject)
                print(
                    f"replay: rejected {path}: {fed.reject['reason']} ({fed.reject['detail']})",
                    file=sys.stderr,
                )
        out.flush()
    except BrokenPipeError:  # `wire-ingest replay ... | head` is fine
        sys.stderr.close()
        return 0
    finally:
        if dlq is not None:
            dlq.close()
    print(replayer.summary(), file=sys.stderr)
    return 0


def _iso_time(text: str) -> datetime:
    """An option's ISO 8601 time (UTC when no zone is given), refused in argparse's terms."""
    from workers.dlq import parse_time

    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {text!r} (e.g. 2026-12-05T14:30 or 2026-12-05T14:30+02:00)"
        ) from None


Number = TypeVar("Number", int, float)


def _at_least(
    least: Number, kind: Callable[[str], Number], most: Number | None = None
) -> Callable[[str], Number]:
    """A number option that may not go below ``least`` (nor above ``most``)."""

    def read(text: str) -> Number:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value < least or (most is not None and value > most):
            limits = f"at least {_shown(least, up=True)}" + (
                f" and at most {_shown(most, up=False)}" if most is not None else ""
            )
            raise argparse.ArgumentTypeError(f"must be {limits}, not {text}")
        return value

    return read


def _shown(number: float, *, up: bool) -> str:
    """An option's bound as its user would write it: 8388608, not 8.38861e+06; an hour in
    days as 0.04167, not 0.0416667. Four digits or the whole part, rounded inwards if need
    be (``up`` for a lower bound), so that the bound shown is a value the option accepts."""
    if float(number).is_integer():  # 0 among them, which has no digits to count
        return str(int(number))
    shown = float(f"{number:.{_digits(number)}g}")
    if shown < number if up else shown > number:
        step = 10.0 ** (math.floor(math.log10(abs(number))) + 1 - _digits(number))
        shown = float(f"{shown + step if up else shown - step:.{_digits(number)}g}")
    return str(int(shown)) if shown.is_integer() else f"{shown:.{_digits(shown)}g}"


def _digits(number: float) -> int:
    """Four significant digits, or as many as the whole part has: no exponent either way."""
    return max(4, math.floor(math.log10(abs(number))) + 1)


def _format_options(command: argparse.ArgumentParser) -> None:
    """--format and --received-at: what the worker takes from Kafka headers and timestamps."""
    from workers.core.formats import FORMATS

    command.add_argument(
        "--format",
        choices=sorted(FORMATS),
        help="read every input as this wire format (default: detect each one)",
    )
    command.add_argument(
        "--received-at",
        type=_iso_time,
        help="when the inputs were received (ISO 8601, UTC), for formats whose times lack a "
        "year (IPTC 7901, ANPA 1312); default: each file's modification time",
    )


def cmd_parse(args: argparse.Namespace) -> int:
    from datetime import UTC

    from workers.core import keys
    from workers.core.pipeline import parse_input, route_key
    from workers.core.rejects import Reject
    from workers.replay import expand_paths

    if not _core_limits(args):
        return 2
    status = 0
    for path in expand_paths(args.paths, _notice("parse")):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            print(f"parse: cannot read {path}: {exc.strerror}", file=sys.stderr)
            return 2
        received_at = args.received_at or datetime.fromtimestamp(path.stat().st_mtime, UTC)
        parsed = parse_input(raw, args.max_bytes, received_at=received_at, hint=args.format)
        if isinstance(parsed, Reject):
            docs: list[dict[str, object]] = [{"file": str(path), "rejected": parsed.to_dict()}]
            status = 1
        else:
            docs = [
                {
                    "file": str(path),
                    "bucketKey": route_key(item),
                    "storyKey": keys.base_story_key(item),
                    "contentHash": keys.content_hash(item),
                    "paragraphIds": list(keys.paragraph_ids(item)),
                    "fields": item.to_dict(),
                }
                for item in parsed
            ]
        for doc in docs:
            sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return status


def cmd_worker(_args: argparse.Namespace) -> int:
    from workers.stream.runner import run_worker

    return run_worker()


def cmd_produce(args: argparse.Namespace) -> int:
    from workers.produce import produce_files

    return produce_files(args.paths, topic=args.topic)


def cmd_follow(args: argparse.Namespace) -> int:
    from workers.follow import follow

    return follow(args.topic, args.json, args.from_beginning)


def cmd_dlq(args: argparse.Namespace) -> int:
    from workers.dlq import Selection, run

    if args.to_topic is not None and args.action != "replay":
        print(f"dlq: --to-topic goes with replay, not {args.action}", file=sys.stderr)
        return 2
    if args.offset is not None and args.partition is None:
        print(
            "dlq: --offset needs --partition (an offset names a record in one partition)",
            file=sys.stderr,
        )
        return 2
    selection = Selection(
        reasons=frozenset(args.reason or ()),
        since=args.since,
        until=args.until,
        partition=args.partition,
        offset=args.offset,
    )
    return run(args.action, selection, args.topic, args.to_topic)


def _max_bytes_option(command: argparse.ArgumentParser) -> None:
    from workers.core.decode import DLQ_MAX_RAW_BYTES

    command.add_argument(
        "--max-bytes",
        type=_at_least(1024, int, DLQ_MAX_RAW_BYTES),  # as WIRE_MAX_ITEM_BYTES
        help="refuse items larger than this as too_large (default: WIRE_MAX_ITEM_BYTES, "
        "else 1 MiB)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wire-ingest",
        description="Parse news-wire items, merge story versions, emit IPTC ninjs events.",
    )
    parser.add_argument("--version", action="version", version=f"wire-ingest {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    worker = sub.add_parser(
        "worker",
        help="run the stream worker (configured by environment)",
        description="Run the stream worker until SIGTERM or Ctrl-C. It takes no options: every "
        "setting comes from an environment variable (KAFKA_* for the broker, WIRE_* for the "
        "rest; README, Configuration), checked at start, a wrong one named in one line.",
    )
    worker.set_defaults(func=cmd_worker)

    replay = sub.add_parser(
        "replay", help="run the core over files; events to stdout as JSON lines"
    )
    replay.add_argument("paths", nargs="+", type=Path, help="files or directories (name order)")
    replay.add_argument("--dlq", type=Path, help="write rejected items here as JSON lines")
    _max_bytes_option(replay)
    replay.add_argument(
        "--retention-days",
        type=_at_least(1 / 24, float, 36600.0),  # a century: replays of old archives
        help="a story's bucket expires after this many days of stream time without a version "
        "(default: WIRE_STATE_RETENTION_DAYS, else 7)",
    )
    _format_options(replay)
    replay.set_defaults(func=cmd_replay)

    parse = sub.add_parser("parse", help="print the parsed fields of raw items as JSON")
    parse.add_argument("paths", nargs="+", type=Path)
    _max_bytes_option(parse)
    _format_options(parse)
    parse.set_defaults(func=cmd_parse)

    produce = sub.add_parser("produce", help="send raw item files to the raw topic, in order")
    produce.add_argument("paths", nargs="+", type=Path, help="files or directories (name order)")
    produce.add_argument("--topic", help="default: WIRE_TOPIC_RAW")
    produce.set_defaults(func=cmd_produce)

    follow = sub.add_parser("follow", help="print canonical events as they arrive")
    follow.add_argument("--topic", help="default: WIRE_TOPIC_EVENTS")
    follow.add_argument("--json", action="store_true", help="whole events, one JSON per line")
    follow.add_argument("--from-beginning", action="store_true")
    follow.set_defaults(func=cmd_follow)

    from workers.core.rejects import RejectReason
    from workers.dlq import UNREADABLE

    dlq = sub.add_parser(
        "dlq",
        help="list, show or re-produce dead-lettered records (their original bytes)",
        description="list: one line per record; show: the whole records as JSON; replay: send "
        "each selected record's original bytes to the raw topic again, after a fix.",
    )
    dlq.add_argument("action", choices=("list", "show", "replay"))
    dlq.add_argument(
        "--reason",
        action="append",
        choices=[*(reason.value for reason in RejectReason), UNREADABLE],
        help="only this reason (repeatable)",
    )
    dlq.add_argument("--since", type=_iso_time, help="dead-lettered at or after (ISO 8601, UTC)")
    dlq.add_argument("--until", type=_iso_time, help="dead-lettered before (ISO 8601, UTC)")
    dlq.add_argument("--partition", type=_at_least(0, int), help="only this DLQ partition")
    dlq.add_argument(
        "--offset", type=_at_least(0, int), help="only this DLQ offset (with --partition)"
    )
    dlq.add_argument("--topic", help="the DLQ topic (default: WIRE_TOPIC_DLQ)")
    dlq.add_argument("--to-topic", help="replay to this topic (default: WIRE_TOPIC_RAW)")
    dlq.set_defaults(func=cmd_dlq)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.func is not cmd_worker:
        from workers.stream.kafka_client import remember_client_errors

        remember_client_errors(one_line=True)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
