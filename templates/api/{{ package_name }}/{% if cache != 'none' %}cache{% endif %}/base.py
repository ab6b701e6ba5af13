"""What the read cache needs from a key-value server: the whole contract of a cache module.

A cache server is one module in this package (`redis.py`, `memcached.py`) with a class of
these methods; `cached.py` does cache-aside over any of them. Each method raises when the
server does not answer within CACHE_TIMEOUT: the caller then reads the database instead.
"""

from __future__ import annotations

from typing import Protocol


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The value stored under `key`, or None when there is none (or it expired)."""

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        """Store `value` under `key` for `ttl` seconds."""

    async def delete(self, key: str) -> None:
        """Forget `key` (nothing happens when it is not there)."""

    async def close(self) -> None: ...
