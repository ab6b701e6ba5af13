"""The effect of one event, exactly once: inbox row + notification row in ONE transaction."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from . import notifier
from .db import inbox, notifications
from .events import OrderCreatedEvent


def compose(event: OrderCreatedEvent) -> notifier.Notification:
    """The notification an `order.created` event gives."""
    order = event.data
    return notifier.Notification(
        event_id=event.id,
        order_id=order.order_id,
        recipient=order.customer_email,
        message=f"Thank you for your order {order.order_id} ({order.total_cents / 100:.2f}).",
    )


async def handle(engine: AsyncEngine, event: OrderCreatedEvent) -> bool:
    """Record `event` and its notification; False (and no change) when it was handled before.

    The inbox insert and the effect commit together, so a crash before the commit leaves
    nothing behind and the redelivered message is handled again; after the commit every
    redelivery finds the inbox row and changes nothing.
    """
    claim = (
        pg_insert(inbox)
        .values(event_id=event.id)
        .on_conflict_do_nothing(index_elements=[inbox.c.event_id])
        .returning(inbox.c.event_id)
    )
    notification = compose(event)
    async with engine.begin() as connection:
        if (await connection.execute(claim)).first() is None:
            return False
        await connection.execute(
            insert(notifications).values(
                event_id=notification.event_id,
                order_id=notification.order_id,
                recipient=notification.recipient,
                message=notification.message,
            )
        )
        await notifier.send(notification)
    return True
