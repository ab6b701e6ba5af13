"""Bearer-token authentication of the generated API as a real process (`python -m <package>`),
trusting a local issuer (tests/support/jwt_issuer.py: a JWKS served over HTTP on 127.0.0.1).

The generated repo's own tests (templates/api/tests/test_auth.py) cover every refusal through
the ASGI app; this proves what only a real process shows: the settings read from the
environment, the start-up refusal and warning as JSON log lines, the answers on the wire, the
metrics of refused requests, and an issuer that is down while the service starts.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api_fixtures import (  # noqa: F401  (the *_fixture names are pytest fixtures)
    ApiProject,
    database_factory_fixture,
    eventually,
    free_port,
    postgres_server_fixture,
    postgresql_api_database_fixture,
    postgresql_api_fixture,
    running_service,
)

pytestmark = pytest.mark.timeout(300)

ORDERS = "/api/v1/orders"
ORDER = {"customer_id": "auth", "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "1.00"}]}


def test_tokens_scopes_and_open_probes_on_the_wire(
    postgresql_api: ApiProject, postgresql_api_database: str, tmp_path: Path
) -> None:
    with running_service(postgresql_api, tmp_path, DATABASE_URL=postgresql_api_database) as service:
        service.wait_for("/readyz")
        issuer = service.issuer
        created = httpx.post(service.url + ORDERS, json=ORDER, headers=issuer.headers())
        assert created.status_code == 201, created.text
        read = httpx.get(service.url + created.headers["location"], headers=issuer.headers())
        assert read.json() == created.json()

        anonymous = httpx.get(service.url + ORDERS)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        forged = httpx.get(service.url + ORDERS, headers={"Authorization": "Bearer a.b.c"})
        assert forged.status_code == 401
        assert forged.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        reader = issuer.headers(["orders:read"])
        refused = httpx.post(service.url + ORDERS, json=ORDER, headers=reader)
        assert refused.status_code == 403
        assert 'scope="orders:write"' in refused.headers["www-authenticate"]

        for path in ("/healthz", "/readyz", "/startupz", "/metrics"):
            assert httpx.get(service.url + path).status_code == 200, path
        metrics = httpx.get(service.url + "/metrics").text
        assert 'route="/api/v1/orders",status="401"' in metrics
        assert 'method="POST",route="/api/v1/orders",status="403"' in metrics
        assert issuer.jwks_requests >= 1
        assert service.stop() == 0


def test_switched_off_it_says_so_in_a_warning_at_start(
    postgresql_api: ApiProject, postgresql_api_database: str, tmp_path: Path
) -> None:
    with running_service(
        postgresql_api, tmp_path, DATABASE_URL=postgresql_api_database, AUTH_ENABLED="false"
    ) as service:
        service.wait_for("/readyz")
        assert httpx.get(service.url + ORDERS).status_code == 200
        assert service.stop() == 0
    warnings = [r for r in service.log_records() if r["level"] == "WARNING"]
    assert any("authentication is OFF" in r["message"] for r in warnings), warnings


def test_on_without_an_issuer_it_refuses_to_start_with_one_json_line(
    postgresql_api: ApiProject, postgresql_api_database: str
) -> None:
    api = postgresql_api
    env = {
        "DATABASE_URL": postgresql_api_database,
        "AUTH_ENABLED": "true",
        "PORT": str(free_port()),
    }
    result = api.run(api.python, "-m", api.package, env=env, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stdout.splitlines()
    assert '"level": "ERROR"' in line
    assert "AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS_URL must be set" in line
    assert "Traceback" not in result.stdout + result.stderr


def test_issuer_down_at_start_ready_anyway_and_503_with_retry_after(
    postgresql_api: ApiProject, postgresql_api_database: str, tmp_path: Path
) -> None:
    """Chosen: readiness ignores the issuer; a token whose key cannot be fetched gets 503."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = {
        "DATABASE_URL": postgresql_api_database,
        "AUTH_ENABLED": "true",
        "AUTH_ISSUER": dead,
        "AUTH_AUDIENCE": "orders",
        "AUTH_JWKS_URL": dead + "/.well-known/jwks.json",
    }
    with running_service(postgresql_api, tmp_path, **env) as service:
        service.wait_for("/readyz")
        token = {"Authorization": f"Bearer {service.issuer.token()}"}
        response = httpx.get(service.url + ORDERS, headers=token)
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) >= 1
        eventually(
            lambda: any("cannot be fetched" in r["message"] for r in service.log_records()),
            10,
            "a WARNING naming the unreachable JWKS",
        )
        assert service.stop() == 0
