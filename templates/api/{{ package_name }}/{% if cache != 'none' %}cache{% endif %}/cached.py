"""Cache-aside for orders by id: read the cache, else the database once, then fill the cache.

- a hit answers from the cache; a miss reads the database and stores the order for CACHE_TTL
  seconds; a new order is written to the cache as it is created (a change rewrites its entry),
  so a read right after a create is a hit;
- single flight: concurrent reads of one key in this process share ONE lookup and, on a miss,
  ONE database read (a future per key; the others count as `shared`), so a hot key that
  expires does not send every waiting request to the database at once;
- a cache that fails (down, or slower than CACHE_TIMEOUT) never fails a request: the database
  answers, `cache_errors_total` counts it, a warning is logged at most every 10 s, and the cache
  is left alone for CACHE_RETRY_INTERVAL seconds (so an outage costs no timeout per request);
  after that it is tried again and used as soon as it answers;
- everything else (create's database write, pages) goes straight to the repository.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from uuid import UUID

from prometheus_client import Counter

from .. import SERVICE_NAME
from ..models import Order, OrderCreate
from ..settings import Settings
from ..storage import OrderRepository
from .base import Cache

logger = logging.getLogger(__name__)

LOOKUPS = Counter(
    "cache_lookups_total",
    "Reads by id: hit, miss, error, skipped (cache left alone) or shared (single flight).",
    ["result"],
)
ERRORS = Counter("cache_errors_total", "Cache commands that failed, by operation.", ["operation"])
LOG_EVERY_SECONDS = 10.0


class CachedOrders:
    """An OrderRepository: `repository` behind `cache`."""

    def __init__(self, repository: OrderRepository, cache: Cache, settings: Settings) -> None:
        self._repository = repository
        self._cache = cache
        self._ttl = settings.CACHE_TTL
        self._retry_interval = settings.CACHE_RETRY_INTERVAL
        self._skip_until = 0.0
        self._last_log = 0.0
        self._in_flight: dict[UUID, asyncio.Future[Order | None]] = {}

    @staticmethod
    def key(order_id: UUID) -> str:
        return f"{SERVICE_NAME}:order:v1:{order_id}"

    async def create(self, order: OrderCreate) -> Order:
        created = await self._repository.create(order)
        await self._store(created)
        return created

    async def get(self, order_id: UUID) -> Order | None:
        flight = self._in_flight.get(order_id)
        if flight is not None:  # another request is reading this order: share its answer
            LOOKUPS.labels("shared").inc()
            return await asyncio.shield(flight)
        flight = asyncio.get_running_loop().create_future()
        self._in_flight[order_id] = flight
        try:
            order = await self._read(order_id)
        except BaseException as error:
            flight.set_exception(error)
            flight.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        finally:
            self._in_flight.pop(order_id, None)
        flight.set_result(order)
        return order

    async def _read(self, order_id: UUID) -> Order | None:
        """The cache, else the database (and then the cache is filled)."""
        cached, result = await self._lookup(order_id)
        LOOKUPS.labels(result).inc()
        if cached is not None:
            return cached
        order = await self._repository.get(order_id)
        if order is not None:
            await self._store(order)
        return order

    async def invalidate(self, order_id: UUID) -> None:
        """Forget the cached order (for a change that does not rewrite it)."""
        if self._usable():
            try:
                await self._cache.delete(self.key(order_id))
            except Exception as error:
                self._failed("delete", error)

    async def page(self, *args: Any, **kwargs: Any) -> Any:
        return await self._repository.page(*args, **kwargs)

    async def _lookup(self, order_id: UUID) -> tuple[Order | None, str]:
        """The cached order (or None) and what the lookup was: hit, miss, error or skipped."""
        if not self._usable():
            return None, "skipped"
        try:
            value = await self._cache.get(self.key(order_id))
        except Exception as error:
            self._failed("get", error)
            return None, "error"
        if value is None:
            return None, "miss"
        return Order.model_validate_json(value), "hit"

    async def _store(self, order: Order) -> None:
        if not self._usable():
            return
        try:
            await self._cache.set(self.key(order.id), order.model_dump_json().encode(), self._ttl)
        except Exception as error:
            self._failed("set", error)

    def _usable(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, operation: str, error: Exception) -> None:
        ERRORS.labels(operation).inc()
        now = time.monotonic()
        self._skip_until = now + self._retry_interval
        if now - self._last_log >= LOG_EVERY_SECONDS:
            self._last_log = now
            logger.warning(
                "cache unavailable; reading the database",
                extra={"operation": operation, "error": repr(error)},
            )
