"""A small HTTP server for services that are not web apps (workers): /healthz, /readyz, /startupz
and /metrics from a `Lifecycle`, as a pure ASGI app served by uvicorn inside the service's loop.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from .asgi import Receive, Scope, Send
from .lifecycle import Lifecycle, ProbeResult
from .metrics import exposition

PROBE_PATHS = ("/healthz", "/readyz", "/startupz", "/metrics")


@dataclass(frozen=True)
class ProbeRoute:
    """What a router puts in `scope["route"]`: the request metrics label their route with it."""

    path: str


class ProbeApp:
    """ASGI app answering the probe paths (404 elsewhere); JSON bodies, 503 when not ready."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # nothing to start or stop: acknowledge both events
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        if path in PROBE_PATHS:
            scope["route"] = ProbeRoute(path)
        if path == "/metrics":
            body, content_type = exposition()
            await _respond(send, 200, body, content_type)
            return
        result: ProbeResult
        if path == "/healthz":
            result = self.lifecycle.liveness()
        elif path == "/startupz":
            result = self.lifecycle.startup()
        elif path == "/readyz":
            result = await self.lifecycle.readiness()
        else:
            await _respond_json(send, 404, {"status": "not found", "paths": list(PROBE_PATHS)})
            return
        await _respond_json(send, 200 if result[0] else 503, result[1])


async def _respond_json(send: Send, status: int, body: dict[str, Any]) -> None:
    await _respond(send, status, json.dumps(body).encode(), "application/json")


async def _respond(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ProbeServer(uvicorn.Server):
    """uvicorn for the probe app, leaving signal handling to the service that runs it.

    uvicorn's own `serve()` takes over SIGINT/SIGTERM (and re-raises them when it stops); a worker
    must see SIGTERM itself to stop fetching and drain, then stop this server with `should_exit`.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def probe_server(lifecycle: Lifecycle, port: int, host: str = "0.0.0.0") -> ProbeServer:  # noqa: S104
    """A server to run with `await server.serve()`; set `server.should_exit = True` to stop it."""
    config = uvicorn.Config(
        ProbeApp(lifecycle), host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    return ProbeServer(config)
