"""What happens to delivered messages: parse, handle, then ack or dead-letter.

Broker-independent: every broker module hands over `Delivery` objects and this decides. A fetched
batch is first handled in one transaction (one commit for all, see `Store.handle_batch`); if that
fails, each event is handled on its own with retries, so one poison event cannot hold back the
others and ends alone in the dead-letter destination.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from .brokers.base import Delivery
from .events import MalformedEvent, OrderCreatedEvent, parse_event
from .metrics import DEAD_LETTERED, DUPLICATES, FAILED, HANDLING_SECONDS, IN_FLIGHT, PROCESSED
from .observability.logs import request_id_var
from .retry import retrying
from .settings import Settings
from .stores import Store

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Parsed = tuple[Delivery, OrderCreatedEvent]


class Processor:
    """Handles deliveries; ack only after the commit, so a crash means redelivery, not loss."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store

    async def process_batch(self, deliveries: Sequence[Delivery]) -> None:
        started = time.perf_counter()
        IN_FLIGHT.inc(len(deliveries))
        # Each publisher's trace context travels in its message's headers (W3C traceparent).
        # The span of a batch links to all of them; a batch of one continues its trace.
        contexts = [propagate.extract(dict(delivery.headers)) for delivery in deliveries]
        remote = [trace.get_current_span(context).get_span_context() for context in contexts]
        links = [Link(span_context) for span_context in remote if span_context.is_valid]
        parent = contexts[0] if len(contexts) == 1 else None
        span_name = f"{self._settings.QUEUE_NAME} process"
        try:
            with tracer.start_as_current_span(
                span_name, context=parent, kind=SpanKind.CONSUMER, links=links
            ):
                parsed = await self._parse_all(deliveries)
                if parsed:
                    await self._handle_batch(parsed)
        finally:
            IN_FLIGHT.dec(len(deliveries))
            elapsed = time.perf_counter() - started
            for _ in deliveries:
                HANDLING_SECONDS.observe(elapsed)

    async def _parse_all(self, deliveries: Sequence[Delivery]) -> list[Parsed]:
        """The deliveries that are events; malformed ones go straight to the dead letters.

        A plain loop, not a task per message: parsing is CPU work, and scheduling a task costs
        more than the parse (a task each made processing ~40% more CPU per event).
        """
        parsed: list[Parsed] = []
        malformed: list[tuple[Delivery, MalformedEvent]] = []
        for delivery in deliveries:
            try:
                parsed.append((delivery, parse_event(delivery)))
            except MalformedEvent as exc:
                malformed.append((delivery, exc))
        if malformed:
            await asyncio.gather(
                *(self._dead_letter(d, "malformed", f"malformed: {e}") for d, e in malformed)
            )
        return parsed

    async def _handle_batch(self, parsed: list[Parsed]) -> None:
        if len(parsed) > 1:
            try:
                new_keys = await self._store.handle_batch([event for _, event in parsed])
            except Exception as exc:
                logger.warning(
                    "batch failed; handling its events one by one", extra={"error": repr(exc)}
                )
            else:
                await self._ack([delivery for delivery, _ in parsed])
                counted: set[tuple[str, str]] = set()
                for _, event in parsed:
                    if event.key in new_keys and event.key not in counted:
                        counted.add(event.key)
                    else:
                        logger.info(
                            "duplicate event acked without effect",
                            extra={"event_source": event.source, "event_id": event.id},
                        )
                PROCESSED.inc(len(counted))
                DUPLICATES.inc(len(parsed) - len(counted))
                if counted:
                    ids = sorted(event_id for _, event_id in counted)
                    logger.info("events handled", extra={"event_ids": ids})
                return
        await asyncio.gather(*(self._handle_one(delivery, event) for delivery, event in parsed))

    async def _handle_one(self, delivery: Delivery, event: OrderCreatedEvent) -> None:
        # Every log line written while handling this event carries its id (as `request_id`).
        token = request_id_var.set(event.id)
        try:
            await self._handle_with_retries(delivery, event)
        finally:
            request_id_var.reset(token)

    async def _handle_with_retries(self, delivery: Delivery, event: OrderCreatedEvent) -> None:
        settings = self._settings
        policy = retrying(
            settings.MAX_ATTEMPTS, settings.RETRY_INITIAL_DELAY, settings.RETRY_MAX_DELAY
        )
        try:
            async for attempt in policy:
                with attempt:
                    first_time = await self._store.handle(event)
        except Exception as exc:
            FAILED.inc()
            trace.get_current_span().set_status(Status(StatusCode.ERROR, repr(exc)))
            reason = f"failed {settings.MAX_ATTEMPTS} attempts: {type(exc).__name__}: {exc}"
            await self._dead_letter(delivery, "failed", reason)
            return
        await self._ack([delivery])
        if first_time:
            PROCESSED.inc()
            logger.info("events handled", extra={"event_ids": [event.id]})
        else:
            DUPLICATES.inc()
            logger.info(
                "duplicate event acked without effect",
                extra={"event_source": event.source, "event_id": event.id},
            )

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        """Ack events whose effects are committed. An ack the broker does not take (it went away
        meanwhile) loses nothing, so it is a warning, not a failure: the broker delivers the
        event again (after REDELIVERY_TIMEOUT, or on the next connection) and the inbox absorbs
        it as a duplicate."""
        results = await asyncio.gather(*(d.ack() for d in deliveries), return_exceptions=True)
        lost = [result for result in results if isinstance(result, Exception)]
        if lost:
            logger.warning(
                "ack not taken by the broker; the events are committed, and their redelivery"
                " will be absorbed as duplicates",
                extra={"count": len(lost), "error": repr(lost[0])},
            )

    async def _dead_letter(self, delivery: Delivery, kind: str, reason: str) -> None:
        await delivery.dead_letter(reason)
        DEAD_LETTERED.labels(reason=kind).inc()
        logger.error("message dead-lettered", extra={"reason": reason})
