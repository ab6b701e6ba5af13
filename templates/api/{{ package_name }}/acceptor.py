"""The listening socket, accepting every waiting connection each time it is readable.

uvloop's server accepts one connection per event-loop iteration (libuv stopped accepting in a
loop in 2022, libuv/libuv#3696). Under load an iteration takes milliseconds, so a burst of new
connections (clients reconnecting, a rollout, a load balancer opening its pool) was accepted one
iteration apart: 64 new connections to a busy process took ~320 ms, and the first request on
the last of them waited all of it (the p99 of a benchmark round, BENCHMARKS.md "API service").
This accepts all that wait, up to the backlog, in one go, and hands each to the loop as uvicorn's
own server would (`connect_accepted_socket`, the same protocol and transport).

It is the `asyncio.Server` part uvicorn uses: `close()` stops accepting at once,
`wait_closed()` returns once it has.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

logger = logging.getLogger(__name__)

# After a failed accept (out of file descriptors, out of memory) the connections wait in the
# kernel's queue; trying again at once would spin on the still-readable socket.
RETRY_AFTER_SECONDS = 1.0


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """A non-blocking listening TCP socket on host:port (IPv6 when the host is)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.setblocking(False)
    return sock


class Acceptor:
    def __init__(
        self, sock: socket.socket, protocol_factory: Callable[[], asyncio.Protocol], backlog: int
    ) -> None:
        self._sock = sock
        self._factory = protocol_factory
        self._backlog = backlog
        self._loop = asyncio.get_running_loop()
        self._handing_over: set[asyncio.Task[object]] = set()
        self._closed = False

    def start(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept_waiting)

    def _accept_waiting(self) -> None:
        for _ in range(self._backlog):
            try:
                connection, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # none left
            except OSError as error:
                logger.warning(
                    "accepting a connection failed; trying again shortly",
                    extra={"error": repr(error)},
                )
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(RETRY_AFTER_SECONDS, self.start)
                return
            connection.setblocking(False)
            handover = self._loop.create_task(
                self._loop.connect_accepted_socket(self._factory, connection)
            )
            self._handing_over.add(handover)
            handover.add_done_callback(self._handed_over)

    def _handed_over(self, task: asyncio.Task[object]) -> None:
        self._handing_over.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # The client went away before its connection was set up: nothing to answer.
            logger.debug("a connection closed while it was set up", extra={"error": repr(error)})

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    async def wait_closed(self) -> None:
        if self._handing_over:
            await asyncio.wait(self._handing_over)
