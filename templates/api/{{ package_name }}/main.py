"""Builds the FastAPI application: routes, middleware, and what starts and stops with it."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from . import SERVICE_NAME, __version__
from .api.errors import add_error_handlers
from .api.main import include_routes
from .api.outages import add_outage_handlers
from .api.overload import OverloadMiddleware
from .api.routes.health import PROBE_PATHS
from .auth import open_authenticator
from .caching import around_storage
from .observability.asgi import RequestContextMiddleware
from .observability.lifecycle import Lifecycle
from .relaying import beside_requests
from .settings import Settings
from .storage import open_storage

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider


def _is_probe(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in PROBE_PATHS


def create_app(
    settings: Settings,
    lifecycle: Lifecycle | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """The app; `lifecycle` is shared with the server, which marks it draining on SIGTERM;
    `tracer_provider`, when spans are exported (observability/tracing.py), traces requests.

    Raises ConfigurationError when the storage or authentication cannot work with `settings`
    (e.g. no DATABASE_URL, or AUTH_ENABLED without AUTH_ISSUER).
    """
    lifecycle = lifecycle or Lifecycle(check_timeout=settings.READINESS_TIMEOUT)
    storage = around_storage(open_storage(settings), settings)
    authenticator = open_authenticator(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for name, check in storage.readiness_checks.items():
            lifecycle.add_check(name, check)
        # Before /startupz says 200: what the store prepares (e.g. the DynamoDB client, whose
        # making costs ~0.5 s of CPU, which no request's deadline should pay).
        await storage.start()
        # Readiness does not wait for the issuer's keys: see README "Authentication".
        authenticator.start()
        lifecycle.mark_started()
        try:
            async with beside_requests(settings):  # the outbox relay, when there is one
                yield
        finally:
            # After the server has let in-flight requests finish: release the pools.
            await authenticator.close()
            await storage.close()

    app = FastAPI(
        title=SERVICE_NAME,
        version=__version__,
        lifespan=lifespan,
        # FastAPI traces requests itself when spans are exported, probes excepted. Otherwise
        # its telemetry is off outright: left on, it looks up OpenTelemetry's global providers
        # on every request to find out (~5% of the CPU of a read). Metrics come from
        # Prometheus and logs from stdout, so its OTel metrics and logs stay off.
        telemetry={
            "tracing": tracer_provider is not None,
            "tracer_provider": tracer_provider,
            "metrics": False,
            "logs": False,
            "exclude": _is_probe,
        },
    )
    app.state.lifecycle = lifecycle
    app.state.storage = storage
    app.state.authenticator = authenticator
    include_routes(app)
    # Added first, so it runs inside the request context: shed and timed-out requests get a
    # request id, metrics and an access log line like any other.
    app.add_middleware(
        OverloadMiddleware,
        timeout=settings.REQUEST_TIMEOUT,
        max_in_flight=settings.max_in_flight,
        exempt_paths=PROBE_PATHS,
    )
    add_error_handlers(app)
    add_outage_handlers(app, storage.outages)  # 503, not 500, while the database is away
    app.add_middleware(
        RequestContextMiddleware, quiet_paths=PROBE_PATHS, access_log=settings.ACCESS_LOG
    )
    return app
