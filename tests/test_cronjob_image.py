"""The generated job's image, run the way its CronJob runs it: read-only root filesystem, all
capabilities dropped, UID 10001, against the real PostgreSQL on the host. The image's process is
PID 1, so SIGTERM from the container runtime reaches the job itself."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.support import container
from tests.support.render import render
from tests.support.services import fresh_database

pytestmark = pytest.mark.slow

RESTRICTED = ["--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges"]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    repo = render(tmp_path_factory.mktemp("cronjob-image") / "daily-report", "cronjob")
    built = container.build_image(repo, f"daily-report-test:{uuid.uuid4().hex[:8]}")
    yield built
    container.podman("rmi", "--force", built, check=False)


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("cronjob_image") as url:
        yield url


def run(image: str, *command: str, env: dict[str, str], detach: bool = False) -> str:
    """`podman run` as the CronJob's pod does; return the output (or the container name)."""
    name = f"daily-report-test-{uuid.uuid4().hex[:12]}"
    args = ["run", "--name", name, "--network=host", *RESTRICTED]
    args += ["--detach"] if detach else []
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    result = container.podman(*args, image, *command, check=False)
    if detach:
        return name
    container.podman("rm", "--force", name, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_image_migrates_runs_once_and_aborts_on_sigterm(image: str, database: str) -> None:
    """migrate, then a run SIGTERMed mid-transaction (exit 143, nothing committed), then the
    retry that completes the slot, all in the restricted container as UID 10001."""
    env = {"DATABASE_URL": database, "SLOT": "2026-11-25T02:00"}
    identity = run(image, "id", env={})
    assert identity.startswith("uid=10001(10001) gid=10001(10001)"), identity
    run(image, "/opt/venv/bin/python", "-m", "daily_report", "migrate", env=env)
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO orders (created_at, amount_cents) VALUES ('2026-11-24T10:00Z', 99)"
        )

    name = run(image, env={**env, "PAUSE_BEFORE_COMMIT": "60"}, detach=True)
    try:
        deadline = time.monotonic() + 60
        while "pausing before commit" not in container.podman("logs", name).stdout:
            assert time.monotonic() < deadline, container.podman("logs", name).stdout
            time.sleep(0.1)
        container.podman("kill", "--signal", "TERM", name)
        status = container.podman("wait", name, timeout=30).stdout.strip()
        assert status == "143", container.podman("logs", name).stdout
    finally:
        container.podman("rm", "--force", name, check=False)
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM daily_reports").fetchone() == (0,)

    out = run(image, env=env)
    assert '"outcome": "done"' in out, out
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT order_count, revenue_cents FROM daily_reports").fetchall()
    assert rows == [(1, 99)]
