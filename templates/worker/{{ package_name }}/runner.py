"""The worker's life: start, consume, and on SIGTERM drain and exit 0 within SHUTDOWN_TIMEOUT."""

from __future__ import annotations

import asyncio
import logging
import signal

from .brokers import create_broker
from .consumer import Consumer
from .observability.lifecycle import Lifecycle
from .observability.probes import probe_server
from .processing import Processor
from .settings import Settings
from .stores import open_store

logger = logging.getLogger(__name__)


async def run_worker(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; the exit status for the process."""
    store = open_store(settings)
    broker = create_broker(settings)
    lifecycle = Lifecycle(check_timeout=settings.READINESS_TIMEOUT)
    lifecycle.add_check("database", store.check)
    lifecycle.add_check("broker", broker.check)
    server = probe_server(lifecycle, settings.PORT)
    serving = asyncio.create_task(server.serve())
    consumer = Consumer(broker, Processor(settings, store), settings.CONCURRENCY)

    def drain(signum: int) -> None:
        logger.info("signal received: draining", extra={"signal": signal.Signals(signum).name})
        lifecycle.start_draining()  # readiness turns 503 at once
        consumer.request_stop()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, drain, signum)
    try:
        await broker.connect()
        lifecycle.mark_started()
        logger.info("worker started", extra={"queue": settings.QUEUE_NAME, "port": settings.PORT})
        # Leave a moment of the shutdown budget for closing the connections.
        drained = await consumer.run(drain_timeout=max(settings.SHUTDOWN_TIMEOUT - 2, 1))
        if not drained:
            logger.warning("in-flight messages did not finish in time; the broker redelivers them")
    finally:
        server.should_exit = True
        await broker.close()
        await store.close()
        await serving
    logger.info("worker stopped")
    return 0
