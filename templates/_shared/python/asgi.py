"""Pure ASGI middleware: request id, HTTP metrics and one access log line per request.

Pure ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs the app in a
second task and streams the response through memory channels, which alone cut a small FastAPI
endpoint to about a third of its throughput. Here the cost is a few dictionary look-ups and one
histogram observation per request.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from .logs import request_id_var

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests handled, by method, route template and status.",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from request to the end of the response, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
IN_PROGRESS = Gauge("http_requests_in_progress", "HTTP requests being handled right now.")

REQUEST_ID_HEADER = b"x-request-id"
# An incoming id is kept only when it is short and plain, so it cannot forge log content.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# Methods outside this set are counted as "OTHER" so that clients cannot create label values.
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
UNMATCHED_ROUTE = "<unmatched>"

access_logger = logging.getLogger("access")


class RequestContextMiddleware:
    """Gives each HTTP request an id (X-Request-ID in and out) and records metrics and access logs.

    The route label is the route *template* (`/api/v1/orders/{order_id}`), read from the `route`
    that the router puts in the scope, so label values stay few; unmatched paths share one value.
    `quiet_paths` (probes, /metrics) are measured but not access-logged.
    """

    def __init__(self, app: ASGIApp, quiet_paths: Collection[str] = (), access_log: bool = True):
        self.app = app
        self.quiet_paths = frozenset(quiet_paths)
        self.access_log = access_log
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        header = (REQUEST_ID_HEADER, request_id.encode())
        status = 500  # what the client gets if the app fails before starting a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new message, never the app's: an app may send the same (prebuilt) message
                # again, and adding to it would pile one more request id on every response.
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        IN_PROGRESS.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - start
            IN_PROGRESS.dec()
            self._record(scope, status, duration)
            request_id_var.reset(token)

    def _record(self, scope: Scope, status: int, duration: float) -> None:
        method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
        route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds tuples: do it once per key
            labels = (method, route, str(status))
            children = (REQUESTS.labels(*labels), DURATION.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(duration)
        # Checked before the line's fields are built: at LOG_LEVEL=WARNING they would be
        # built for nothing on every request.
        if (
            self.access_log
            and scope["path"] not in self.quiet_paths
            and access_logger.isEnabledFor(logging.INFO)
        ):
            extra = {
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(duration * 1000, 3),
            }
            # Set by an inner middleware that ended the request itself ("shed", "timeout").
            outcome = scope.get("outcome")
            if outcome is not None:
                extra["outcome"] = outcome
            access_logger.info("%s %s %d", method, scope["path"], status, extra=extra)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.fullmatch(value):
            return str(value.decode())
    return os.urandom(16).hex()  # 128 random bits, as a uuid4 has, at a fifth of the cost
