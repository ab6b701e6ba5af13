"""The effect of one event, exactly once: inbox row + notification row in ONE transaction.

An event is identified by its `source` + `id` (CloudEvents' uniqueness rule): the inbox key.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
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
        event_source=event.source,
        event_id=event.id,
        order_id=order.order_id,
        recipient=order.recipient,
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
        .values(source=event.source, event_id=event.id)
        .on_conflict_do_nothing(index_elements=[inbox.c.source, inbox.c.event_id])
        .returning(inbox.c.event_id)
    )
    notification = compose(event)
    async with engine.begin() as connection:
        if (await connection.execute(claim)).first() is None:
            return False
        await connection.execute(
            insert(notifications).values(
                event_source=notification.event_source,
                event_id=notification.event_id,
                order_id=notification.order_id,
                recipient=notification.recipient,
                message=notification.message,
            )
        )
        await notifier.send(notification)
    return True


# The whole batch in ONE statement, so one round trip however many events: the inbox claim (a
# data-modifying CTE) and the notifications of the ids it claimed. The rows travel as arrays, so
# the statement has one shape for every batch size and the driver prepares it once. An event
# (source, id) already in the inbox is not returned by the CTE, so it gets no notification.
CLAIM_AND_RECORD = """
    WITH claimed AS (
        INSERT INTO inbox (source, event_id)
        SELECT * FROM unnest($1::varchar[], $2::varchar[])
        ON CONFLICT (source, event_id) DO NOTHING
        RETURNING source, event_id
    )
    INSERT INTO notifications (event_source, event_id, order_id, recipient, message)
    SELECT n.source, n.event_id, n.order_id, n.recipient, n.message
    FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::text[])
        AS n (source, event_id, order_id, recipient, message)
    JOIN claimed USING (source, event_id)
    RETURNING event_source, event_id
"""


async def handle_batch(
    engine: AsyncEngine, events: Sequence[OrderCreatedEvent]
) -> set[tuple[str, str]]:
    """Record every event of `events` not handled before, all in ONE transaction; the new keys.

    The same guarantee as `handle` for each event (its inbox row and its notification commit
    together, or neither does), for the price of one commit instead of one per event: commits
    wait for the disk, so they bound the throughput. A (source, id) repeated in `events` counts
    once; the same id from two sources is two events.

    This is the hot path, so it talks to asyncpg directly on a connection of the engine's pool:
    SQLAlchemy's execution layer costs more CPU per batch than the statement itself.
    """
    first_of_each: dict[tuple[str, str], OrderCreatedEvent] = {}
    for event in events:
        first_of_each.setdefault(event.key, event)
    # In key order: two batches sharing events then lock their inbox rows in the same order.
    composed = [compose(first_of_each[key]) for key in sorted(first_of_each)]
    async with engine.connect() as connection:
        driver: asyncpg.Connection = (await connection.get_raw_connection()).driver_connection
        async with driver.transaction():
            rows = await driver.fetch(
                CLAIM_AND_RECORD,
                [n.event_source for n in composed],
                [n.event_id for n in composed],
                [n.order_id for n in composed],
                [n.recipient for n in composed],
                [n.message for n in composed],
            )
            new_keys = {(row[0], row[1]) for row in rows}
            for notification in composed:
                if (notification.event_source, notification.event_id) in new_keys:
                    await notifier.send(notification)
    return new_keys
