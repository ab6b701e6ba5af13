"""Checking one bearer token: a JWT signed by the issuer, for this API, valid now.

PyJWT does the cryptography and the claim checks; this module decides what is acceptable:
- the header's `alg` must be on the allow-list (asymmetric only: never `none`, never HS*, so
  a token "signed" with the issuer's public key as an HMAC secret is refused before any key is
  looked up), and it must match the key's own `alg` when the JWK names one;
- the key is found by the header's `kid` in the issuer's JWKS (jwks.py), never taken from the
  token (`jwk`, `jku`, `x5u` headers are ignored);
- `exp`, `iss` and `aud` are required and checked; `nbf` and `iat` are checked when present.

A client sends the same token with every request until it expires: the outcome of a successful
check is kept (up to CACHE_SIZE tokens) until the token's `exp` or until the issuer's key set
changes, so that the signature is verified once per token, not once per request.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from .jwks import JwksCache

# RFC 6750 section 3: error_description may not hold '"' or '\\' or control characters.
CACHE_SIZE = 4096

_UNSAFE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


class InvalidToken(Exception):
    """The token cannot be accepted; the message says why (safe for a response header)."""

    def __init__(self, reason: str) -> None:
        super().__init__(_UNSAFE.sub("'", reason))


@dataclass(frozen=True)
class Principal:
    """Who called: the token's subject, its scopes and every claim."""

    subject: str | None
    scopes: frozenset[str]
    claims: Mapping[str, Any] = field(default_factory=dict)


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """OAuth2's space-separated `scope` (RFC 8693); `scp` as some issuers write it (list or str)."""
    value = claims.get("scope", claims.get("scp", ""))
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


class TokenVerifier:
    def __init__(
        self,
        keys: JwksCache,
        *,
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...],
        leeway: float,
    ) -> None:
        self.keys = keys
        self._issuer = issuer
        self._audience = audience
        self._algorithms = frozenset(algorithms)
        self._leeway = leeway
        # token -> (principal, expiry on this clock, key-set generation it was checked with)
        self._verified: OrderedDict[str, tuple[Principal, float, int]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        """The token's principal. Raises InvalidToken, or KeysUnavailable (jwks.py)."""
        known = self._verified.get(token)
        if known is not None:
            principal, expires, generation = known
            if time.time() < expires and generation == self.keys.generation:
                return principal
            del self._verified[token]
        generation = self.keys.generation
        principal = await self._check(token)
        self._verified[token] = (
            principal,
            float(principal.claims["exp"]) + self._leeway,
            generation,
        )
        if len(self._verified) > CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    async def _check(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken(f"the token is not a JWT: {error}") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in self._algorithms:
            raise InvalidToken(f"the token's algorithm {algorithm!s} is not accepted")
        if not isinstance(kid, str):
            raise InvalidToken("the token names no signing key (kid)")
        key = await self.keys.get(kid)
        if key is None:
            raise InvalidToken("the token's signing key (kid) is not one of the issuer's")
        if key.algorithm is not None and key.algorithm != algorithm:
            raise InvalidToken("the token's algorithm does not match its signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key.key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error) or type(error).__name__) from None
        subject = claims.get("sub")
        return Principal(
            subject=subject if isinstance(subject, str) else None,
            scopes=scopes_of(claims),
            claims=claims,
        )
