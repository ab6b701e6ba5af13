"""The generated API's Dockerfile builds, and the image runs the way pods run it.

Read-only root filesystem, all capabilities dropped, no privilege escalation: the service starts,
answers its probes against the real PostgreSQL (host network), logs JSON, and exits 0 on
`podman stop` (SIGTERM). Slow (an image build), but it runs in CI.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.api_fixtures import (  # noqa: F401  (the *_fixture names are pytest fixtures)
    ApiProject,
    api_project_for,
    database_factory_fixture,
    migrated_database,
    postgres_server_fixture,
)
from tests.support.container import build_image, free_port, podman, run_container

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def test_image_serves_and_stops_cleanly(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str]
) -> None:
    project: ApiProject = api_project_for("postgresql", tmp_path_factory)
    image = build_image(project.repo, f"newservice-api-test:{uuid.uuid4().hex[:8]}")
    try:
        _serve_and_stop(image, migrated_database(project, database_factory))
    finally:
        podman("rmi", "--force", image, check=False)


def _serve_and_stop(image: str, url: str) -> None:
    port = free_port()
    with run_container(
        image,
        port=port,
        # Authentication is not the subject here (tests/test_api_auth_live.py covers it live).
        env={
            "PORT": str(port),
            "DATABASE_URL": url,
            "SHUTDOWN_TIMEOUT": "10",
            "AUTH_ENABLED": "false",
        },
        host_network=True,
        stop_timeout=30,
    ) as running:
        running.wait_http("/readyz", timeout=60)
        assert httpx.get(running.url + "/healthz").json() == {"status": "ok"}
        created = httpx.post(
            running.url + "/api/v1/orders",
            json={"customer_id": "c", "items": [{"sku": "A", "quantity": 1, "unit_price": "1"}]},
        )
        assert created.status_code == 201, created.text
    assert running.exit_code == 0, running.logs
    assert running.stop_seconds is not None and running.stop_seconds < 10, running.stop_seconds
    lines = [line for line in running.logs.splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line
