"""The relay: publishes the outbox to the broker, with its confirms, until told to stop.

One loop per process: claim a batch (SKIP LOCKED, or a lease), publish it and wait for the broker's
confirmation, delete it; again at once while batches come back full, else after
OUTBOX_POLL_INTERVAL. A failure (broker away, database away, a timeout) drops the broker
connection and retries with exponential backoff and jitter (tenacity), up to
OUTBOX_RETRY_MAX_DELAY between tries, for as long as it takes: the events wait in the outbox,
requests are never failed for it, and readiness does not depend on the broker. The backlog's
size and age are exported at most once a second. `stop()` ends the loop between batches (a
batch in flight is finished or, past its timeout, rolled back: its rows stay for the next run).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from ..settings import Settings
from . import metrics
from .base import Outbox, Publisher

logger = logging.getLogger(__name__)

# A failure is logged at most this often (an outage would otherwise log every retry).
LOG_EVERY_SECONDS = 10.0
BACKLOG_EVERY_SECONDS = 1.0


class Relay:
    def __init__(self, outbox: Outbox, publisher: Publisher, settings: Settings) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._settings = settings
        self._stopping = asyncio.Event()
        self._connected = False
        self._last_log = 0.0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Publish until `stop()`; then close the broker connection and the outbox's pool."""
        settings = self._settings
        retrying = AsyncRetrying(
            wait=wait_exponential_jitter(
                multiplier=0.1, max=settings.OUTBOX_RETRY_MAX_DELAY, jitter=0.1
            ),
            retry=retry_if_exception_type(Exception),
            stop=lambda _: self._stopping.is_set(),
            sleep=self._sleep,
            before_sleep=self._failed,
            reraise=True,
        )
        watcher = asyncio.create_task(self._watch_backlog(), name="outbox-backlog")
        try:
            while not self._stopping.is_set():
                published = 0
                with contextlib.suppress(Exception):  # the last failure, raised on stop
                    async for attempt in retrying:
                        with attempt:
                            published = await self._batch()
                    if published < settings.OUTBOX_BATCH_SIZE:
                        await self._sleep(settings.OUTBOX_POLL_INTERVAL)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await self._publisher.close()
            await self._outbox.close()

    async def _batch(self) -> int:
        if self._stopping.is_set():  # stopped during a backoff: no new attempt
            return 0
        async with asyncio.timeout(self._settings.OUTBOX_PUBLISH_TIMEOUT):
            if not self._connected:
                await self._publisher.connect()
                self._connected = True
            published = await self._outbox.relay(
                self._settings.OUTBOX_BATCH_SIZE, self._publisher.publish
            )
        metrics.PUBLISHED.inc(published)
        return published

    async def _watch_backlog(self) -> None:
        """Export the backlog every BACKLOG_EVERY_SECONDS, whatever the broker is doing (a
        publish attempt hanging on an unreachable broker must not freeze the alert's metric)."""
        while not self._stopping.is_set():
            try:
                count, oldest = await self._outbox.backlog()
                metrics.BACKLOG.set(count)
                metrics.OLDEST_AGE.set(oldest or 0.0)
            except Exception as error:  # the database is away: readiness says so
                logger.debug("outbox backlog unknown", extra={"error": repr(error)})
            await self._sleep(BACKLOG_EVERY_SECONDS)

    async def _failed(self, state: RetryCallState) -> None:
        metrics.FAILED.inc()
        if self._connected:
            self._connected = False
            await self._publisher.close()  # a fresh connection on the next try
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_SECONDS:
            self._last_log = now
            error = state.outcome.exception() if state.outcome else None
            logger.warning(
                "publishing the outbox failed; events wait in the outbox and are retried",
                extra={"error": repr(error), "attempt": state.attempt_number},
            )

    async def _sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less when `stop()` is called meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
