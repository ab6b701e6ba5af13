"""A token issuer for local runs and tests: never for a deployment.

It makes an RSA key pair in memory (nothing is written to disk, no secret is in the repo), serves
the public half as a JWKS on 127.0.0.1, and mints tokens signed with the private half:

    python -m <package> dev-issuer          # prints the AUTH_* settings and a token

`GET /token?scope=orders:read` on it returns a fresh token, for scripts.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

SCOPES = ("orders:read", "orders:write")


class LocalIssuer:
    """An OAuth2 issuer on 127.0.0.1: a JWKS at /.well-known/jwks.json and tokens on demand."""

    def __init__(self, audience: str, port: int = 0) -> None:
        self.audience = audience
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.jwks_requests = 0  # how often the JWKS was fetched
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._hang = threading.Event()  # set: the JWKS answers nothing (a stuck issuer)
        self._release = threading.Event()

    # ------------------------------------------------------------------------------ settings

    @property
    def port(self) -> int:
        return self._port

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    def settings(self) -> dict[str, str]:
        """The AUTH_* environment a service needs to accept this issuer's tokens."""
        return {
            "AUTH_ENABLED": "true",
            "AUTH_ISSUER": self.issuer,
            "AUTH_AUDIENCE": self.audience,
            "AUTH_JWKS_URL": self.jwks_url,
        }

    # -------------------------------------------------------------------------------- tokens

    def rotate(self) -> None:
        """A new key pair replaces the old one: the JWKS names only the new key from now on."""
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(
        self,
        scopes: Iterable[str] = SCOPES,
        *,
        lifetime: float = 3600,
        headers: dict[str, Any] | None = None,
        key: Any = None,
        **claims: Any,
    ) -> str:
        """A signed access token; `claims` override the defaults (None removes one)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "local-developer",
            "iat": now,
            "exp": now + int(lifetime),
            "scope": " ".join(scopes),
            **claims,
        }
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(
            payload,
            key if key is not None else self.private_key,
            algorithm="RS256",
            headers={"kid": self.kid, **(headers or {})},
        )

    # ------------------------------------------------------------------------------- serving

    def start(self) -> LocalIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/.well-known/jwks.json":
                    issuer.jwks_requests += 1
                    if issuer._hang.is_set():
                        issuer._release.wait(30)
                        return
                    body = json.dumps(issuer.jwks()).encode()
                elif url.path == "/token":
                    scopes = parse_qs(url.query).get("scope", [" ".join(SCOPES)])[0].split()
                    body = issuer.token(scopes).encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the service's logs are the ones that matter

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving: the JWKS URL refuses connections (an issuer outage)."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def hang(self, hanging: bool = True) -> None:
        """While hanging, JWKS requests are accepted and never answered (a stuck issuer)."""
        if hanging:
            self._release.clear()
            self._hang.set()
        else:
            self._hang.clear()
            self._release.set()

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def serve(audience: str, port: int) -> int:
    """`python -m <package> dev-issuer`: serve until Ctrl-C, after printing how to use it."""
    with LocalIssuer(audience, port) as issuer:
        lines = [f"export {name}={value}" for name, value in issuer.settings().items()]
        print("# A local token issuer (dev only; its key lives in this process's memory).")
        print("# In the shell that runs the service:")
        print("\n".join(lines))
        print(f"# A token with the scopes {' '.join(SCOPES)}, valid for an hour:")
        print(f"export TOKEN={issuer.token()}")
        print(f"# More: curl -s '{issuer.issuer}/token?scope=orders:read'", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0
