"""Who may call the API: OAuth2 bearer JWTs checked against the issuer's JWKS.

`open_authenticator(settings)` does no I/O: it refuses unusable settings with a
ConfigurationError before the server starts. The keys are fetched once the app starts
(`start`, in the background) and when a token names a key not yet seen (jwks.py).
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

from ..settings import Settings
from ..storage.base import ConfigurationError
from .jwks import JwksCache, KeysUnavailable
from .tokens import InvalidToken, Principal, TokenVerifier

__all__ = [
    "ANONYMOUS",
    "Authenticator",
    "InvalidToken",
    "KeysUnavailable",
    "Principal",
    "open_authenticator",
]

logger = logging.getLogger(__name__)

# Who calls while authentication is switched off (AUTH_ENABLED=false); scopes are not checked.
ANONYMOUS = Principal(subject=None, scopes=frozenset())


class Authenticator:
    """Turns a bearer token into a Principal; `verifier` is None while authentication is off."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self.verifier = verifier

    @property
    def enabled(self) -> bool:
        return self.verifier is not None

    async def authenticate(self, token: str) -> Principal:
        if self.verifier is None:
            return ANONYMOUS
        return await self.verifier.verify(token)

    def start(self) -> None:
        """At every start: warn while off; otherwise begin fetching the keys (nobody waits)."""
        if self.verifier is None:
            logger.warning(
                "authentication is OFF (AUTH_ENABLED=false): every request is served "
                "without a token; never run like this where the network is shared"
            )
            return
        self.verifier.keys.refresh_in_background()

    async def close(self) -> None:
        if self.verifier is not None:
            await self.verifier.keys.close()


def _check_jwks_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return
    raise ConfigurationError(
        f"AUTH_JWKS_URL {url!r} must be an https:// URL (http:// only on localhost/127.0.0.1)"
    )


def open_authenticator(settings: Settings) -> Authenticator:
    """The authenticator `settings` describe. Raises ConfigurationError for unusable settings."""
    if not settings.AUTH_ENABLED:
        return Authenticator(None)
    issuer = settings.AUTH_ISSUER or ""
    audience = settings.AUTH_AUDIENCE or ""
    jwks_url = settings.AUTH_JWKS_URL or ""
    required = {"AUTH_ISSUER": issuer, "AUTH_AUDIENCE": audience, "AUTH_JWKS_URL": jwks_url}
    missing = [name for name, value in required.items() if not value]
    if missing:
        raise ConfigurationError(
            f"{', '.join(missing)} must be set while AUTH_ENABLED is true (the issuer's "
            "values; AUTH_ENABLED=false switches authentication off explicitly)"
        )
    _check_jwks_url(jwks_url)
    keys = JwksCache(
        jwks_url,
        timeout=settings.AUTH_JWKS_TIMEOUT,
        refresh_interval=settings.AUTH_JWKS_REFRESH_INTERVAL,
        max_age=settings.AUTH_JWKS_MAX_AGE,
    )
    return Authenticator(
        TokenVerifier(
            keys,
            issuer=issuer,
            audience=audience,
            algorithms=settings.AUTH_ALGORITHMS,
            leeway=settings.AUTH_LEEWAY,
        )
    )
