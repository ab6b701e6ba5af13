"""A CloudEvents producer and reader made of the official SDK and each broker's own client.

`CLIENT` runs inside a generated worker's venv (which has the SDK and the broker's client):
- `send CASES_JSON`: for each case, the SDK makes the message of the broker's binding
  (`mode` binary or structured; `amqp` for RabbitMQ's AMQP-binding prefixes), a `variant`
  edits what the SDK made into another spec-valid (or invalid) form, and the broker's own client
  publishes it to QUEUE_NAME;
- `read`: reads the first message of QUEUE_NAME (what the worker's `publish` command sent)
  with the broker's client and parses it with the SDK's `from_*` function of that binding,
  printing its content type and the event as one JSON object.

NATS, SQS and Redis Streams use the HTTP binding's mapping (`ce-` headers, `content-type`), as the
worker documents; for NATS binary mode `datacontenttype` travels as `ce-datacontenttype`, the
NATS binding's spelling.
"""

from __future__ import annotations

CLIENT = r'''
import asyncio, base64, json, os, sys

from cloudevents.core.bindings import amqp, http, kafka, rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

BROKER = sys.argv[1]
URL = os.environ["BROKER_URL"]
QUEUE = os.environ["QUEUE_NAME"]
FORMAT = JSONFormat()
DATA = {"order_id": "o-1", "customer_email": "customer@example.com", "total_cents": 4200}
STRUCTURED = "application/cloudevents+json"


def sdk_event(case):
    attributes = {"id": case["id"], "source": case["source"], "type": "order.created"}
    attributes["datacontenttype"] = case.get("datacontenttype", "application/json")
    data = DATA
    if case.get("variant") == "data_base64":  # bytes data: the SDK writes data_base64
        data = json.dumps(DATA).encode()
    return CloudEvent(attributes, data)


def edit_envelope(body, variant):
    envelope = json.loads(body)
    if variant == "no-time":
        envelope.pop("time")
    elif variant == "missing-id":
        envelope.pop("id")
    elif variant == "specversion-0.3":
        envelope["specversion"] = "0.3"
    if variant == "data_base64":
        assert "data_base64" in envelope and "data" not in envelope, envelope
    return json.dumps(envelope).encode()


def edit_headers(headers, variant, prefix):
    headers = dict(headers)
    if variant == "no-time":
        headers.pop(prefix + "time")
    elif variant == "missing-id":
        headers.pop(prefix + "id")
    elif variant == "specversion-0.3":
        old = headers[prefix + "specversion"]
        headers[prefix + "specversion"] = "0.3" if isinstance(old, str) else b"0.3"
    return headers


def message(case):
    """(headers, content type or None, body) of the broker's binding for `case`."""
    event, mode, variant = sdk_event(case), case["mode"], case.get("variant")
    if mode == "structured":
        body = edit_envelope(FORMAT.write(event), variant)
        if BROKER == "rabbitmq":
            return {}, STRUCTURED, body
        return {"content-type": STRUCTURED}, None, body
    if BROKER == "kafka":
        made = kafka.to_binary(event, FORMAT)
        return edit_headers(made.headers, variant, "ce_"), None, made.value
    if BROKER == "rabbitmq" and mode == "amqp":
        made = amqp.to_binary(event, FORMAT)
        headers = edit_headers(made.application_properties, variant, "cloudEvents_")
        return headers, made.properties.get("content-type"), made.application_data
    if BROKER == "rabbitmq":
        made = rabbitmq.to_binary(event, FORMAT)
        return edit_headers(made.headers, variant, "ce-"), made.content_type, made.body
    made = http.to_binary(event, FORMAT)
    headers = edit_headers(made.headers, variant, "ce-")
    if BROKER == "nats":
        headers["ce-datacontenttype"] = headers.pop("content-type")
    return headers, None, made.body


async def send(cases):
    messages = [message(case) for case in cases]
    if BROKER == "rabbitmq":
        import aio_pika
        connection = await aio_pika.connect(URL)
        async with connection:
            channel = await connection.channel()
            for headers, content_type, body in messages:
                await channel.default_exchange.publish(
                    aio_pika.Message(body, headers=headers, content_type=content_type),
                    routing_key=QUEUE,
                )
    elif BROKER == "kafka":
        from aiokafka import AIOKafkaProducer
        producer = AIOKafkaProducer(bootstrap_servers=URL.split("://", 1)[1])
        await producer.start()
        try:
            for headers, _, body in messages:
                encoded = [(k, v if isinstance(v, bytes) else v.encode())
                           for k, v in headers.items()]
                await producer.send_and_wait(QUEUE, body, headers=encoded)
        finally:
            await producer.stop()
    elif BROKER == "nats":
        import nats
        client = await nats.connect(URL)
        try:
            js = client.jetstream()
            for headers, _, body in messages:
                await js.publish(QUEUE, body, headers=headers)
        finally:
            await client.close()
    elif BROKER == "sqs":
        from aiobotocore.session import get_session
        async with get_session().create_client("sqs", endpoint_url=URL) as sqs:
            queue_url = (await sqs.get_queue_url(QueueName=QUEUE))["QueueUrl"]
            for headers, _, body in messages:
                attributes = {
                    k: {"DataType": "String", "StringValue": v} for k, v in headers.items()
                }
                await sqs.send_message(
                    QueueUrl=queue_url, MessageBody=body.decode(), MessageAttributes=attributes
                )
    elif BROKER == "redis":
        import redis.asyncio as redis
        client = redis.Redis.from_url(URL)
        try:
            for headers, _, body in messages:
                await client.xadd(QUEUE, {**headers, "body": body})
        finally:
            await client.aclose()


async def read():
    """(content type, SDK event) of the first message of QUEUE."""
    if BROKER == "rabbitmq":
        import aio_pika
        connection = await aio_pika.connect(URL)
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(QUEUE, ensure=False)
            got = await queue.get(timeout=10)
            headers = {
                k: v.decode() if isinstance(v, bytes) else str(v) for k, v in got.headers.items()
            }
            made = rabbitmq.RabbitMQMessage(headers, got.content_type, got.body)
            return got.content_type, rabbitmq.from_rabbitmq(made, FORMAT)
    if BROKER == "kafka":
        from aiokafka import AIOKafkaConsumer, TopicPartition
        servers = URL.split("://", 1)[1]
        consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(QUEUE, p) for p in consumer.partitions_for_topic(QUEUE)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=1)
                for records in batches.values():
                    record = records[0]
                    made = kafka.KafkaMessage(dict(record.headers), record.key, record.value)
                    content_type = dict(record.headers)["content-type"].decode()
                    return content_type, kafka.from_kafka(made, FORMAT)
        finally:
            await consumer.stop()
    if BROKER == "nats":
        import nats, re
        client = await nats.connect(URL)
        try:
            got = await client.jetstream().get_msg(re.sub(r"[^A-Za-z0-9_-]", "_", QUEUE), 1)
            headers = got.headers or {}
            made = http.HTTPMessage(headers, got.data)
            return headers.get("Content-Type"), http.from_http(made, FORMAT)
        finally:
            await client.close()
    if BROKER == "sqs":
        from aiobotocore.session import get_session
        async with get_session().create_client("sqs", endpoint_url=URL) as sqs:
            queue_url = (await sqs.get_queue_url(QueueName=QUEUE))["QueueUrl"]
            got = (await sqs.receive_message(
                QueueUrl=queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=5
            ))["Messages"][0]
            headers = {k: v["StringValue"] for k, v in got["MessageAttributes"].items()}
            made = http.HTTPMessage(headers, got["Body"].encode())
            return headers.get("content-type"), http.from_http(made, FORMAT)
    if BROKER == "redis":
        import redis.asyncio as redis
        client = redis.Redis.from_url(URL)
        try:
            _, fields = (await client.xrange(QUEUE, count=1))[0]
            headers = json.loads(fields[b"headers"])
            made = http.HTTPMessage(headers, fields[b"body"])
            return headers.get("content-type"), http.from_http(made, FORMAT)
        finally:
            await client.aclose()


if sys.argv[2] == "send":
    asyncio.run(send(json.loads(sys.argv[3])))
else:
    content_type, event = asyncio.run(read())
    print(json.dumps({
        "content_type": content_type,
        "id": event.get_id(),
        "source": event.get_source(),
        "type": event.get_type(),
        "data": event.get_data(),
    }))
'''
