"""The events this worker consumes: CloudEvents 1.0 in structured JSON mode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

EVENT_TYPE = "order.created"
EVENT_SOURCE = "/orders"


class MalformedEvent(ValueError):
    """The message is not an `order.created` CloudEvent; retrying cannot help."""


class OrderCreated(BaseModel):
    """The `data` of an `order.created` event."""

    order_id: str = Field(min_length=1, max_length=100)
    customer_email: str = Field(min_length=3, max_length=320)
    total_cents: int = Field(ge=0)


class OrderCreatedEvent(BaseModel):
    """A CloudEvent whose `id` is unique per event: the inbox key."""

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1)
    type: Literal["order.created"] = "order.created"
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: OrderCreated


def parse_event(body: bytes) -> OrderCreatedEvent:
    """Parse a message body, raising MalformedEvent with a one-line reason when it is not valid."""
    try:
        return OrderCreatedEvent.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise MalformedEvent(f"{where}: {first['msg']}") from None


def example_event(event_id: str | None = None) -> OrderCreatedEvent:
    """An example `order.created` event (the `publish` command sends these)."""
    order_id = str(uuid.uuid4())
    return OrderCreatedEvent(
        id=event_id or str(uuid.uuid4()),
        source=EVENT_SOURCE,
        time=datetime.now(UTC),
        data=OrderCreated(
            order_id=order_id, customer_email="customer@example.com", total_cents=4200
        ),
    )
