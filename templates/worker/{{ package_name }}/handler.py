"""The effect of one event: the notification an `order.created` event gives.

Recording it exactly once is the store's job (`stores/`): the inbox record (keyed on the event's
`source` + `id`, CloudEvents' uniqueness rule) and the notification commit together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import notifier

if TYPE_CHECKING:  # the event SDK is not needed to migrate
    from .events import OrderCreatedEvent


def compose(event: OrderCreatedEvent) -> notifier.Notification:
    """The notification an `order.created` event gives."""
    order = event.data
    return notifier.Notification(
        event_source=event.source,
        event_id=event.id,
        order_id=order.order_id,
        recipient=order.recipient,
        message=f"Thank you for your order {order.order_id} ({order.total_cents / 100:.2f}).",
    )
