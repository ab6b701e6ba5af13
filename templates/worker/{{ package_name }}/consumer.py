"""The consume loop: bounded concurrency, and a drain that finishes in-flight messages."""

from __future__ import annotations

import asyncio
import logging

from .brokers.base import Broker
from .processing import Processor

logger = logging.getLogger(__name__)

# How long one fetch waits for messages; bounds how late the loop notices a drain request.
FETCH_WAIT_SECONDS = 0.5


class Consumer:
    """Fetches only as many messages as there are free slots, so at most `concurrency` run."""

    def __init__(self, broker: Broker, processor: Processor, concurrency: int) -> None:
        self._broker = broker
        self._processor = processor
        self._concurrency = concurrency
        # Two batches in flight: while one waits for its commit, the next is read and parsed.
        # (Redis, 5,000 events: halves of 32 beat quarters of 16 by ~40%, one batch of 64 ties.)
        # Each batch also costs a transaction and a statement, so larger batches cost less CPU per
        # event: see CONCURRENCY in settings.py.
        self._batch = max(1, concurrency // 2)
        # Each fetched batch is one task; the value is how many messages it holds.
        self._tasks: dict[asyncio.Task[None], int] = {}
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()

    def request_stop(self) -> None:
        """Stop fetching (called from the SIGTERM handler); `run` then drains and returns."""
        self._stopping.set()
        self._slot_freed.set()

    async def run(self, drain_timeout: float) -> bool:
        """Consume until stopped; True when every in-flight message finished in time."""
        while not self._stopping.is_set():
            free = self._concurrency - sum(self._tasks.values())
            # Fetch only when a whole batch fits: fetching the few slots that one finished
            # message frees would split the work into ever smaller batches, and each batch costs
            # a commit and a round trip per ack whatever its size.
            if free < self._batch:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                deliveries = await self._broker.fetch(self._batch, FETCH_WAIT_SECONDS)
            except Exception:
                logger.exception("fetching from the broker failed; trying again in 1 s")
                await asyncio.sleep(1)
                continue
            if deliveries:
                task = asyncio.create_task(self._processor.process_batch(deliveries))
                self._tasks[task] = len(deliveries)
                task.add_done_callback(self._finished)
        await self._broker.stop_fetching()
        return await self._drain(drain_timeout)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._slot_freed.set()
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("handling a message failed unexpectedly", exc_info=error)

    async def _drain(self, within: float) -> bool:
        if not self._tasks:
            return True
        in_flight = sum(self._tasks.values())
        logger.info("draining in-flight messages", extra={"in_flight": in_flight})
        _, pending = await asyncio.wait(set(self._tasks), timeout=within)
        for task in pending:
            task.cancel()  # never acked: the broker delivers it again
        return not pending
