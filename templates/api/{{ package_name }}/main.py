"""Builds the FastAPI application: routes, middleware, and what starts and stops with it."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from . import SERVICE_NAME, __version__
from .api.main import include_routes
from .api.routes.health import PROBE_PATHS
from .integrations import around_storage, beside_requests
from .observability.asgi import RequestContextMiddleware
from .observability.lifecycle import Lifecycle
from .settings import Settings
from .storage import open_storage


def _is_probe(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in PROBE_PATHS


def create_app(settings: Settings, lifecycle: Lifecycle | None = None) -> FastAPI:
    """The app; `lifecycle` is shared with the server, which marks it draining on SIGTERM.

    Raises ConfigurationError when the storage cannot work with `settings` (e.g. no DATABASE_URL).
    """
    lifecycle = lifecycle or Lifecycle(check_timeout=settings.READINESS_TIMEOUT)
    storage = around_storage(open_storage(settings), settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for name, check in storage.readiness_checks.items():
            lifecycle.add_check(name, check)
        lifecycle.mark_started()
        try:
            async with beside_requests(settings):  # the outbox relay, when there is one
                yield
        finally:
            # After the server has let in-flight requests finish: release the pools.
            await storage.close()

    app = FastAPI(
        title=SERVICE_NAME,
        version=__version__,
        lifespan=lifespan,
        # FastAPI traces requests itself when tracing is exported (observability/tracing.py);
        # metrics come from Prometheus and logs from stdout, so its OTel metrics/logs stay off,
        # and probes are not traced.
        telemetry={"metrics": False, "logs": False, "exclude": _is_probe},
    )
    app.state.lifecycle = lifecycle
    app.state.storage = storage
    include_routes(app)
    app.add_middleware(
        RequestContextMiddleware, quiet_paths=PROBE_PATHS, access_log=settings.ACCESS_LOG
    )
    return app
