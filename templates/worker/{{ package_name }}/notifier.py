"""Sending a notification: the one function a team replaces with its e-mail or SMS client."""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    event_source: str
    event_id: str
    order_id: str
    recipient: str
    message: str


async def send(notification: Notification) -> None:
    """Deliver `notification`. Raise to have the message retried (and dead-lettered at the end).

    It runs inside the database transaction that records the event, before the commit: if the
    commit fails, the message is retried and this runs again, so a real sender should pass
    `notification.event_source` + `notification.event_id` (the event's identity) as its
    idempotency key where the provider supports one.
    """
    # DEBUG: one line per event would cost a quarter of a busy worker's CPU; processing logs
    # one INFO line per committed batch with its event ids instead.
    logger.debug(
        "notification sent",
        extra={
            "event_source": notification.event_source,
            "event_id": notification.event_id,
            "order_id": notification.order_id,
            "recipient": notification.recipient,
        },
    )
