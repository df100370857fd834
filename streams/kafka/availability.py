"""Waiting for Kafka at start: a broker that is not there yet is an ordinary event.

A worker, the simulator and `replay --topic` call `wait_for_kafka` before
anything else touches the broker. It asks for the cluster's metadata with
backoff, logs one line when it starts waiting and one when the broker answers,
and gives up after `DEALPULSE_KAFKA_WAIT_SECONDS` with one line naming the
address and what to do. Refused credentials are not waited on: they will not
get better, so they end at once, in one line too.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from streams.errors import KafkaUnavailableError
from streams.settings import Settings

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0
PROBE_TIMEOUT_MS = 5_000
KAFKA_CLIENT_LOGGER = "aiokafka"
REFUSED = (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
    ssl.SSLError,
)
"""What waiting cannot mend: wrong credentials, a mechanism or a certificate refused."""


async def wait_for_kafka(settings: Settings) -> None:
    """Return once the brokers answer; `KafkaUnavailableError` when they refuse the
    credentials, or did not answer within `settings.kafka_wait_seconds`."""
    address = settings.bootstrap_servers
    deadline = time.monotonic() + settings.kafka_wait_seconds
    backoff = FIRST_BACKOFF_SECONDS
    waited_since: float | None = None
    while True:
        try:
            await _probe(settings)
        except REFUSED as error:
            raise KafkaUnavailableError(
                f"Kafka at {address} refused the connection's credentials or TLS: "
                f"{_one_line(error)} (check DEALPULSE_KAFKA_SECURITY_PROTOCOL, "
                "DEALPULSE_KAFKA_SASL_* and DEALPULSE_KAFKA_SSL_*)"
            ) from None
        except (KafkaError, OSError) as error:
            now = time.monotonic()
            if waited_since is None:
                waited_since = now
                log.warning(
                    "waiting for Kafka",
                    extra={"bootstrap": address, "error": _one_line(error)},
                )
            if now + backoff > deadline:
                raise KafkaUnavailableError(
                    f"Kafka at {address} did not answer within "
                    f"{settings.kafka_wait_seconds:g} s ({_one_line(error)}): start the local "
                    "broker with `dealpulse kafka up`, or set DEALPULSE_KAFKA_BOOTSTRAP "
                    "(DEALPULSE_KAFKA_WAIT_SECONDS sets how long to wait)"
                ) from None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            continue
        if waited_since is not None:
            log.warning(
                "Kafka answered",
                extra={
                    "bootstrap": address,
                    "waited_seconds": round(time.monotonic() - waited_since, 1),
                },
            )
        return


async def _probe(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        request_timeout_ms=PROBE_TIMEOUT_MS,
        **settings.kafka_client_options(),
    )
    with _ConnectErrors() as errors:
        try:
            await admin.start()
        except KafkaConnectionError:
            # aiokafka's bootstrap logs why each broker failed and raises one generic
            # error: a refused login or certificate is only in its log record.
            refused = next((error for error in errors if isinstance(error, REFUSED)), None)
            if refused is not None:
                raise refused from None
            raise
        finally:
            await admin.close()


class _ConnectErrors(logging.Handler):
    """The exceptions aiokafka's log records carry while it is attached (as their
    arguments, so matched by type, not by text).

    Its records stop here meanwhile: `wait_for_kafka` reports the same failure
    itself, once, with what to do about it.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.errors: list[BaseException] = []
        self._propagated = True

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.errors.extend(arg for arg in args if isinstance(arg, BaseException))

    def __enter__(self) -> list[BaseException]:
        client = logging.getLogger(KAFKA_CLIENT_LOGGER)
        client.addHandler(self)
        self._propagated, client.propagate = client.propagate, False
        return self.errors

    def __exit__(self, *exc: object) -> None:
        client = logging.getLogger(KAFKA_CLIENT_LOGGER)
        client.propagate = self._propagated
        client.removeHandler(self)


def _one_line(error: BaseException) -> str:
    if isinstance(error, KafkaConnectionError):
        return "no broker reachable"  # aiokafka's text lists every resolved address
    text = str(error) or type(error).__name__
    return " ".join(text.split())
