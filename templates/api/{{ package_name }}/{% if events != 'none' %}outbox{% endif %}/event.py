"""The `order.created` event: a CloudEvent 1.0 in the JSON event format (structured mode).

This is exactly what the generated notifications worker consumes (its `events.py`): type
`order.created`, `id` unique per event (the outbox row's id, so a republished event keeps it
and the consumer's inbox, keyed on (source, id), absorbs the duplicate), `source` naming this
service's orders, `data` with `order_id`, `customer_id` and `total_cents`. The W3C trace
context of the request that made the order travels in the headers (`traceparent`), so the
consumer's span joins the request's trace.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from opentelemetry import propagate

from .. import SERVICE_NAME
from ..models import Order
from .base import OutboxMessage

EVENT_TYPE = "order.created"
EVENT_SOURCE = f"/{SERVICE_NAME}/orders"
FORMAT = JSONFormat()


def order_created(order: Order) -> OutboxMessage:
    """The `order.created` event of `order`, with the current trace context in its headers."""
    event_id = str(uuid.uuid4())
    data = {
        "order_id": str(order.id),
        "customer_id": order.customer_id,
        "total_cents": int(order.total * Decimal(100)),
        "status": order.status,
    }
    attributes = {
        "id": event_id,
        "source": EVENT_SOURCE,
        "type": EVENT_TYPE,
        "subject": str(order.id),
        "time": order.created_at,
        "datacontenttype": "application/json",
    }
    headers: dict[str, str] = {}
    propagate.inject(headers)  # traceparent (and tracestate) of the current span, if any
    return OutboxMessage(event_id, FORMAT.write(CloudEvent(attributes, data)), headers)
