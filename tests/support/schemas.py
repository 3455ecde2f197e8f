"""JSON Schema checks for what the worker emits (canonical events, DLQ records) and ninjs items.

The event schema's ``item`` is a ``$ref`` to the IPTC ninjs 3.1 schema by its ``$id``
(``http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#``). An unmodified copy of IPTC's
ninjs schema (CC BY 4.0, see ``schemas/NOTICE.md``) is kept in the repository: it is read from
``$WIRE_NINJS_SCHEMA`` when that is set, else from ``<repo root>/schemas/ninjs-schema_3.1.json``,
and put in a ``referencing`` registry under its ``$id`` so the ``$ref`` resolves without any
network access. A missing schema file is an error (:class:`SchemaFileMissingError`), never a
reason to skip a check.

Formats are asserted, not just annotated: ``date-time`` (RFC 3339) and ``uri`` (RFC 3986,
absolute) use jsonschema's own checkers when their optional packages are installed, and the
strict fallbacks below otherwise, so a check never passes just because an extra is missing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = REPO_ROOT / "schemas"
EVENT_SCHEMA_PATH = SCHEMAS_DIR / "canonical-event.schema.json"
DLQ_SCHEMA_PATH = SCHEMAS_DIR / "dlq-record.schema.json"

NINJS_SCHEMA_ENV = "WIRE_NINJS_SCHEMA"
NINJS_SCHEMA_ID = "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json"
DEFAULT_NINJS_SCHEMA_PATH = SCHEMAS_DIR / "ninjs-schema_3.1.json"


class SchemaFileMissingError(RuntimeError):
    """A schema file the checks need is not where it should be."""


class SchemaViolationError(AssertionError):
    """A value does not match its schema; the message lists every error with its JSON path."""

    def __init__(self, what: str, errors: list[str]) -> None:
        super().__init__(f"{what} violates its schema:\n  " + "\n  ".join(errors))
        self.errors = errors


def ninjs_schema_path() -> Path:
    """Where the ninjs 3.1 schema is read from (``$WIRE_NINJS_SCHEMA`` wins)."""
    configured = os.environ.get(NINJS_SCHEMA_ENV)
    return Path(configured) if configured else DEFAULT_NINJS_SCHEMA_PATH


def _load_json(path: Path, hint: str) -> dict[str, Any]:
    if not path.is_file():
        raise SchemaFileMissingError(f"schema file {path} does not exist; {hint}")
    value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return value


# RFC 3339 section 5.6: full-date "T" full-time, the offset as Z or +HH:MM (no seconds).
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$"
)
# RFC 3986 absolute URI: a scheme, then only unreserved, reserved or percent-encoded octets.
_URI = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$"
)


def is_rfc3339_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    match = _RFC3339.match(value)
    if match is None:
        return False
    year, month, day, hour, minute, second, off_h, off_m = match.groups()
    try:
        # RFC 3339 allows a leap second (60); datetime does not, so check it as 59.
        datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59))
    except ValueError:
        return False
    return off_h is None or (int(off_h) <= 23 and int(off_m) <= 59)


def is_absolute_uri(value: object) -> bool:
    return not isinstance(value, str) or _URI.match(value) is not None


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checkers.update(Draft202012Validator.FORMAT_CHECKER.checkers)
    fallbacks: dict[str, Callable[[object], bool]] = {
        "date-time": is_rfc3339_date_time,
        "uri": is_absolute_uri,
    }
    for name, check in fallbacks.items():
        if name not in checker.checkers:
            checker.checks(name)(check)
    return checker


@cache
def _validators(
    ninjs_path: Path,
) -> tuple[Draft202012Validator, Draft202012Validator, Draft202012Validator]:
    ninjs = _load_json(
        ninjs_path,
        f"set {NINJS_SCHEMA_ENV} to the IPTC ninjs 3.1 schema file, or restore the repository's "
        f"copy at {DEFAULT_NINJS_SCHEMA_PATH}",
    )
    if ninjs.get("$id", "").rstrip("#") != NINJS_SCHEMA_ID:
        raise SchemaFileMissingError(f"{ninjs_path} is not the ninjs 3.1 schema (its $id differs)")
    resource = Resource.from_contents(ninjs)
    registry: Registry = Registry().with_resources(
        [(NINJS_SCHEMA_ID, resource), (NINJS_SCHEMA_ID + "#", resource)]
    )
    hint = "the repository's schemas/ directory is incomplete"
    event_schema = _load_json(EVENT_SCHEMA_PATH, hint)
    dlq_schema = _load_json(DLQ_SCHEMA_PATH, hint)
    checker = _format_checker()
    for schema in (event_schema, dlq_schema, ninjs):
        Draft202012Validator.check_schema(schema)
    return (
        Draft202012Validator(event_schema, registry=registry, format_checker=checker),
        Draft202012Validator(dlq_schema, registry=registry, format_checker=checker),
        Draft202012Validator(ninjs, registry=registry, format_checker=checker),
    )


def _check(validator: Draft202012Validator, value: dict[str, Any], what: str) -> None:
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        raise SchemaViolationError(what, [f"{e.json_path}: {e.message}" for e in errors])


def validate_event(event: dict[str, Any]) -> None:
    """Raise :class:`SchemaViolationError` unless ``event`` is a valid canonical event."""
    _check(_validators(ninjs_schema_path())[0], event, "canonical event")


def validate_ninjs(item: dict[str, Any]) -> None:
    """Raise :class:`SchemaViolationError` unless ``item`` is a valid ninjs 3.1 item."""
    _check(_validators(ninjs_schema_path())[2], item, "ninjs item")


def validate_dlq(record: dict[str, Any]) -> None:
    """Raise :class:`SchemaViolationError` unless ``record`` is a valid DLQ record.

    Beyond the schema (where ``contentEncoding`` is only an annotation) this asserts that
    ``rawBase64`` is strict base64 of ``rawSize`` bytes whose SHA-256 is ``rawSha256``.
    """
    _check(_validators(ninjs_schema_path())[1], record, "DLQ record")
    raw = dlq_raw_bytes(record)
    problems = []
    if record.get("rawTruncated"):
        if not len(raw) < record["rawSize"]:
            problems.append("$.rawTruncated: but rawBase64 holds every byte")
        if problems:
            raise SchemaViolationError("DLQ record", problems)
        return
    if len(raw) != record["rawSize"]:
        problems.append(f"$.rawSize: {record['rawSize']} but rawBase64 holds {len(raw)} bytes")
    if hashlib.sha256(raw).hexdigest() != record["rawSha256"]:
        problems.append("$.rawSha256: not the SHA-256 of the bytes in rawBase64")
    if problems:
        raise SchemaViolationError("DLQ record", problems)


def dlq_raw_bytes(record: dict[str, Any]) -> bytes:
    """The original input a DLQ record keeps (strict base64 decoding)."""
    try:
        return base64.b64decode(record["rawBase64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SchemaViolationError("DLQ record", [f"$.rawBase64: not base64: {exc}"]) from exc
