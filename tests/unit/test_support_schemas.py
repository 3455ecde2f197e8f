"""tests.support.schemas: the checks every suite relies on must fail loudly when they cannot run."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.support import schemas
from tests.support.schemas import (
    NINJS_SCHEMA_ENV,
    SchemaFileMissingError,
    SchemaViolationError,
    is_absolute_uri,
    is_rfc3339_date_time,
    ninjs_schema_path,
    validate_event,
    validate_ninjs,
)
from workers.core.pipeline import apply

from .core.items import seed_updated, source_of

IPTC_FIXTURES = schemas.REPO_ROOT / "tests" / "fixtures" / "iptc"
NINJS_3_1_SHA256 = "404f578a299bf34e76e98f2de26ad9989882ebd7abf3a4d3cf3aa689b70a8744"


def an_event() -> dict[str, object]:
    events = apply(None, seed_updated(), source_of(b"x")).events
    assert events, "a first arrival must emit its story's event"
    return events[0]


def test_default_ninjs_schema_is_the_copy_in_the_repository(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(NINJS_SCHEMA_ENV, raising=False)
    path = ninjs_schema_path()
    assert path == schemas.REPO_ROOT / "schemas" / "ninjs-schema_3.1.json"
    assert path.is_file(), f"the IPTC ninjs schema must be at {path}"
    validate_event(an_event())


def test_the_vendored_ninjs_schema_is_unmodified() -> None:
    """IPTC's file, CC BY 4.0: kept byte for byte, copyright line and all (schemas/NOTICE.md)."""
    raw = (schemas.REPO_ROOT / "schemas" / "ninjs-schema_3.1.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == NINJS_3_1_SHA256
    assert "copyright 2024 IPTC" in json.loads(raw)["description"]
    notice = (schemas.REPO_ROOT / "schemas" / "NOTICE.md").read_text(encoding="utf-8")
    assert NINJS_3_1_SHA256 in notice
    assert "https://creativecommons.org/licenses/by/4.0/" in notice


@pytest.mark.parametrize("name", ["ninjs-3.0_dpa_text.json", "ninjs-3.0_ntb_text.json"])
def test_iptc_ninjs_samples_validate_against_the_vendored_schema(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """IPTC's own ninjs 3.0 examples are valid ninjs 3.1 items too (formats asserted)."""
    monkeypatch.delenv(NINJS_SCHEMA_ENV, raising=False)
    item = json.loads((IPTC_FIXTURES / name).read_text(encoding="utf-8"))
    validate_ninjs(item)


def test_validate_ninjs_rejects_an_invalid_item(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NINJS_SCHEMA_ENV, raising=False)
    item = json.loads((IPTC_FIXTURES / "ninjs-3.0_ntb_text.json").read_text(encoding="utf-8"))
    item["versionCreated"] = "12.08.2025 20:57"
    with pytest.raises(SchemaViolationError, match=r"versionCreated"):
        validate_ninjs(item)


def test_a_missing_ninjs_schema_is_an_error_not_a_skip(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "ninjs.json"
    monkeypatch.setenv(NINJS_SCHEMA_ENV, str(missing))
    with pytest.raises(SchemaFileMissingError, match=re.escape(str(missing))) as raised:
        validate_event(an_event())
    assert NINJS_SCHEMA_ENV in str(raised.value)


def test_the_env_variable_points_at_the_schema(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = tmp_path / "ninjs-3.1.json"
    shutil.copyfile(ninjs_schema_path(), copy)
    monkeypatch.setenv(NINJS_SCHEMA_ENV, str(copy))
    validate_event(an_event())
    wrong = tmp_path / "not-ninjs.json"
    wrong.write_text('{"$id": "urn:something-else", "type": "object"}')
    monkeypatch.setenv(NINJS_SCHEMA_ENV, str(wrong))
    with pytest.raises(SchemaFileMissingError, match=r"not the ninjs 3\.1 schema"):
        validate_event(an_event())


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2025-08-12T20:57:00+03:00", True),
        ("2025-08-12T17:57:00Z", True),
        ("2025-08-12T17:57:00.123z", True),
        ("2016-12-31T23:59:60Z", True),  # a leap second
        ("2025-08-12 20:57:00+03:00", False),
        ("2025-08-12T20:57+03:00", False),
        ("2025-08-12T20:57:00", False),
        ("2025-08-12T20:57:00+01:33:16", False),
        ("2025-02-29T20:57:00Z", False),
        ("2025-08-12T24:00:00Z", False),
        ("2025-08-12T20:57:00+24:00", False),
        ("12.08.2025 20:57", False),
        (20250812, True),  # not a string: the type keyword's business
    ],
)
def test_rfc3339_fallback(value: object, ok: bool) -> None:
    assert is_rfc3339_date_time(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("urn:wire-ingest:story:bta-20250812T1757Z-2b8233", True),
        ("urn:wire-ingest:story:bta-20250812T1757Z-2b8233:related:0123456789ab", True),
        ("https://www.bta.bg/bg/news/world/1234567-x?a=1#p", True),
        ("http://example.com/%D0%91", True),
        ("www.bta.bg/bg/news", False),  # relative
        ("urn:x y", False),
        ("https://www.bta.bg/bg/новини", False),  # an IRI, not a URI
        ("http://example.com/%zz", False),
        ("", False),
    ],
)
def test_uri_fallback(value: str, ok: bool) -> None:
    assert is_absolute_uri(value) is ok
