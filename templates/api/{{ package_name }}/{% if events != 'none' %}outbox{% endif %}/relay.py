"""The relay: publishes the outbox to the broker, with its confirms, until told to stop.

One loop per process: claim a batch (SKIP LOCKED, or a lease), publish it and wait for the broker's
confirmation, delete it; again at once while batches come back full, else after
OUTBOX_POLL_INTERVAL. A failure (broker away, database away, a timeout) drops the broker
connection and retries with exponential backoff and jitter (tenacity), up to
OUTBOX_RETRY_MAX_DELAY between tries, for as long as it takes: the events wait in the outbox,
requests are never failed for it, and readiness does not depend on the broker. The backlog's
size and age are exported at most once a second. `stop()` ends the loop between batches (a
batch in flight is finished or, past its timeout, rolled back: its rows stay for the next run).

While batches come back full, up to IN_FLIGHT are in flight (`_drain`), each in a transaction
on a connection of its own: the next batch is claimed while the broker confirms the current one,
and a batch's deletion commits (a disk flush on the database) while the broker confirms the
next. Batches are still claimed and published one after the other, in order, and a batch whose
predecessor failed is not published at all (it rolls back with it): a backlog leaves in order,
and no batch overtakes a failed one.

The claims form the chain that sets the pace, so each link is kept short: a batch takes its
connection and begins its transaction while the one before it is still claiming, claims the
moment that one holds its rows (its `turn`), and a batch that got its rows lets the next one send
its claim before it spends its own CPU encoding its messages for the broker. Without that the
claims waited on the encoding: one batch in flight in effect, half the broker's raw rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from ..settings import Settings
from . import metrics
from .base import Outbox, OutboxMessage, Publisher

logger = logging.getLogger(__name__)

# A failure is logged at most this often (an outage would otherwise log every retry).
LOG_EVERY_SECONDS = 10.0
BACKLOG_EVERY_SECONDS = 1.0
# Batches in flight at once while the backlog lasts, enough to cover a claim, a publication and a
# commit at the same time (the outbox's pool has a connection for each, and one for the backlog).
IN_FLIGHT = 3


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
                            published = await self._drain()
                    if published < settings.OUTBOX_BATCH_SIZE:
                        await self._sleep(settings.OUTBOX_POLL_INTERVAL)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await self._publisher.close()
            await self._outbox.close()

    async def _drain(self) -> int:
        """Publish batches back to back while they come back full; the size of the last one
        claimed (smaller than a full batch: the outbox is drained for now). Raises the first
        failure, once every batch in flight has ended (each one failed or rolled back, or
        confirmed and deleted)."""
        if self._stopping.is_set():  # stopped during a backoff: no new attempt
            return 0
        if not self._connected:
            async with asyncio.timeout(self._settings.OUTBOX_PUBLISH_TIMEOUT):
                await self._publisher.connect()
            self._connected = True
        in_flight: list[asyncio.Task[int]] = []
        batch: _Batch | None = None
        try:
            while True:
                previous, batch = batch, self._next_batch(batch)
                task = asyncio.create_task(self._batch(batch))
                in_flight.append(task)
                # The next batch starts once this one's turn to claim has come: it then gets
                # its connection ready while this one claims.
                either: set[asyncio.Future[Any]] = {batch.claiming, task}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                if not batch.claiming.done() or not batch.claiming.result():
                    break  # failed before its turn, or the one before it drained the outbox
                if len(in_flight) == IN_FLIGHT:
                    await in_flight[0]
                    del in_flight[0]
            while in_flight:
                await in_flight[0]
                del in_flight[0]
            return 0 if previous is None else previous.size
        finally:
            for task in in_flight:  # after a failure: the others end, rolled back
                task.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
            if batch is not None and not batch.published.done():
                batch.published.cancel()

    def _next_batch(self, previous: _Batch | None) -> _Batch:
        settings = self._settings
        return _Batch(self._publisher, previous, settings.OUTBOX_BATCH_SIZE, self._stopping)

    async def _batch(self, batch: _Batch) -> int:
        try:
            async with asyncio.timeout(self._settings.OUTBOX_PUBLISH_TIMEOUT):
                limit = self._settings.OUTBOX_BATCH_SIZE
                count = await self._outbox.relay(limit, batch.publish, batch.turn)
        finally:
            batch.ended()
        metrics.PUBLISHED.inc(count)
        return count

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


class _Batch:
    """One batch's turns.

    `turn()` (awaited by the outbox once it is ready to claim) returns when the batch before
    this one holds its rows: True if that one came back full (more may wait) and the relay is
    not stopping, else False (claim nothing). `claiming` holds that answer for the relay's
    loop. `claimed` is set once this batch holds its rows, or ended without any. `published`
    is set once the broker confirmed them (or failed to); this batch publishes only after the
    previous one's publication succeeded, and fails when that one failed.
    """

    def __init__(
        self,
        publisher: Publisher,
        previous: _Batch | None,
        limit: int,
        stopping: asyncio.Event,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._publisher = publisher
        self._previous = previous
        self._limit = limit
        self._stopping = stopping
        self.size = 0
        self.claiming: asyncio.Future[bool] = loop.create_future()
        # An Event, not a future: its waiter (the next batch's turn) is woken in the very next
        # step of the loop, before this batch resumes (see publish).
        self.claimed = asyncio.Event()
        self.published: asyncio.Future[None] = loop.create_future()

    async def turn(self) -> bool:
        previous = self._previous
        if previous is not None:
            await previous.claimed.wait()
        go = not self._stopping.is_set() and (previous is None or previous.size == self._limit)
        if not self.claiming.done():
            self.claiming.set_result(go)
        return go

    def ended(self) -> None:
        """The outbox returned or raised: the next batch's turn is not kept waiting."""
        self.claimed.set()
        if not self.claiming.done():
            self.claiming.set_result(False)

    async def publish(self, messages: Sequence[OutboxMessage]) -> None:
        self.size = len(messages)
        self.claimed.set()
        await asyncio.sleep(0)  # the next batch sends its claim first (woken by `claimed`)
        previous = self._previous.published if self._previous is not None else None
        try:
            if previous is not None:
                await asyncio.shield(previous)  # raises what it raised
            await self._publisher.publish(messages)
        except BaseException as error:
            # Not a CancelledError for the next batch: that would cancel its task, not fail it.
            failure = error if isinstance(error, Exception) else ConnectionAbortedError()
            self.published.set_exception(failure)
            self.published.exception()  # retrieved: the next batch, if any, raises it
            raise
        self.published.set_result(None)
