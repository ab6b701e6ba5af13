"""The effect of one event, exactly once: inbox row + notification row in ONE transaction."""

from __future__ import annotations

from collections.abc import Sequence

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


async def handle_batch(engine: AsyncEngine, events: Sequence[OrderCreatedEvent]) -> set[str]:
    """Record every event of `events` not handled before, all in ONE transaction; the new ids.

    The same guarantee as `handle` for each event (its inbox row and its notification commit
    together, or neither does), for the price of one commit instead of one per event: commits
    wait for the disk, so they bound the throughput. An id repeated in `events` counts once.
    """
    unique_ids = list(dict.fromkeys(event.id for event in events))
    claim = (
        pg_insert(inbox)
        .values([{"event_id": event_id} for event_id in unique_ids])
        .on_conflict_do_nothing(index_elements=[inbox.c.event_id])
        .returning(inbox.c.event_id)
    )
    async with engine.begin() as connection:
        new_ids = set((await connection.execute(claim)).scalars())
        first_of_each = {event.id: event for event in reversed(events) if event.id in new_ids}
        composed = [compose(event) for event in first_of_each.values()]
        if composed:
            await connection.execute(
                insert(notifications),
                [
                    {
                        "event_id": n.event_id,
                        "order_id": n.order_id,
                        "recipient": n.recipient,
                        "message": n.message,
                    }
                    for n in composed
                ],
            )
        for notification in composed:
            await notifier.send(notification)
    return new_ids
