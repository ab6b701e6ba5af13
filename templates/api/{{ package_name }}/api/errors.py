"""Error answers the framework gives that need correcting.

405: Starlette answers with the methods of the first route whose path matched, so
`DELETE /api/v1/orders` said `Allow: POST` while GET is served there too. RFC 9110 wants every
method of the resource: collected here from all routes of the path.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import Match


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at the request's path."""
    methods: set[str] = set()
    scope = {**request.scope, "method": "GET"}
    # Included routers are expanded into their routes (FastAPI >= 0.165 keeps them nested).
    for route in iter_route_contexts(app.routes):
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods.update(route.methods or ())
    return sorted(methods)


def add_error_handlers(app: FastAPI) -> None:
    async def on_http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if error.status_code == 405:
            headers = {**(error.headers or {}), "Allow": ", ".join(allowed_methods(app, request))}
            error = HTTPException(405, detail=error.detail, headers=headers)
        return await http_exception_handler(request, error)

    app.add_exception_handler(HTTPException, on_http_error)
