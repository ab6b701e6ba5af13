"""Runs the app on uvicorn with the platform's graceful shutdown.

On SIGTERM (Kubernetes stopping the pod, after the preStop delay):
1. readiness turns 503 at once (the Lifecycle is marked draining before anything else);
2. uvicorn closes its listening sockets (new connections are refused) and closes idle
   keep-alive connections; requests already received run to completion;
3. after at most the drain budget, requests still running are cancelled;
4. the lifespan shutdown closes the database pool and tracing flushes its spans;
5. the process exits 0, all within SHUTDOWN_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

from .acceptor import Acceptor, listen
from .observability.lifecycle import Lifecycle
from .settings import Settings

logger = logging.getLogger(__name__)

# Net allocations of container objects between two collections of the youngest generation.
GEN0_THRESHOLD = 10_000
# uvicorn's exit status when the lifespan or the listening socket fails at startup.
STARTUP_FAILURE = 3
# Of SHUTDOWN_TIMEOUT, what is kept for closing pools and flushing spans after the drain.
CLOSE_BUDGET_SECONDS = 2.0


class GracefulServer(uvicorn.Server):
    """uvicorn's server, failing readiness the moment a shutdown signal arrives."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup (the app's lifespan, then listening), with the listening socket
        accepting every waiting connection per loop iteration (acceptor.py says why)."""
        self._loop = asyncio.get_running_loop()
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config

        def create_protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        try:
            sock = listen(config.host, config.port, config.backlog)
        except OSError as error:
            logger.error("cannot listen on %s:%s: %s", config.host, config.port, error)
            await self.lifespan.shutdown()
            sys.exit(STARTUP_FAILURE)
        acceptor = Acceptor(sock, create_protocol, config.backlog)
        acceptor.start()
        self.servers = [acceptor]  # type: ignore[list-item]  # close() and wait_closed() suffice
        self._log_started_message([sock])
        self.started = True
        # What exists now (imported modules, the app, its routes, what its lifespan opened:
        # pools, clients, the modules they imported) lives as long as the process: freeze it
        # out of the collector's generations, so that full collections scan only what requests
        # allocate. Frozen before the lifespan ran, a full collection still scanned what the
        # lifespan made and imported: pauses of ~50 ms every second under load at 64
        # connections, the reads' p99 ~1.5x a plain FastAPI route's (benchmarks/bench_api.py).
        gc.collect()
        gc.freeze()
        # The young generation collected after 10,000 net allocations instead of 700: at 64
        # connections each request in flight holds some dozens of objects (its task, frames,
        # context, messages), so at 700 the collector ran ~200 times a second, scanning only
        # requests still in flight, ~9% of the CPU of a read (gen 0 and 1 together). Garbage in
        # cycles, rare here, waits a little longer; memory stays bounded (benchmarks/bench_api.py).
        gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.lifecycle.draining:
            logger.info("received %s: draining", signal.Signals(sig).name)
        self.lifecycle.start_draining()
        super().handle_exit(sig, frame)
        # uvicorn notices the signal on its next tick, up to 0.1 s later, and keeps accepting
        # until then: stop accepting at once (from the loop, not from inside a signal handler).
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_accepting)

    def _stop_accepting(self) -> None:
        for server in self.servers:
            server.close()  # new connections are refused from here on
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive closes; busy ones close after their response


def _exit_after_drain(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the shutdown signal once it has drained, for an outer handler to act on:
    # the drain is complete, so that means a clean exit.
    raise SystemExit(0)


def serve(app: FastAPI, settings: Settings, lifecycle: Lifecycle) -> int:
    """Serve until SIGTERM/SIGINT; return the exit status (0 after a graceful shutdown)."""
    drain_seconds = max(1.0, settings.SHUTDOWN_TIMEOUT - CLOSE_BUDGET_SECONDS)
    config = uvicorn.Config(
        app,
        host=settings.HOST,
        port=settings.PORT,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,  # keep the JSON logging configured by __main__
        access_log=False,  # the request middleware writes access lines with the request id
        server_header=False,
        timeout_graceful_shutdown=int(drain_seconds),
    )
    server = GracefulServer(config, lifecycle)
    signal.signal(signal.SIGTERM, _exit_after_drain)
    signal.signal(signal.SIGINT, _exit_after_drain)
    server.run()  # freezes what startup made out of the collector (GracefulServer.startup)
    if not server.started:
        logger.error("the service did not start")
        return 1
    return 0
