"""Every setting a worker cannot use is refused at start, in one line that names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.settings import Settings, SettingsError
from workers.stream.runner import run_worker


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WIRE_WEB_PORT": "99999"}, "WIRE_WEB_PORT"),
        ({"WIRE_WEB_PORT": "0"}, "WIRE_WEB_PORT"),
        ({"WIRE_REPLICATION_FACTOR": "0"}, "WIRE_REPLICATION_FACTOR"),
        ({"WIRE_SHUTDOWN_GRACE_S": "-1"}, "WIRE_SHUTDOWN_GRACE_S"),
        ({"WIRE_STORE": "foo://"}, "WIRE_STORE"),
        ({"WIRE_STORE_FLUSH_S": "0"}, "WIRE_STORE_FLUSH_S"),
        ({"WIRE_STORE_FLUSH_S": "86400"}, "WIRE_STORE_FLUSH_S"),
        ({"WIRE_LOG_LEVEL": "verbose"}, "WIRE_LOG_LEVEL"),
        ({"WIRE_PARTITIONS": "four"}, "WIRE_PARTITIONS"),
        ({"WIRE_COMPRESSION": "brotli"}, "WIRE_COMPRESSION"),
        ({"WIRE_MAX_ITEM_BYTES": "1023"}, "WIRE_MAX_ITEM_BYTES"),
        # Over 8 MiB, a rejected item would be cut in its DLQ record (README, "Events").
        ({"WIRE_MAX_ITEM_BYTES": str(8 * 1024 * 1024 + 1)}, "WIRE_MAX_ITEM_BYTES"),
        ({"KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "KAFKA_SSL_CAFILE"),
        # "nan" and "inf" are floats that pass every bound, and fail later with a traceback.
        ({"WIRE_RAW_RETENTION_DAYS": "nan"}, "WIRE_RAW_RETENTION_DAYS"),
        ({"WIRE_DLQ_RETENTION_DAYS": "inf"}, "WIRE_DLQ_RETENTION_DAYS"),
        ({"WIRE_START_TIMEOUT_S": "nan"}, "WIRE_START_TIMEOUT_S"),
        ({"WIRE_SHUTDOWN_GRACE_S": "NaN"}, "WIRE_SHUTDOWN_GRACE_S"),
        ({"WIRE_SESSION_TIMEOUT_S": "nan"}, "WIRE_SESSION_TIMEOUT_S"),
        # Faust refuses a session longer than its request timeout (90 s), with tracebacks.
        ({"WIRE_SESSION_TIMEOUT_S": "91"}, "WIRE_SESSION_TIMEOUT_S"),
        ({"WIRE_SESSION_TIMEOUT_S": "5"}, "WIRE_SESSION_TIMEOUT_S"),
        ({"KAFKA_BOOTSTRAP": "127.0.0.1:notaport"}, "KAFKA_BOOTSTRAP"),
        ({"KAFKA_BOOTSTRAP": "127.0.0.1:9092,"}, "KAFKA_BOOTSTRAP"),
        ({"KAFKA_BOOTSTRAP": "127.0.0.1:70000"}, "KAFKA_BOOTSTRAP"),
        ({"KAFKA_BOOTSTRAP": ":9092"}, "KAFKA_BOOTSTRAP"),
        ({"KAFKA_BOOTSTRAP": "[::1]9092"}, "KAFKA_BOOTSTRAP"),
        ({"WIRE_PARTITIONS": "0"}, "WIRE_PARTITIONS"),
        # The state budget keeps a changelog record under the topics' 16 MiB limit.
        ({"WIRE_MAX_STATE_BYTES": "65535"}, "WIRE_MAX_STATE_BYTES"),
        ({"WIRE_MAX_STATE_BYTES": str(15 * 1024 * 1024 + 1)}, "WIRE_MAX_STATE_BYTES"),
        ({"WIRE_STATE_RETENTION_DAYS": "0.04"}, "WIRE_STATE_RETENTION_DAYS"),
        ({"WIRE_STATE_RETENTION_DAYS": "3661"}, "WIRE_STATE_RETENTION_DAYS"),
        ({"WIRE_RAW_RETENTION_DAYS": "0"}, "WIRE_RAW_RETENTION_DAYS"),
        ({"WIRE_DLQ_RETENTION_DAYS": "-2"}, "WIRE_DLQ_RETENTION_DAYS"),
        ({"WIRE_START_TIMEOUT_S": "-1"}, "WIRE_START_TIMEOUT_S"),
        ({"WIRE_FAULT_INJECTION": "crash"}, "WIRE_FAULT_INJECTION"),
        ({"KAFKA_SSL_CERTFILE": "/nonexistent/client.pem"}, "KAFKA_SSL_CERTFILE"),
        ({"KAFKA_SSL_KEYFILE": "/nonexistent/client.key"}, "KAFKA_SSL_KEYFILE"),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u"}
            | {"KAFKA_SASL_PASSWORD": "p"},
            "KAFKA_SASL_MECHANISM",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "GSSAPI"}
            | {"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
            "KAFKA_SASL_MECHANISM",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}
            | {"KAFKA_SASL_USERNAME": "u"},
            "KAFKA_SASL_PASSWORD",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN"}
            | {"KAFKA_SASL_PASSWORD": "p"},
            "KAFKA_SASL_USERNAME",
        ),
    ],
)
def test_an_unusable_setting_is_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"KAFKA_SASL_USERNAME": "u"}, "SASL needs KAFKA_SASL_PASSWORD"),
        ({"KAFKA_SASL_PASSWORD": "p"}, "SASL needs KAFKA_SASL_USERNAME"),
        ({}, "SASL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
    ],
)
def test_sasl_without_its_credentials_names_what_is_missing(
    given: dict[str, str], message: str
) -> None:
    env = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env | given)
    assert str(refused.value) == message


def test_usable_settings_pass(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here, only that it exists")
    settings = Settings.from_env(
        {
            "WIRE_WEB_PORT": "65535",
            "WIRE_LOG_LEVEL": "WARNING",
            "WIRE_STORE": "memory://",
            "WIRE_SHUTDOWN_GRACE_S": "0.5",
            "KAFKA_SSL_CAFILE": str(ca),
            "WIRE_MAX_ITEM_BYTES": "8388608",  # the largest a DLQ record keeps whole
        }
    )
    assert (settings.web_port, settings.store, settings.ssl_cafile) == (65535, "memory://", str(ca))
    assert settings.max_item_bytes == 8 * 1024 * 1024


def test_the_bounds_themselves_pass() -> None:
    """Each range the README gives includes its ends."""
    lowest = Settings.from_env(
        {
            "WIRE_MAX_STATE_BYTES": "65536",
            "WIRE_STATE_RETENTION_DAYS": str(1 / 24),
            "WIRE_START_TIMEOUT_S": "0",
            "WIRE_RAW_RETENTION_DAYS": "-1",
            "WIRE_DLQ_RETENTION_DAYS": "1",
        }
    )
    highest = Settings.from_env(
        {"WIRE_MAX_STATE_BYTES": str(15 * 1024 * 1024), "WIRE_STATE_RETENTION_DAYS": "3660"}
    )
    assert (lowest.max_state_bytes, highest.max_state_bytes) == (65536, 15 * 1024 * 1024)
    assert highest.state_retention_days == 3660


@pytest.mark.parametrize(
    "bootstrap",
    ["127.0.0.1:9092", "kafka-0.kafka:9092, kafka-1.kafka:9093", "broker", "[::1]:9092", "[::1]"],
)
def test_bootstrap_lists_the_kafka_client_reads_pass(bootstrap: str) -> None:
    assert Settings.from_env({"KAFKA_BOOTSTRAP": bootstrap}).kafka_bootstrap == bootstrap


def test_the_longest_session_the_client_allows_passes() -> None:
    assert Settings.from_env({"WIRE_SESSION_TIMEOUT_S": "90"}).session_timeout_s == 90.0


def test_the_worker_refuses_them_in_one_line_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WIRE_LOG_LEVEL", "verbose")
    assert run_worker() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("wire-ingest: configuration error: WIRE_LOG_LEVEL must be one of")


def test_topic_settings_follow_replication_and_retention() -> None:
    from workers.stream.topics import topic_specs

    one = {spec.name: spec.config for spec in topic_specs(Settings())}
    assert all("min.insync.replicas" not in config for config in one.values())
    assert one["wire.raw"]["retention.ms"] == str(30 * 86_400_000)
    assert "retention.ms" not in one["stories.events"]
    for replicas, in_sync in ((2, "1"), (3, "2"), (5, "2")):
        specs = topic_specs(Settings(replication_factor=replicas, raw_retention_days=-1))
        assert {spec.config["min.insync.replicas"] for spec in specs} == {in_sync}
        assert next(s for s in specs if s.name == "wire.raw").config["retention.ms"] == "-1"
    with pytest.raises(SettingsError, match="WIRE_DLQ_RETENTION_DAYS"):
        Settings.from_env({"WIRE_DLQ_RETENTION_DAYS": "0.5"})


@pytest.mark.parametrize(
    ("timeout_s", "retries_at_least", "retries_at_most"),
    [
        ("2.5", 2, None),  # after 1 s, then 1.5 s (what is left)
        ("0", 0, 0),  # README: 0, no waiting: one attempt
    ],
)
def test_a_starting_worker_waits_for_the_broker_then_gives_up_with_exit_4(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    timeout_s: str,
    retries_at_least: int,
    retries_at_most: int | None,
) -> None:
    import time

    from tests.support.broker import free_port

    monkeypatch.setenv("KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("WIRE_START_TIMEOUT_S", timeout_s)
    monkeypatch.setenv("WIRE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("WIRE_WEB_PORT", str(free_port()))  # 9108 may be a running worker's
    started = time.monotonic()
    assert run_worker() == 4
    assert time.monotonic() - started >= float(timeout_s)
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) >= retries_at_least
    assert retries_at_most is None or len(retries) <= retries_at_most
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("wire-ingest: cannot reach Kafka at 127.0.0.1:")


def test_the_compression_reaches_fausts_producer_in_kafka_terms() -> None:
    from workers.stream.app import faust_config

    assert Settings().compression_type == "zstd"
    assert faust_config(Settings())["producer_compression_type"] == "zstd"
    for name in ("gzip", "snappy", "lz4", "zstd"):
        settings = Settings.from_env({"WIRE_COMPRESSION": name})
        assert faust_config(settings)["producer_compression_type"] == name
    assert faust_config(Settings(compression="none"))["producer_compression_type"] is None
    assert Settings.from_env({"WIRE_COMPRESSION": "LZ4"}).compression_type == "lz4"


@pytest.mark.parametrize("name", ["gzip", "snappy", "lz4", "zstd"])
def test_every_codec_offered_is_installed(name: str) -> None:
    """A codec aiokafka cannot load would stop the worker at start: all ship with it."""
    from aiokafka import codec

    assert getattr(codec, f"has_{name}")(), f"{name} is offered but its library is missing"


def _readme_defaults() -> dict[str, str]:
    """The README's configuration table: each variable (a row may name two) with its default
    as written (``unset``, or the value in backticks)."""
    import re

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    defaults: dict[str, str] = {}
    for names, default in re.findall(
        r"^\| (`[A-Z_0-9]+`(?: / `[A-Z_0-9]+`)*) \| ([^|]+) \|", readme, re.M
    ):
        for name in re.findall(r"`([A-Z_0-9]+)`", names):
            defaults[name] = default.strip().strip("`")
    return defaults


def _as_written(value: object) -> str:
    """A default as the README writes it: ``unset``, ``30`` for 30.0, ``state`` for a path."""
    if value is None:
        return "unset"
    return format(value, "g") if isinstance(value, float) else str(value)


def test_the_readme_lists_every_setting_with_its_default() -> None:
    from workers.settings import ENV_NAMES

    defaults = Settings()
    written = {
        variable: _as_written(getattr(defaults, field)) for field, variable in ENV_NAMES.items()
    }
    assert _readme_defaults() == written
