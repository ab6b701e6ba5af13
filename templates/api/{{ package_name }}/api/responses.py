"""The answers every /api route may give besides its own, for the OpenAPI document.

Each route passes `responses=` with these so that the document lists every status it can
return (a generated client, or a test that reads the document, then knows them all).
"""

from __future__ import annotations

from typing import Any

from fastapi import Response, status
from pydantic import BaseModel


class Problem(BaseModel):
    """An error answer: what went wrong, for a person to read."""

    detail: str


def _answer(description: str, **headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"model": Problem, "description": description}
    if headers:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return answer


_CHALLENGE = "Bearer, with the RFC 6750 error code when there is one"

# Bearer-token answers (api/security.py).
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: _answer(
        "Malformed Authorization header (RFC 6750 invalid_request).",
        **{"WWW-Authenticate": _CHALLENGE},
    ),
    status.HTTP_401_UNAUTHORIZED: _answer(
        "No bearer token, or one that cannot be accepted (invalid_token).",
        **{"WWW-Authenticate": _CHALLENGE},
    ),
    status.HTTP_403_FORBIDDEN: _answer(
        "The token lacks a scope this operation needs (insufficient_scope).",
        **{"WWW-Authenticate": _CHALLENGE},
    ),
}

# Answers of the service as a whole: overload and deadline (and the issuer's keys unreachable).
SERVICE_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_503_SERVICE_UNAVAILABLE: _answer(
        "Over capacity, the database cannot be reached, or the token cannot be checked now;"
        " retry after Retry-After seconds.",
        **{"Retry-After": "seconds to wait before retrying"},
    ),
    status.HTTP_504_GATEWAY_TIMEOUT: _answer("The request did not finish within REQUEST_TIMEOUT."),
}

# What every /api route adds to its own answers.
API_RESPONSES: dict[int | str, dict[str, Any]] = {**AUTH_RESPONSES, **SERVICE_RESPONSES}


def model_response(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """`model` as JSON, byte for byte what FastAPI sends for `response_model=type(model)`, but
    serialised once by pydantic's Rust core instead of validated again first."""
    body = model.__pydantic_serializer__.to_json(model)
    return Response(body, status_code, headers, media_type="application/json")
