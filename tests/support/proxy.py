"""A TCP proxy that a test cuts, restores or stalls: a dependency going away without stopping it.

The shared servers of this machine (PostgreSQL, RabbitMQ, ...) serve other tests at the same time
and must never be stopped; a proxy in front of one gives a single service an outage of its own.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from .brokers import free_port


class TcpProxy:
    """A TCP proxy on loopback, in a thread of its own, between a service and its server.

    `cut()` stops listening and aborts every open connection (the server "goes away": new
    connections are refused, pooled ones break); `restore()` listens again on the same port.
    `hold()` keeps every byte sent towards the server until `release()`: a server that
    stalls, so that requests stay in flight, provably, until a test lets them finish.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    def hold(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.set)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer, towards_server=True),
            self._pipe(up_reader, writer, towards_server=False),
            return_exceptions=True,
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, towards_server: bool
    ) -> None:
        while chunk := await reader.read(65536):
            if towards_server:
                await self._flowing.wait()
            writer.write(chunk)
            await writer.drain()
        writer.transport.abort()
