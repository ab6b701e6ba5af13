"""What happens to one delivered message: parse, handle with retries, then ack or dead-letter.

Broker-independent: every broker module hands over `Delivery` objects and this decides.
"""

from __future__ import annotations

import logging
import time

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy.ext.asyncio import AsyncEngine

from .brokers.base import Delivery
from .events import MalformedEvent, OrderCreatedEvent, parse_event
from .handler import handle
from .metrics import DEAD_LETTERED, DUPLICATES, FAILED, HANDLING_SECONDS, IN_FLIGHT, PROCESSED
from .observability.logs import request_id_var
from .retry import retrying
from .settings import Settings

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class Processor:
    """Handles deliveries; ack only after the commit, so a crash means redelivery, not loss."""

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self._settings = settings
        self._engine = engine

    async def process(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        IN_FLIGHT.inc()
        # The publisher's trace context travels in the message headers (W3C traceparent).
        parent = propagate.extract(dict(delivery.headers))
        span_name = f"{self._settings.QUEUE_NAME} process"
        try:
            with tracer.start_as_current_span(span_name, context=parent, kind=SpanKind.CONSUMER):
                await self._process(delivery)
        finally:
            IN_FLIGHT.dec()
            HANDLING_SECONDS.observe(time.perf_counter() - started)

    async def _process(self, delivery: Delivery) -> None:
        try:
            event = parse_event(delivery.body)
        except MalformedEvent as exc:
            await self._dead_letter(delivery, "malformed", f"malformed: {exc}")
            return
        # Every log line written while handling this event carries its id (as `request_id`).
        token = request_id_var.set(event.id)
        try:
            trace.get_current_span().set_attribute("messaging.message.id", event.id)
            await self._handle(delivery, event)
        finally:
            request_id_var.reset(token)

    async def _handle(self, delivery: Delivery, event: OrderCreatedEvent) -> None:
        settings = self._settings
        policy = retrying(
            settings.MAX_ATTEMPTS, settings.RETRY_INITIAL_DELAY, settings.RETRY_MAX_DELAY
        )
        try:
            async for attempt in policy:
                with attempt:
                    first_time = await handle(self._engine, event)
        except Exception as exc:
            FAILED.inc()
            trace.get_current_span().set_status(Status(StatusCode.ERROR, repr(exc)))
            reason = f"failed {settings.MAX_ATTEMPTS} attempts: {type(exc).__name__}: {exc}"
            await self._dead_letter(delivery, "failed", reason)
            return
        await delivery.ack()
        if first_time:
            PROCESSED.inc()
            logger.debug("event handled", extra={"event_id": event.id})
        else:
            DUPLICATES.inc()
            logger.info("duplicate event acked without effect", extra={"event_id": event.id})

    async def _dead_letter(self, delivery: Delivery, kind: str, reason: str) -> None:
        await delivery.dead_letter(reason)
        DEAD_LETTERED.labels(reason=kind).inc()
        logger.error("message dead-lettered", extra={"reason": reason})
