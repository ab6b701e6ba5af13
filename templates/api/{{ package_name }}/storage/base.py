"""What the API needs from a store of orders, whatever the database behind it.

A database is one module in this package with `open_storage(settings) -> Storage` (no I/O: it
raises ConfigurationError for unusable settings before the server starts; connections open
lazily), `async migrate(settings)` and `instrument(tracer_provider)`; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from ..models import Order, OrderCreate


class ConfigurationError(Exception):
    """The settings cannot work with this database; the message says what to change."""


class OrderRepository(Protocol):
    """Orders, newest first. Implementations assign `id`, `status` and `created_at`."""

    async def create(self, order: OrderCreate) -> Order: ...

    async def get(self, order_id: UUID) -> Order | None: ...

    async def page(self, limit: int, offset: int) -> tuple[list[Order], int]:
        """One page of orders and the total count."""
        ...


async def _nothing_to_close() -> None:
    return None


@dataclass(frozen=True)
class Storage:
    """An opened store: the repository, its readiness checks and how to close it."""

    orders: OrderRepository
    # name -> check; each raises when its dependency does not answer (see observability.lifecycle)
    readiness_checks: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    close: Callable[[], Awaitable[None]] = _nothing_to_close
