"""What the API needs from a store of orders, whatever the database behind it.

A database is one module in this package with `open_storage(settings) -> Storage` (no I/O: it
raises ConfigurationError for unusable settings before the server starts; connections open
lazily), `async migrate(settings)` and `instrument(tracer_provider)`; nothing else changes.
Its Storage names the driver's errors that mean "the database cannot be reached now" (Outages),
which the API answers with 503 and Retry-After (api/outages.py) instead of a 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from ..models import Order, OrderCreate


class ConfigurationError(Exception):
    """The settings cannot work with this database; the message says what to change."""


@dataclass(frozen=True, order=True)
class Position:
    """Where a page ends in the newest-first list: the keyset (created_at, id) of its last order.

    Every database serves "the next `limit` orders older than this position" from an index on
    (created_at, id) as fast on the thousandth page as on the first, where OFFSET reads and
    throws away every order before the page and count(*) reads the whole table.
    """

    created_at: datetime
    id: UUID

    @classmethod
    def of(cls, order: Order) -> Position:
        return cls(order.created_at, order.id)


class OrderRepository(Protocol):
    """Orders, newest first. Implementations assign `id`, `status` and `created_at`."""

    async def create(self, order: OrderCreate) -> Order: ...

    async def get(self, order_id: UUID) -> Order | None: ...

    async def page(self, limit: int, after: Position | None) -> tuple[list[Order], Position | None]:
        """Up to `limit` orders, newest first, strictly after `after` (from the newest when None),
        and the position to continue from: None when there is no order after this page."""
        ...


def _always(error: Exception) -> bool:
    return True


@dataclass(frozen=True)
class Outages:
    """The driver's errors that mean "the database cannot be reached now": refused or reset
    connections, a server shutting down or failing over. Anything else stays a 500 (a bug).

    `types` are the classes to catch; `applies` tells, among their instances, the outages from
    the rest where one class carries both (SQLAlchemy's OperationalError is a refused connection
    or a deadlock alike; the error code says which).
    """

    types: tuple[type[Exception], ...] = ()
    applies: Callable[[Exception], bool] = _always


def caused_by(error: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether `error`, or an error it was raised from, is one of `kinds`: SQLAlchemy raises its
    own class `from` the driver's error, which is the one that tells what happened."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__
    return False


async def _nothing_to_do() -> None:
    return None


@dataclass(frozen=True)
class Storage:
    """An opened store: the repository, its readiness checks, what to prepare before the first
    request (no network I/O: the service starts while its database is away) and how to close."""

    orders: OrderRepository
    # name -> check; each raises when its dependency does not answer (see observability.lifecycle)
    readiness_checks: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    start: Callable[[], Awaitable[None]] = _nothing_to_do
    close: Callable[[], Awaitable[None]] = _nothing_to_do
    outages: Outages = Outages()
