"""Connection settings for Kafka clients (Faust's and plain aiokafka's) from :class:`Settings`."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import faust

from workers.settings import Settings


def bootstrap_servers(settings: Settings) -> list[str]:
    return [host.strip() for host in settings.kafka_bootstrap.split(",") if host.strip()]


class _LastClientError(logging.Handler):
    """Keeps aiokafka's last warning or error instead of letting it reach stderr on its own.

    aiokafka logs why a connection failed (refused, a TLS certificate, SASL) and then raises a
    bare "Unable to bootstrap"; the commands' one line names the logged cause instead.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage()


_last_client_error = _LastClientError()


def keep_client_errors_for_the_one_line() -> None:
    """For the commands (not the worker, which logs): the client's log lines go into
    :func:`unreachable`'s line, not to stderr beside it."""
    logger = logging.getLogger("aiokafka")
    if _last_client_error not in logger.handlers:
        logger.addHandler(_last_client_error)
        logger.propagate = False


def unreachable(settings: Settings, exc: BaseException) -> str:
    """What every command says when the broker cannot be reached (its exit code is 4)."""
    cause = _last_client_error.message
    return (
        f"cannot reach Kafka at {settings.kafka_bootstrap} ({settings.security_protocol}): {exc}"
        + (f" (last: {cause})" if cause else "")
    )


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
