"""Publishing example events and reading dead letters, for local runs, tests and operators."""

from __future__ import annotations

import logging

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from .brokers import create_broker
from .events import example_event, structured
from .settings import Settings

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

BATCH = 500


async def publish_examples(settings: Settings, count: int, event_id: str | None) -> None:
    """Publish `count` order.created events (all with `event_id` when given), structured mode."""
    broker = create_broker(settings)
    await broker.connect()
    try:
        with tracer.start_as_current_span(f"{settings.QUEUE_NAME} publish", kind=SpanKind.PRODUCER):
            headers: dict[str, str] = {}
            propagate.inject(headers)  # the consumer's span joins this trace
            for start in range(0, count, BATCH):
                size = min(BATCH, count - start)
                bodies = [structured(example_event(event_id)) for _ in range(size)]
                await broker.publish(bodies, headers)
    finally:
        await broker.close()
    logger.info("published", extra={"count": count, "queue": settings.QUEUE_NAME})


async def read_dead_letters(settings: Settings, limit: int) -> list[tuple[bytes, str]]:
    broker = create_broker(settings)
    await broker.connect()
    try:
        return await broker.dead_letters(limit)
    finally:
        await broker.close()
