"""The events this worker consumes: CloudEvents 1.0 `order.created`, in either content mode.

Reading the wire format is the official CloudEvents SDK's job (`cloudevents.core`): each broker
module hands its message to the SDK's protocol binding (see `brokers/`), binary or structured
mode, and this module checks what the SDK made of it. The SDK is written for producers too: its
`CloudEvent` fills in a missing `id`, `specversion` or `time`. A consumer must not invent an id,
so `strict_event` (the factory every binding is given) refuses an event whose wire form lacks a
REQUIRED attribute before the SDK sees it; `time` stays OPTIONAL, as the spec says.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cloudevents.core.base import BaseCloudEvent, EventFactory
from cloudevents.core.exceptions import CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, Field, ValidationError, model_validator

EVENT_TYPE = "order.created"
EVENT_SOURCE = "/orders"
REQUIRED = ("specversion", "id", "source", "type")
# The inbox columns: longer values could not be recorded, so they are refused as malformed.
MAX_ID, MAX_SOURCE = 200, 1000
# application/json, text/json, application/<anything>+json, with any parameters (charset=...).
JSON_MEDIA_TYPE = re.compile(r"^\s*(application|text)/([\w.+-]+\+)?json\s*(;.*)?$", re.IGNORECASE)
FORMAT = JSONFormat()


class MalformedEvent(ValueError):
    """The message is not an `order.created` CloudEvent; retrying cannot help."""


class OrderCreated(BaseModel):
    """The `data` of an `order.created` event."""

    order_id: str = Field(min_length=1, max_length=100)
    # Whom to notify: the e-mail address when the producer knows it, else the customer's id
    # (what a generated orders API sends; a team's notifier looks the address up by it).
    customer_email: str | None = Field(default=None, min_length=3, max_length=320)
    customer_id: str | None = Field(default=None, min_length=1, max_length=64)
    total_cents: int = Field(ge=0)

    @model_validator(mode="after")
    def _someone_to_notify(self) -> OrderCreated:
        if self.customer_email is None and self.customer_id is None:
            raise ValueError("customer_email or customer_id is required")
        return self

    @property
    def recipient(self) -> str:
        """The e-mail address, or the customer's id when the event has no address."""
        return self.customer_email or f"customer:{self.customer_id}"


@dataclass(frozen=True)
class OrderCreatedEvent:
    """An `order.created` CloudEvent; `source` + `id` identify it (the inbox key)."""

    id: str
    source: str
    data: OrderCreated
    # As sent; for an event sent without `time` (it is OPTIONAL), when the SDK read it.
    time: datetime | None = None
    type: str = EVENT_TYPE

    @property
    def key(self) -> tuple[str, str]:
        """What makes an event unique, per the CloudEvents spec: (source, id)."""
        return (self.source, self.id)


class Message(Protocol):
    """What parsing needs of a delivery (`brokers.base.Delivery` has it)."""

    def cloudevent(self, factory: EventFactory) -> BaseCloudEvent: ...


def strict_event(attributes: dict[str, Any], data: Any) -> BaseCloudEvent:
    """The SDK's CloudEvent 1.0, refusing a wire form that lacks a REQUIRED attribute."""
    missing = [name for name in REQUIRED if name not in attributes]
    if missing:
        raise MalformedEvent(f"missing required attribute {', '.join(missing)}")
    return CloudEvent(attributes, data)


def parse_event(delivery: Message) -> OrderCreatedEvent:
    """Read `delivery` through its broker's binding; MalformedEvent with a one-line reason."""
    try:
        event = delivery.cloudevent(strict_event)
    except MalformedEvent:
        raise
    except CloudEventValidationError as exc:
        reasons = "; ".join(f"{name}: {errors[0]}" for name, errors in exc.errors.items())
        raise MalformedEvent(reasons) from None
    except Exception as exc:  # the SDK raises what json, base64 or dateutil raise: all malformed
        raise MalformedEvent(f"not a CloudEvent: {type(exc).__name__}: {exc}") from None
    return order_created(event)


def order_created(event: BaseCloudEvent) -> OrderCreatedEvent:
    """The `order.created` event that `event` is, or MalformedEvent saying why not."""
    if event.get_type() != EVENT_TYPE:
        raise MalformedEvent(f"type: expected {EVENT_TYPE!r}, got {event.get_type()!r}")
    event_id, source = event.get_id(), event.get_source()
    if len(event_id) > MAX_ID or len(source) > MAX_SOURCE:
        raise MalformedEvent(f"id or source too long (at most {MAX_ID} / {MAX_SOURCE})")
    content_type = event.get_datacontenttype() or "application/json"
    if not JSON_MEDIA_TYPE.match(content_type):
        raise MalformedEvent(f"datacontenttype: expected JSON, got {content_type!r}")
    data = event.get_data()
    try:
        if isinstance(data, bytes | str):  # data_base64, or JSON the SDK left as text
            order = OrderCreated.model_validate_json(data)
        else:
            order = OrderCreated.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MalformedEvent(f"data{'.' + where if where else ''}: {first['msg']}") from None
    return OrderCreatedEvent(id=event_id, source=source, data=order, time=event.get_time())


def example_event(event_id: str | None = None, source: str = EVENT_SOURCE) -> BaseCloudEvent:
    """An example `order.created` event (the `publish` command sends these)."""
    order = OrderCreated(
        order_id=str(uuid.uuid4()), customer_email="customer@example.com", total_cents=4200
    )
    attributes = {
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": EVENT_TYPE,
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes, order.model_dump())


def structured(event: BaseCloudEvent) -> bytes:
    """`event` in the JSON event format: the body of a structured-mode message."""
    return FORMAT.write(event)
