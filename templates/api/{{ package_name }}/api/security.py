"""Bearer-token security for the routes, as one FastAPI dependency (RFC 6750 answers).

A route declares the scopes it needs with `Security(bearer_scheme, scopes=[...])` (the aliases
below); FastAPI then puts the bearer scheme and those scopes in the OpenAPI document, and
/docs gets an "Authorize" button. The scheme object is itself the dependency that checks the
token: one dependency per request rather than a check depending on a header reader (each level
of FastAPI's dependency resolution costs several microseconds on every request). Answers:
- no bearer token (no Authorization header, or another scheme): 401, `WWW-Authenticate: Bearer`;
- a malformed Authorization header: 400, `error="invalid_request"` (RFC 6750 section 3.1);
- a token that cannot be accepted: 401, `error="invalid_token"` and the reason;
- a valid token without a needed scope: 403, `error="insufficient_scope"` and the scopes needed;
- the issuer's keys unreachable and the token's key not cached: 503 with Retry-After.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase

from ..auth import ANONYMOUS, Authenticator, InvalidToken, KeysUnavailable, Principal

READ = "orders:read"
WRITE = "orders:write"

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _challenge(error: str | None = None, description: str | None = None, scope: str = "") -> str:
    params = [f'error="{error}"'] if error else []
    if description:
        params.append(f'error_description="{description}"')
    if scope:
        params.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(params) if params else "Bearer"


def _token(values: list[str]) -> str:
    """The bearer token of the request, or the RFC 6750 refusal."""
    if not values:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a bearer token is required",
            headers={"WWW-Authenticate": _challenge()},
        )
    if len(values) > 1:
        raise _invalid_request("more than one Authorization header")
    scheme, _, credentials = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        # Another authentication method: the client does not know this API wants a bearer token.
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a bearer token is required",
            headers={"WWW-Authenticate": _challenge()},
        )
    credentials = credentials.strip()
    if not _B64TOKEN.fullmatch(credentials):
        raise _invalid_request("the Authorization header is not 'Bearer <token>'")
    return credentials


def _invalid_request(description: str) -> HTTPException:
    return HTTPException(
        status.HTTP_400_BAD_REQUEST,
        detail=description,
        headers={"WWW-Authenticate": _challenge("invalid_request", description)},
    )


class BearerScheme(SecurityBase):
    """The JWT bearer scheme in OpenAPI, and the check of the request's token against it."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(
            bearerFormat="JWT",
            description="An access token (JWT) from the issuer named by AUTH_ISSUER.",
        )
        self.scheme_name = "bearer"

    async def __call__(self, request: Request, security_scopes: SecurityScopes) -> Principal:
        """The caller, once its token is valid and carries every scope the route declares."""
        authenticator: Authenticator = request.app.state.authenticator
        if not authenticator.enabled:
            return ANONYMOUS
        token = _token(request.headers.getlist("authorization"))
        try:
            principal = await authenticator.authenticate(token)
        except InvalidToken as error:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=f"invalid token: {error}",
                headers={"WWW-Authenticate": _challenge("invalid_token", str(error))},
            ) from None
        except KeysUnavailable as error:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="the token cannot be checked now: the issuer's keys are unreachable",
                headers={"Retry-After": str(max(1, math.ceil(error.retry_after)))},
            ) from None
        missing = [scope for scope in security_scopes.scopes if scope not in principal.scopes]
        if missing:
            needed = security_scopes.scope_str
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"the token lacks the scope {' '.join(missing)}",
                headers={
                    "WWW-Authenticate": _challenge(
                        "insufficient_scope", f"this needs the scope {needed}", needed
                    )
                },
            )
        return principal


bearer_scheme = BearerScheme()
# The name routes used before the scheme checked tokens itself: `Security(authorize, ...)`.
authorize = bearer_scheme


# What routes declare: the caller, allowed to read or to write orders.
OrdersReader = Annotated[Principal, Security(bearer_scheme, scopes=[READ])]
OrdersWriter = Annotated[Principal, Security(bearer_scheme, scopes=[WRITE])]
