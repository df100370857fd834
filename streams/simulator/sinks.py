"""Where the simulated stream goes: a JSON Lines file, or a Kafka topic.

The only module of the simulator that knows about Kafka. Producing is paced
by a token bucket on the event loop's clock, and delivery is awaited in
chunks, so neither a fast generator nor a slow broker makes memory grow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from os import PathLike
from typing import BinaryIO, Protocol

from aiokafka import AIOKafkaProducer

from streams.simulator.messages import OutboundMessage

NEWLINE = b"\n"
LINGER_MS = 20  # small batches: a simulator wants steady flow more than throughput
DELIVERY_CHUNK = 1000  # sends in flight before their acknowledgements are awaited
BURST_SECONDS = 0.1  # a rate-limited producer may send this many seconds' worth at once
MIN_PAUSE_SECONDS = 0.01  # pause at least this long when throttled, so sends come in batches
DEFAULT_BOOTSTRAP_SERVERS = "localhost:9092"


class Producer(Protocol):
    """The part of `AIOKafkaProducer` the simulator uses; tests can fake it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def flush(self) -> None: ...

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Awaitable[object]: ...


ProducerFactory = Callable[[], Producer]


def write_jsonl(
    messages: Iterable[OutboundMessage], destination: str | PathLike[str] | BinaryIO
) -> int:
    """Write each message's value as one line; the number of lines written.

    Keys and headers are not kept: the file is for replaying values through the
    ingest path, and each value carries its deal id.
    """
    if isinstance(destination, str | PathLike):
        with open(destination, "wb") as stream:
            return _write_lines(messages, stream)
    return _write_lines(messages, destination)


def _write_lines(messages: Iterable[OutboundMessage], stream: BinaryIO) -> int:
    written = 0
    for message in messages:
        if NEWLINE in message.value:
            raise ValueError(
                f"message value {written} contains a newline; JSON Lines cannot hold it"
            )
        stream.write(message.value + NEWLINE)
        written += 1
    return written


def kafka_producer_factory(
    bootstrap_servers: str = DEFAULT_BOOTSTRAP_SERVERS,
    client_options: Mapping[str, object] | None = None,
) -> ProducerFactory:
    """A factory of `AIOKafkaProducer`s; `client_options` (SASL, TLS...) win over defaults."""
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap_servers,
        "linger_ms": LINGER_MS,
        "compression_type": None,
        **(client_options or {}),
    }

    def create() -> Producer:
        producer: Producer = AIOKafkaProducer(**options)
        return producer

    return create


async def produce(
    messages: Iterable[OutboundMessage],
    topic: str,
    *,
    bootstrap_servers: str = DEFAULT_BOOTSTRAP_SERVERS,
    client_options: Mapping[str, object] | None = None,
    producer_factory: ProducerFactory | None = None,
    rate: float | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> int:
    """Produce every message to `topic`; the number the broker acknowledged.

    `rate` caps messages per second (None: as fast as the broker takes them).
    `on_sent` is called with the count acknowledged since its previous call.
    `producer_factory` replaces the aiokafka producer built from
    `bootstrap_servers` and `client_options`.
    """
    if rate is not None and not rate > 0:
        raise ValueError(f"rate must be positive messages per second, got {rate}")
    factory = producer_factory or kafka_producer_factory(bootstrap_servers, client_options)
    producer = factory()
    await producer.start()
    try:
        sent = await _send_all(producer, messages, topic, rate, on_sent)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def _send_all(
    producer: Producer,
    messages: Iterable[OutboundMessage],
    topic: str,
    rate: float | None,
    on_sent: Callable[[int], None] | None,
) -> int:
    bucket = None if rate is None else _TokenBucket(rate)
    in_flight: list[Awaitable[object]] = []
    sent = 0
    for message in messages:
        if bucket is not None and not bucket.try_take():
            # Throttled: settle what is in flight, then wait for tokens.
            sent += await _settle(in_flight, on_sent)
            await bucket.refill()
            while not bucket.try_take():  # the event loop may wake a clock tick early
                await bucket.refill()
        in_flight.append(
            await producer.send(
                topic, value=message.value, key=message.key, headers=list(message.headers)
            )
        )
        if len(in_flight) >= DELIVERY_CHUNK:
            sent += await _settle(in_flight, on_sent)
    return sent + await _settle(in_flight, on_sent)


async def _settle(in_flight: list[Awaitable[object]], on_sent: Callable[[int], None] | None) -> int:
    """Await every delivery in flight (raising the first failure); how many there were."""
    if not in_flight:
        return 0
    await asyncio.gather(*in_flight)
    settled = len(in_flight)
    in_flight.clear()
    if on_sent is not None:
        on_sent(settled)
    return settled


class _TokenBucket:
    """Paces sends to `rate` per second on the loop clock, allowing short bursts."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate * BURST_SECONDS)
        self._tokens = self._capacity
        self._loop = asyncio.get_running_loop()
        self._updated_at = self._loop.time()

    def try_take(self) -> bool:
        self._top_up()
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    async def refill(self) -> None:
        """Sleep until at least one token is there, and a pause's worth if the rate is high."""
        self._top_up()
        wanted = min(self._capacity, max(1.0, self._rate * MIN_PAUSE_SECONDS))
        if self._tokens < wanted:
            await asyncio.sleep((wanted - self._tokens) / self._rate)
        self._top_up()

    def _top_up(self) -> None:
        now = self._loop.time()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated_at) * self._rate)
        self._updated_at = now
