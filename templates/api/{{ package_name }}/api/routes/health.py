"""Probes for Kubernetes and the Prometheus endpoint (left out of the OpenAPI document).

The bodies are built by hand: these run every few seconds on every pod, and a JSON response
through the full validation/serialisation path would cost more than the answer is worth.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request, Response

from ...observability.lifecycle import Lifecycle
from ...observability.metrics import exposition

PROBE_PATHS = ("/healthz", "/readyz", "/startupz", "/metrics")


def _lifecycle(request: Request) -> Lifecycle:
    # Read from the app state directly rather than through Depends(): probes are called often
    # and dependency resolution would be most of their cost.
    lifecycle: Lifecycle = request.app.state.lifecycle
    return lifecycle


def _json(ok: bool, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status_code=200 if ok else 503, media_type="application/json")


async def healthz(request: Request) -> Response:
    """Liveness: 200 while the process can serve. Never checks dependencies."""
    return _json(*_lifecycle(request).liveness())


async def startupz(request: Request) -> Response:
    """Startup: 200 once initialisation has finished."""
    return _json(*_lifecycle(request).startup())


async def readyz(request: Request) -> Response:
    """Readiness: 200 when every dependency answers and the service is not draining."""
    return _json(*(await _lifecycle(request).readiness()))


async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    body, content_type = exposition()
    return Response(body, media_type=content_type)


def add_probe_routes(app: FastAPI) -> None:
    """Plain Starlette routes (the endpoint gets the request, nothing else): FastAPI's own
    routes would resolve dependencies, validate and serialise for every probe, about a tenth of
    a /healthz request's CPU, for endpoints that take no parameters and build their answers."""
    for path, endpoint in (
        ("/healthz", healthz),
        ("/readyz", readyz),
        ("/startupz", startupz),
        ("/metrics", metrics),
    ):
        app.add_route(path, endpoint, methods=["GET"], include_in_schema=False)
