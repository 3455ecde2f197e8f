"""The one line a command prints when the broker cannot be reached."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import KafkaConnectionError

from workers.settings import Settings
from workers.stream import kafka_client

BOOTSTRAP_FAILED = KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")
RESET = 'Unable connect to "127.0.0.1:9092": ConnectionResetError'
CLOSED = (
    'Unable connect to "127.0.0.1:9092": KafkaConnectionError: Connection at 127.0.0.1:9092 closed'
)


def _line(protocol: str, cause: str | None, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(kafka_client._last_client_error, "message", cause)
    env = {"KAFKA_BOOTSTRAP": "127.0.0.1:9092", "KAFKA_SECURITY_PROTOCOL": protocol}
    if protocol.startswith("SASL"):
        env |= {
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": "u",
            "KAFKA_SASL_PASSWORD": "p",
        }
    return kafka_client.unreachable(Settings.from_env(env), BOOTSTRAP_FAILED)


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
def test_a_tls_client_hung_up_on_is_asked_whether_the_listener_speaks_tls(
    protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = _line(protocol, RESET, monkeypatch)
    assert f"(last: {RESET})" in line
    assert line.endswith(
        "; the broker hung up at the TLS handshake: does the listener at that address speak"
        f" TLS (KAFKA_SECURITY_PROTOCOL={protocol})?"
    )


def test_a_plain_client_hung_up_on_is_asked_whether_the_listener_wants_tls_or_sasl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    line = _line("PLAINTEXT", CLOSED, monkeypatch)
    assert line.endswith(
        "; the broker hung up on a plain request: is the listener at that address a Kafka"
        " broker's, and does it want TLS or SASL (KAFKA_SECURITY_PROTOCOL=PLAINTEXT)?"
    )


@pytest.mark.parametrize(
    ("protocol", "cause"),
    [
        ("PLAINTEXT", RESET),  # no TLS: a reset is something else
        ("SASL_SSL", CLOSED),  # what a TLS listener does to a plain client
        ("SSL", 'Unable connect to "127.0.0.1:9092": [Errno 111] Connect call failed'),
        ("SSL", None),
    ],
)
def test_no_tls_hint_for_other_causes(
    protocol: str, cause: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = _line(protocol, cause, monkeypatch)
    assert "does the listener" not in line
    assert line.count("(last:") == (cause is not None)


def test_the_worker_keeps_the_client_lines_the_commands_keep_to_themselves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    top = logging.getLogger("aiokafka")
    monkeypatch.setattr(top, "propagate", True)
    monkeypatch.setattr(top, "handlers", [])
    kafka_client.remember_client_errors(one_line=False)
    assert top.propagate
    assert top.handlers == [kafka_client._last_client_error]
    kafka_client.remember_client_errors(one_line=True)
    assert not top.propagate
    assert top.handlers == [kafka_client._last_client_error]


def test_a_controller_listener_is_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    cause = (
        'Unable to request metadata from "127.0.0.1:9093": IncompatibleBrokerVersion: '
        "MetadataRequest cannot be used if the API version is unknown"
    )
    line = _line("PLAINTEXT", cause, monkeypatch)
    assert line.endswith(
        "; the listener at that address does not answer as a broker: is it a KRaft"
        " controller's (controller.listener.names)? KAFKA_BOOTSTRAP names brokers"
    )


def test_the_line_says_no_broker_answered_instead_of_the_addresses_tried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    line = _line("PLAINTEXT", RESET, monkeypatch)
    assert line.startswith(
        "cannot reach Kafka at 127.0.0.1:9092 (PLAINTEXT): no broker answered (last: "
    )
