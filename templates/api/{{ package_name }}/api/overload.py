"""The request deadline and load shedding, as one pure ASGI middleware in front of the routes.

- At most `max_in_flight` requests are handled at once. One more gets 503 with `Retry-After`
  at once, without touching the database: a client (or the load balancer) retries elsewhere or
  later, instead of queueing behind work that would miss its deadline anyway.
- Below that bound, the limit adapts (additive increase, multiplicative decrease, as TCP and
  Netflix's concurrency-limits do): when admitted requests take more than a third of the
  deadline, the process is serving fewer requests a second than the bound assumes (a smaller CPU
  share, a slower database), so the limit shrinks by a quarter, at most once per third of the
  deadline, never below an eighth of the bound; each request served in under a sixth of the
  deadline while the limit is in use gives one back. (Half and a quarter let 2-5% of admitted
  requests reach the deadline on a CPU-starved test machine; a third and a sixth, under 1%.)
  By Little's law the wait of an admitted request is (requests in flight) / (throughput), so
  this keeps admitted requests well inside the deadline whatever the throughput is today.
- Every admitted request runs under a deadline of `timeout` seconds, waiting for a pooled
  connection included. Past it, the request's task is cancelled, which cancels the database
  statement it was waiting on (see the storage module), and the client gets 504.
- Paths in `exempt_paths` (probes, /metrics) are neither shed nor timed: Kubernetes must see a
  busy pod as alive, and Prometheus must see it at all.

Pure ASGI (no BaseHTTPMiddleware) and one layer for both jobs: this runs on every request, and
costs a comparison, a counter and the deadline's timer handle. uvicorn's own
`--limit-concurrency` is not used: it counts connections as well as requests, sheds probes too,
and answers with a plain-text body.

The outcome of a shed or timed-out request is left in the ASGI scope under "outcome" for the
access log (observability/asgi.py), which runs outside this middleware.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Collection

from prometheus_client import Counter, Gauge

from ..observability.asgi import ASGIApp, Message, Receive, Scope, Send

# Seconds a shed client is told to wait: the queue ahead of it drains well within one.
RETRY_AFTER_SECONDS = 1

TIMED_OUT = Counter(
    "http_requests_timed_out_total",
    "Requests that ended with 504 because they did not finish within REQUEST_TIMEOUT, by route.",
    ["route"],
)
SHED = Counter(
    "http_requests_shed_total",
    "Requests refused with 503 because MAX_IN_FLIGHT requests were already being handled.",
)
MAX_IN_FLIGHT = Gauge(
    "http_requests_max_in_flight",
    "The bound on requests handled at once (MAX_IN_FLIGHT).",
)
LIMIT = Gauge(
    "http_requests_in_flight_limit",
    "Requests handled at once beyond which new ones are shed now (adapts up to MAX_IN_FLIGHT).",
)


def _json_response(status: int, detail: str, *extra_headers: tuple[bytes, bytes]) -> list[Message]:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]


class OverloadMiddleware:
    """Sheds requests beyond the limit (503) and ends those slower than `timeout` (504)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        timeout: float,
        max_in_flight: int,
        exempt_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.exempt_paths = frozenset(exempt_paths)
        self.in_flight = 0
        self.limit = max_in_flight  # the adaptive limit, min_limit <= limit <= max_in_flight
        # Never below an eighth of the bound (the default bound is 4 x the pool, so half the
        # pool): below that, admitted requests wait for no pooled connection, so their
        # slowness is the database's or the CPU's, and shrinking further only sheds more.
        # Without the floor, a client that retries at once (ignoring Retry-After) collapsed
        # the limit to 1: the flood of 503s took the CPU, admitted requests stayed slow, the
        # limit never grew back (measured: 35 served/s against ~2,000 without shedding).
        self.min_limit = max(1, max_in_flight // 8)
        self._slow = timeout / 3
        self._fast = timeout / 6
        self._next_decrease = 0.0
        MAX_IN_FLIGHT.set(max_in_flight)
        LIMIT.set(max_in_flight)
        self._shed = _json_response(
            503,
            f"the service is at capacity: retry after {RETRY_AFTER_SECONDS} s",
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        )
        self._timed_out = _json_response(
            504, f"the request did not finish within the service's deadline of {timeout:g} s"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            SHED.inc()
            scope["outcome"] = "shed"
            for message in self._shed:
                await send(dict(message))  # a copy: whoever sends it on may change it
            return

        response_started = False

        async def send_tracked(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        self.in_flight += 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                await self.app(scope, receive, send_tracked)
        except TimeoutError:
            if not deadline.expired():
                raise  # a timeout inside the route, not the deadline: the route's own error
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            TIMED_OUT.labels(route).inc()
            scope["outcome"] = "timeout"
            if response_started:
                # Headers already went out: no status can be sent any more. Returning without
                # the rest of the body makes the server close the connection, so the client
                # cannot take a cut-short body for a whole one.
                return
            for message in self._timed_out:
                await send(dict(message))
        finally:
            self._adapt(time.perf_counter() - started)
            self.in_flight -= 1

    def _adapt(self, seconds: float) -> None:
        """Shrink the limit when requests are slow, grow it back when they are fast."""
        if seconds > self._slow:
            now = time.perf_counter()
            if now >= self._next_decrease and self.limit > self.min_limit:
                self.limit = max(self.min_limit, self.limit * 3 // 4)
                self._next_decrease = now + self._slow  # let the smaller limit show its effect
                LIMIT.set(self.limit)
        elif (
            seconds < self._fast
            and self.limit < self.max_in_flight
            and self.in_flight * 2 >= self.limit  # only while the limit is actually in use
        ):
            self.limit += 1
            LIMIT.set(self.limit)
