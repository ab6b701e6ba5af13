"""What the worker needs of its database: record an event's effect exactly once.

One module of this package per database implements `Store`; `stores/__init__.py` picks the one
this repo was generated with. Each keeps the inbox (one record per event ever handled, keyed on
the event's `source` + `id`) and the effect (the notification) in the same database and commits
them together, so a duplicate or a redelivery after a crash changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the event SDK is not needed to migrate
    from ..events import OrderCreatedEvent

Key = tuple[str, str]


class ConfigurationError(ValueError):
    """A setting of the store (DATABASE_URL, DYNAMODB_TABLE...) cannot work; names it."""


@dataclass(frozen=True)
class Counts:
    """What the store holds: notifications, distinct events among them, inbox records."""

    notifications: int
    distinct_events: int
    inbox: int


class Store(Protocol):
    """The inbox and the effect, in one database."""

    async def handle(self, event: OrderCreatedEvent) -> bool:
        """Record `event` and its notification; False (and no change) when handled before.

        The inbox record and the effect commit together, and `notifier.send` runs before that
        commit: a failure anywhere leaves nothing behind, so the retry handles the event again.
        """
        ...

    async def handle_batch(self, events: Sequence[OrderCreatedEvent]) -> set[Key]:
        """Record every event of `events` not handled before, all in ONE commit; the new keys.

        A (source, id) repeated in `events` counts once. Raises when the batch cannot commit as
        a whole: the caller then handles its events one by one.
        """
        ...

    async def check(self) -> None:
        """Raise unless the database answers (the readiness check named `database`)."""
        ...

    async def counts(self) -> Counts:
        """What the store holds (tests and operators; a full scan, not for the hot path)."""
        ...

    async def close(self) -> None:
        """Close the connections."""
        ...
