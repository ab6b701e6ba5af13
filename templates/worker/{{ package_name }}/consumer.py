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
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()

    def request_stop(self) -> None:
        """Stop fetching (called from the SIGTERM handler); `run` then drains and returns."""
        self._stopping.set()
        self._slot_freed.set()

    async def run(self, drain_timeout: float) -> bool:
        """Consume until stopped; True when every in-flight message finished in time."""
        while not self._stopping.is_set():
            free = self._concurrency - len(self._tasks)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                deliveries = await self._broker.fetch(free, FETCH_WAIT_SECONDS)
            except Exception:
                logger.exception("fetching from the broker failed; trying again in 1 s")
                await asyncio.sleep(1)
                continue
            for delivery in deliveries:
                task = asyncio.create_task(self._processor.process(delivery))
                self._tasks.add(task)
                task.add_done_callback(self._finished)
        await self._broker.stop_fetching()
        return await self._drain(drain_timeout)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slot_freed.set()
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("handling a message failed unexpectedly", exc_info=error)

    async def _drain(self, within: float) -> bool:
        if not self._tasks:
            return True
        logger.info("draining in-flight messages", extra={"in_flight": len(self._tasks)})
        _, pending = await asyncio.wait(set(self._tasks), timeout=within)
        for task in pending:
            task.cancel()  # never acked: the broker delivers it again
        return not pending
