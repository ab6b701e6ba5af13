"""What the broker-independent core needs from a broker: the whole contract of a broker module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from cloudevents.core.base import BaseCloudEvent, EventFactory


class Delivery(Protocol):
    """One received message, not yet settled."""

    @property
    def body(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def cloudevent(self, factory: EventFactory) -> BaseCloudEvent:
        """The message as a CloudEvent, read by the SDK per this broker's protocol binding.

        Binary or structured content mode, told apart by `content_mode.is_structured`; raises
        whatever the SDK raises for a message that is not a CloudEvent.
        """

    async def ack(self) -> None:
        """Settle the message: the broker will not deliver it again."""

    async def dead_letter(self, reason: str) -> None:
        """Move the message, with `reason`, to the dead-letter destination, then settle it."""


class Broker(Protocol):
    """A connection to one broker, consuming QUEUE_NAME and publishing to it."""

    async def connect(self) -> None:
        """Connect and declare what the worker needs (queue, DLQ, group, ...), idempotently."""

    async def fetch(self, max_messages: int, wait: float) -> Sequence[Delivery]:
        """Up to `max_messages` deliveries, waiting at most about `wait` seconds for one."""

    async def stop_fetching(self) -> None:
        """No more deliveries after this; hand back anything received and not yet fetched."""

    async def publish(self, bodies: Sequence[bytes], headers: Mapping[str, str]) -> None:
        """Publish structured-mode CloudEvents (JSON event format bodies) to QUEUE_NAME.

        Each message carries the binding's structured-mode content type,
        `application/cloudevents+json`, where the binding puts it, plus `headers`.
        """

    async def dead_letters(self, limit: int) -> list[tuple[bytes, str]]:
        """Look at (body, reason) of up to `limit` dead-lettered messages without removing them."""

    async def check(self) -> None:
        """Return when the broker answers the worker; raise, saying why, when it does not.

        Readiness runs this on every `/readyz` request, within READINESS_TIMEOUT. It must be cheap
        for the broker: one round trip on a connection the worker already holds, never a new
        connection per call, and never the client's belief alone (a reconnecting client can
        still look connected).
        """

    async def close(self) -> None:
        """Close the connection; anything unsettled is redelivered by the broker later."""
