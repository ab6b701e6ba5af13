"""The issuer's signing keys (its JWKS), cached in memory.

PyJWT's PyJWKClient does the fetch (timeout, no redirects, http(s) only) and PyJWK parses each
key; this module adds what a server under load needs on top:
- a request never waits for the network when its token's `kid` is cached;
- an unknown `kid` triggers at most one fetch per `refresh_interval`, whatever the number of
  requests naming made-up kids (one fetch in flight at a time, the others wait for it); after a
  failed fetch the next may come sooner (1, 2, 4... seconds, up to `refresh_interval`), so that
  the service recovers quickly from an issuer outage or a slow start;
- the fetch runs in a worker thread (PyJWKClient is synchronous) and is bounded by `timeout`,
  so the event loop keeps serving;
- keys older than `max_age` are refetched in the background; a failed fetch keeps the keys
  already cached, so an issuer outage does not stop tokens signed with known keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import jwt
from jwt import PyJWK

logger = logging.getLogger(__name__)


class KeysUnavailable(Exception):
    """The JWKS could not be fetched and the key asked for is not cached."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class SigningKey:
    """A verification key of the set and the algorithm its JWK pins, if any."""

    __slots__ = ("algorithm", "key")

    def __init__(self, key: PyJWK, algorithm: str | None) -> None:
        self.key = key
        self.algorithm = algorithm


def parse_key_set(data: Any) -> dict[str, SigningKey]:
    """kid -> key for the signature keys of a JWKS document; unusable entries are skipped."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("the JWKS is not a JSON object with a 'keys' list")
    keys: dict[str, SigningKey] = {}
    for entry in data["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str):
            continue  # tokens are matched to keys by kid only
        try:
            key = PyJWK(entry)
        except jwt.PyJWTError:  # an algorithm or key type this service cannot use
            continue
        algorithm = entry.get("alg")
        keys[kid] = SigningKey(key, algorithm if isinstance(algorithm, str) else None)
    return keys


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        refresh_interval: float,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False, timeout=timeout)
        self._timeout = timeout
        self._refresh_interval = refresh_interval
        self._max_age = max_age
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._last_error: str | None = None
        self._failures = 0  # consecutive failed fetches
        self._lock = asyncio.Lock()
        # Changes whenever the set of keys does: what was verified with an older set is rechecked.
        self.generation = 0
        self._background: asyncio.Task[None] | None = None

    async def get(self, kid: str) -> SigningKey | None:
        """The key named `kid`; None when the issuer's current set has no such key.

        Raises KeysUnavailable when the key is not cached and the JWKS cannot be fetched.
        """
        key = self._keys.get(kid)
        if key is not None:
            if self._fetched_at is not None and self._clock() - self._fetched_at > self._max_age:
                self.refresh_in_background()
            return key
        async with self._lock:  # one fetch at a time; waiting requests reuse its result
            key = self._keys.get(kid)
            if key is None and self._may_fetch():
                await self._fetch()
                key = self._keys.get(kid)
        if key is None and self._last_error is not None:
            raise KeysUnavailable(self._last_error, retry_after=self._wait_before_next_fetch())
        return key

    def refresh_in_background(self) -> None:
        """Fetch the set without making anyone wait (at start, and when the keys are old)."""
        if self._background is None or self._background.done():
            self._background = asyncio.create_task(self._refresh())

    async def close(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background

    async def _refresh(self) -> None:
        async with self._lock:
            if self._may_fetch():
                await self._fetch()

    def _may_fetch(self) -> bool:
        return self._wait_before_next_fetch() <= 0

    def _wait_before_next_fetch(self) -> float:
        if self._attempted_at is None:
            return 0.0
        interval = self._refresh_interval
        if self._failures:
            interval = min(interval, 2.0 ** (self._failures - 1))
        return self._attempted_at + interval - self._clock()

    async def _fetch(self) -> None:
        self._attempted_at = self._clock()
        try:
            # The thread may outlive a timed-out wait; PyJWKClient's own timeout ends it.
            data = await asyncio.wait_for(
                asyncio.to_thread(self._client.fetch_data), timeout=self._timeout
            )
            keys = parse_key_set(data)
        except (TimeoutError, jwt.PyJWKClientError, ValueError, OSError) as error:
            reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            self._failures += 1
            self._last_error = f"the issuer's keys ({self.url}) cannot be fetched: {reason}"
            logger.warning("%s; keeping %d cached key(s)", self._last_error, len(self._keys))
            return
        if keys.keys() != self._keys.keys():
            self.generation += 1
        self._keys = keys
        self._fetched_at = self._attempted_at
        self._last_error = None
        self._failures = 0
        logger.info("fetched %d signing key(s) from %s", len(keys), self.url)
