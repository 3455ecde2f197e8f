"""Connection settings for Kafka clients (Faust's and plain aiokafka's) from :class:`Settings`."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import faust

from workers.settings import Settings
from workers.stream.client_logs import CLIENT_LOGGER, name_wordless_exceptions


def aiokafka_consumer(consumer: Any) -> Any | None:
    """The aiokafka consumer behind Faust's (its consumer thread's), or None before it
    started: what the worker reads of the client's private state (fetch positions, cluster
    metadata, the group coordination) starts here, the one place to mend on an upgrade."""
    return getattr(getattr(consumer, "_thread", None), "_consumer", None)


def bootstrap_servers(settings: Settings) -> list[str]:
    return [host.strip() for host in settings.kafka_bootstrap.split(",") if host.strip()]


class _LastClientError(logging.Handler):
    """Keeps the Kafka client's last warning or error for :func:`unreachable`'s line.

    aiokafka logs why a connection failed (refused, a TLS certificate, SASL) and then raises a
    bare "Unable to bootstrap"; the one line names the logged cause instead.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage()


_last_client_error = _LastClientError()


def remember_client_errors(*, one_line: bool) -> None:
    """Keep the client's last warning for :func:`unreachable`, with every exception named.

    ``one_line``: for the commands (not the worker, which logs), the client's lines go only
    into that one line, not to stderr beside it.
    """
    name_wordless_exceptions()
    top = logging.getLogger(CLIENT_LOGGER)
    if _last_client_error not in top.handlers:
        top.addHandler(_last_client_error)  # sees its modules' records as they propagate
    if one_line:
        top.propagate = False


def unreachable(settings: Settings, exc: BaseException) -> str:
    """What every command says when the broker cannot be reached (its exit code is 4)."""
    cause = _last_client_error.message
    # aiokafka's own words list every address it tried, which the line names already.
    said = "no broker answered" if _BOOTSTRAP_FAILED in str(exc) else str(exc)
    return (
        f"cannot reach Kafka at {settings.kafka_bootstrap} ({settings.security_protocol}): {said}"
        + (f" (last: {cause})" if cause else "")
        + _protocol_hint(settings, cause)
    )


_BOOTSTRAP_FAILED = "Unable to bootstrap from"


# How a broker hangs up on a client that speaks another protocol than its listener: it reads a
# TLS ClientHello as a request of absurd size and closes; a TLS or SASL listener closes on a
# plain request.
_HUNG_UP_ON_TLS = ("ConnectionResetError", "IncompleteReadError", "EOF occurred")
_HUNG_UP_ON_PLAIN = ("closed",)
# What a KRaft controller's listener answers a client's first request with: it serves no
# metadata to clients, and aiokafka then knows no API versions to use.
_CONTROLLER_ANSWER = "IncompatibleBrokerVersion: MetadataRequest cannot be used"


def _protocol_hint(settings: Settings, cause: str | None) -> str:
    """A question about the listener, when it hung up on the client's first words or does
    not answer as a broker does."""
    protocol = settings.security_protocol
    if not cause:
        return ""
    if protocol.endswith("SSL") and any(sign in cause for sign in _HUNG_UP_ON_TLS):
        return (
            "; the broker hung up at the TLS handshake: does the listener at that address"
            f" speak TLS (KAFKA_SECURITY_PROTOCOL={protocol})?"
        )
    if _CONTROLLER_ANSWER in cause:
        return (
            "; the listener at that address does not answer as a broker: is it a KRaft"
            " controller's (controller.listener.names)? KAFKA_BOOTSTRAP names brokers"
        )
    if protocol == "PLAINTEXT" and any(sign in cause for sign in _HUNG_UP_ON_PLAIN):
        return (
            "; the broker hung up on a plain request: is the listener at that address a Kafka"
            " broker's, and does it want TLS or SASL (KAFKA_SECURITY_PROTOCOL=PLAINTEXT)?"
        )
    return ""


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A TLS context when the protocol uses TLS; verifies the broker against KAFKA_SSL_CAFILE."""
    if not settings.security_protocol.endswith("SSL"):
        return None
    context = ssl.create_default_context(cafile=settings.ssl_cafile)
    if settings.ssl_certfile:
        context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
    return context


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka producers, consumers and admin clients."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings),
        "security_protocol": settings.security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        kwargs.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password,
        )
    return kwargs


def faust_credentials(settings: Settings) -> Any:
    """The same settings in Faust's terms (None for PLAINTEXT)."""
    context = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
