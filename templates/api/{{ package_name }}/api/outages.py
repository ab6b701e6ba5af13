"""A database that cannot be reached answers 503 with Retry-After, not 500 with a traceback.

A refused or reset connection, or a server shutting down or failing over, is no bug of this
service: the client can retry, and should be told when. Each store names the driver's errors
that mean this (storage.Outages); they are registered here as exception handlers, so that
- the answer is JSON like every other error, with the request id and an access log line whose
  `outcome` is `database_unavailable`, since Starlette's ExceptionMiddleware runs inside this
  service's middleware (a 500 from its ServerErrorMiddleware gets neither);
- the request path pays nothing for it: no wrapper, no try block of its own;
- the log has one warning per LOG_EVERY_SECONDS with how many requests it covers, not a
  traceback per request: an outage under load would otherwise write thousands.
Readiness (/readyz) fails on its own during the outage, so the load balancer stops sending
traffic here; these answers cover the seconds before it notices.
"""

from __future__ import annotations

import json
import logging
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import Counter

from ..storage import Outages
from .overload import RETRY_AFTER_SECONDS

logger = logging.getLogger(__name__)

LOG_EVERY_SECONDS = 10.0

UNAVAILABLE = Counter(
    "http_requests_database_unavailable_total",
    "Requests answered 503 because the database could not be reached.",
)

_BODY = json.dumps(
    {"detail": f"the database is unavailable: retry after {RETRY_AFTER_SECONDS} s"}
).encode()


class OutageLog:
    """At most one warning per `every` seconds, counting the requests since the last one."""

    def __init__(self, every: float = LOG_EVERY_SECONDS) -> None:
        self._every = every
        self._last = -every
        self._unlogged = 0

    def record(self, error: Exception) -> None:
        self._unlogged += 1
        now = time.monotonic()
        if now - self._last < self._every:
            return
        logger.warning(
            "database unavailable; answering 503",
            extra={"error": f"{type(error).__name__}: {error}", "requests": self._unlogged},
        )
        self._last, self._unlogged = now, 0


def add_outage_handlers(app: FastAPI, outages: Outages) -> None:
    log = OutageLog()

    async def on_outage(request: Request, error: Exception) -> Response:
        if not outages.applies(error):
            raise error  # not an outage: the server's 500 and its traceback, as for any bug
        UNAVAILABLE.inc()
        request.scope["outcome"] = "database_unavailable"
        log.record(error)
        return Response(
            _BODY,
            503,
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
            media_type="application/json",
        )

    for error_type in outages.types:
        app.add_exception_handler(error_type, on_outage)
