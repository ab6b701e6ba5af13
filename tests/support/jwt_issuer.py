"""A local OAuth2 token issuer for the tests that drive a generated API with authentication on.

It makes an RSA key in memory, serves the public half as a JWKS on a free 127.0.0.1 port (in a
thread) and mints RS256 tokens; `settings()` gives the AUTH_* environment that makes a service
trust it. The generated repos carry their own (`<package>.auth.dev_issuer`), this one serves
newservice's tests, which run the services in other venvs and processes.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

SCOPES = ("orders:read", "orders:write")


class JwtIssuer:
    def __init__(self, audience: str) -> None:
        self.audience = audience
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        body = json.dumps({"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]})
        self._jwks = body.encode()
        self.jwks_requests = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/.well-known/jwks.json":
                    self.send_error(404)
                    return
                issuer.jwks_requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(issuer._jwks)))
                self.end_headers()
                self.wfile.write(issuer._jwks)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> dict[str, str]:
        """The environment that makes a generated API trust this issuer."""
        return {
            "AUTH_ENABLED": "true",
            "AUTH_ISSUER": self.issuer,
            "AUTH_AUDIENCE": self.audience,
            "AUTH_JWKS_URL": f"{self.issuer}/.well-known/jwks.json",
            # The issuer answers from a thread of the test process, on a loaded machine.
            "AUTH_JWKS_TIMEOUT": "10",
        }

    def token(self, scopes: Iterable[str] = SCOPES, lifetime: float = 3600) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "newservice-tests",
            "iat": now,
            "exp": now + int(lifetime),
            "scope": " ".join(scopes),
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})

    def headers(self, scopes: Iterable[str] = SCOPES) -> dict[str, str]:
        """An Authorization header with a fresh token."""
        return {"Authorization": f"Bearer {self.token(scopes)}"}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_issuers: dict[str, JwtIssuer] = {}


def issuer_for(audience: str) -> JwtIssuer:
    """One issuer per audience for the test process, started on first use."""
    if audience not in _issuers:
        _issuers[audience] = JwtIssuer(audience)
    return _issuers[audience]
