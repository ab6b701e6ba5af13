"""The brokers' raw publish rate with confirms, for benchmarks/bench_events.py.

Run with a generated API's venv and its code on PYTHONPATH (events=<broker>), with BROKER_URL,
EVENTS_QUEUE_NAME (and AWS_* for SQS) set as for its relay:

    python benchmarks/events_raw.py setup BROKER        # the consumer's queue or stream
    python benchmarks/events_raw.py raw BROKER N BATCH  # prints events/s

`raw` publishes N events in batches of BATCH through the broker's client library alone, the way
the relay's publisher does, and waits for every confirmation of a batch before the next: the
same structured-mode bodies and headers (built by the service's own `order_created`), the same
client options, no database. It is the ceiling the relay is measured against.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

CONTENT_TYPE = "application/cloudevents+json"
URL = os.environ.get("BROKER_URL", "")
QUEUE = os.environ.get("EVENTS_QUEUE_NAME", "")

Batch = Sequence[tuple[str, bytes, dict[str, str]]]  # (id, body, headers)


def events(count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """`count` order.created events exactly as the API writes them to its outbox."""
    from orders.models import Order, OrderItem
    from orders.outbox.event import order_created

    item = OrderItem(sku="S", quantity=1, unit_price=Decimal("1.00"))
    made = []
    for _ in range(count):
        order = Order(
            id=uuid4(),
            customer_id="b",
            items=[item],
            total=Decimal("1.00"),
            status="pending",
            created_at=datetime.now(UTC),
        )
        message = order_created(order)
        made.append((message.id, message.body, dict(message.headers)))
    return made


async def redis_raw(batches: list[Batch]) -> float:
    import redis.asyncio as redis

    # The relay's client options (outbox/publishers/redis.py): no timeout per reply.
    client = redis.Redis.from_url(URL, socket_timeout=None)
    # Each entry's fields built before the clock starts: only the client's and Redis's work is
    # timed (the relay encodes the headers field of an event without trace context once).
    entries = [
        [
            {"body": body, "headers": json.dumps({**headers, "content-type": CONTENT_TYPE})}
            for _, body, headers in batch
        ]
        for batch in batches
    ]
    start = time.perf_counter()
    for fields_of_batch in entries:
        async with client.pipeline(transaction=False) as pipe:
            for fields in fields_of_batch:
                pipe.xadd(QUEUE, fields)  # type: ignore[arg-type]
            replies = await pipe.execute()
        assert all(replies)
    elapsed = time.perf_counter() - start
    await client.aclose()
    return elapsed


async def rabbitmq_raw(batches: list[Batch]) -> float:
    import aio_pika

    connection = await aio_pika.connect(URL)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    exchange = channel.default_exchange
    start = time.perf_counter()
    for batch in batches:
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        body,
                        headers=dict(headers),
                        content_type=CONTENT_TYPE,
                        message_id=event_id,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=QUEUE,
                    mandatory=True,
                )
                for event_id, body, headers in batch
            )
        )
    elapsed = time.perf_counter() - start
    await connection.close()
    return elapsed


async def kafka_raw(batches: list[Batch]) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=URL.split("://", 1)[-1], acks="all")
    await producer.start()
    start = time.perf_counter()
    for batch in batches:
        sent = []
        for _, body, headers in batch:
            pairs = [("content-type", CONTENT_TYPE.encode())]
            pairs += [(key, value.encode()) for key, value in headers.items()]
            sent.append(await producer.send(QUEUE, body, headers=pairs))
        await asyncio.gather(*sent)
    elapsed = time.perf_counter() - start
    await producer.stop()
    return elapsed


async def nats_raw(batches: list[Batch]) -> float:
    import nats

    client = await nats.connect(URL)
    js = client.jetstream(timeout=5)
    start = time.perf_counter()
    for batch in batches:
        await asyncio.gather(
            *(
                js.publish(
                    QUEUE,
                    body,
                    headers={**headers, "Content-Type": CONTENT_TYPE, "Nats-Msg-Id": event_id},
                )
                for event_id, body, headers in batch
            )
        )
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed


def sqs_client():  # type: ignore[no-untyped-def]
    from aiobotocore.session import get_session

    return get_session().create_client("sqs", endpoint_url=URL)


def attributes(headers: dict[str, str]) -> dict[str, dict[str, str]]:
    every = {**headers, "content-type": CONTENT_TYPE}
    return {key: {"DataType": "String", "StringValue": value} for key, value in every.items()}


async def sqs_raw(batches: list[Batch]) -> float:
    async with sqs_client() as client:
        queue_url = (await client.get_queue_url(QueueName=QUEUE))["QueueUrl"]
        start = time.perf_counter()
        for batch in batches:
            tens = [batch[i : i + 10] for i in range(0, len(batch), 10)]
            responses = await asyncio.gather(
                *(
                    client.send_message_batch(
                        QueueUrl=queue_url,
                        Entries=[
                            {
                                "Id": str(i),
                                "MessageBody": body.decode(),
                                "MessageAttributes": attributes(headers),
                            }
                            for i, (_, body, headers) in enumerate(ten)
                        ],
                    )
                    for ten in tens
                )
            )
            assert not any(response.get("Failed") for response in responses)
        return time.perf_counter() - start


RAW: dict[str, Callable[[list[Batch]], Awaitable[float]]] = {
    "redis": redis_raw,
    "rabbitmq": rabbitmq_raw,
    "kafka": kafka_raw,
    "nats": nats_raw,
    "sqs": sqs_raw,
}


def jetstream_name() -> str:
    """The JetStream stream of QUEUE (its subject): stream names allow no dots."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in QUEUE)


async def setup(broker: str) -> None:
    """What the consuming worker would have made before the relay's first publish."""
    if broker == "rabbitmq":
        import aio_pika

        connection = await aio_pika.connect(URL)
        channel = await connection.channel()
        await channel.declare_queue(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        await connection.close()
    elif broker == "nats":
        import nats
        from nats.js.api import StreamConfig

        client = await nats.connect(URL)
        await client.jetstream().add_stream(StreamConfig(name=jetstream_name(), subjects=[QUEUE]))
        await client.close()
    elif broker == "sqs":
        async with sqs_client() as client:
            await client.create_queue(QueueName=QUEUE)
    # redis (XADD makes the stream) and kafka (the relay makes the topic): nothing to do.


async def teardown(broker: str) -> None:
    """Remove the queue (stream) a round published to, from the brokers that outlive the run
    (Kafka and SQS are started for it): 20,000 events a round otherwise pile up on the
    machine's servers."""
    if broker == "redis":
        import redis.asyncio as redis

        client = redis.Redis.from_url(URL)
        await client.delete(QUEUE)
        await client.aclose()
    elif broker == "rabbitmq":
        import aio_pika

        connection = await aio_pika.connect(URL)
        channel = await connection.channel()
        await channel.queue_delete(QUEUE)
        await connection.close()
    elif broker == "nats":
        import nats

        client = await nats.connect(URL)
        await client.jetstream().delete_stream(jetstream_name())
        await client.close()


def setup_command(python: str, broker: str, command: str = "setup") -> list[str]:
    """The command that runs `setup` (or `teardown`) for `broker` with the API venv's `python`."""
    return [python, str(Path(__file__).resolve()), command, broker]


def raw_command(python: str, broker: str, count: int, size: int) -> list[str]:
    """The command that prints the raw events/s of `broker` (`count` events, batches of `size`)."""
    return [python, str(Path(__file__).resolve()), "raw", broker, str(count), str(size)]


def main() -> None:
    command, broker = sys.argv[1], sys.argv[2]
    if command in ("setup", "teardown"):
        asyncio.run(setup(broker) if command == "setup" else teardown(broker))
        return
    count, size = int(sys.argv[3]), int(sys.argv[4])
    made = events(count)
    batches: list[Batch] = [made[i : i + size] for i in range(0, count, size)]
    elapsed = asyncio.run(RAW[broker](batches))
    print(count / elapsed)


if __name__ == "__main__":
    main()
