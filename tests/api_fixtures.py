"""What the API template's tests share: rendered repos with their venvs, fresh PostgreSQL and
MySQL databases (MySQL on the MariaDB server: no MySQL 8 server exists on these machines),
MongoDB on its stand-in nx-27017 and DynamoDB on dynalite (tests/support/services.py and
dynamodb.py say what each stand-in cannot prove), and the generated service as a real process
(the TCP proxy that cuts or slows its link to the database is tests/support/proxy.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.dynamodb import DynamoEndpoint, dynalite
from tests.support.jwt_issuer import JwtIssuer, issuer_for
from tests.support.render import render
from tests.support.services import SERVICES, fresh_database, fresh_mysql_database, require
from tests.support.venv import run_in, venv_for

# One rendered repo per database; the names differ so that a '-' -> '_' package is exercised too.
CELLS: dict[str, dict[str, Any]] = {
    "postgresql": {"service_name": "orders", "database": "postgresql"},
    "mysql": {"service_name": "orders-my", "database": "mysql"},
    "none": {"service_name": "orders-mem", "database": "none"},
    "mongodb": {"service_name": "orders-mongo", "database": "mongodb"},
    "dynamodb": {"service_name": "orders-dynamo", "database": "dynamodb"},
}
# database -> the real server its tests run on (tests/support/services.py); MySQL is tested on
# MariaDB 10.11, the SQL being what both accept; MongoDB on nx-27017. DynamoDB: a dynalite of the
# session (dynamodb_endpoint below).
SERVERS = {"postgresql": "postgresql", "mysql": "mariadb", "mongodb": "mongodb"}


@dataclass(frozen=True)
class ApiProject:
    """A rendered API repo and the venv holding its dependencies (the repo goes on PYTHONPATH)."""

    database: str
    repo: Path
    venv: Path

    @property
    def package(self) -> str:
        return str(CELLS[self.database]["service_name"]).replace("-", "_")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_in(self.repo, self.venv, *args, **kwargs)


_projects: dict[str, ApiProject] = {}


def api_project_for(database: str, tmp_path_factory: pytest.TempPathFactory) -> ApiProject:
    """Render the cell for `database` once per test process and give it its venv."""
    if database not in _projects:
        repo = render(tmp_path_factory.mktemp(f"api-{database}") / "repo", "api", **CELLS[database])
        _projects[database] = ApiProject(database, repo, venv_for(repo))
    return _projects[database]


# ---------------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session", name="postgres_server")
def postgres_server_fixture() -> str:
    """URL of the real PostgreSQL server (skip without it; fail under CI)."""
    return require("postgresql")


@pytest.fixture(scope="session", name="database_factory")
def database_factory_fixture(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Makes empty databases with unique names on the real server; drops them at the end."""
    with ExitStack() as databases:
        yield lambda: databases.enter_context(fresh_database("api"))


@pytest.fixture(scope="session", name="mysql_database_factory")
def mysql_database_factory_fixture() -> Iterator[Callable[[], str]]:
    """Makes empty databases with unique names on the real MariaDB; drops them at the end."""
    require("mariadb")
    with ExitStack() as databases:
        yield lambda: databases.enter_context(fresh_mysql_database("api"))


@pytest.fixture(scope="session", name="mongodb_database_factory")
def mongodb_database_factory_fixture() -> Iterator[Callable[[], str]]:
    """Names unique databases on the MongoDB stand-in (created by the first write); drops them."""
    server = require("mongodb")
    names: list[str] = []

    def create() -> str:
        names.append(f"api_{uuid.uuid4().hex[:12]}")
        return server.rsplit("/", 1)[0] + f"/{names[-1]}"

    yield create
    from pymongo import MongoClient

    with MongoClient(server, serverSelectionTimeoutMS=5000) as client:
        for name in names:
            client.drop_database(name)


@pytest.fixture(scope="session", name="dynamodb_endpoint")
def dynamodb_endpoint_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DynamoEndpoint]:
    """dynalite for this session (tests/support/dynamodb.py)."""
    with dynalite(tmp_path_factory.mktemp("dynalite")) as endpoint:
        yield endpoint


def database_environment(project: ApiProject, request: pytest.FixtureRequest) -> dict[str, str]:
    """What the generated repo's own tests need to reach their database (none for `none`)."""
    if project.database == "dynamodb":
        endpoint: DynamoEndpoint = request.getfixturevalue("dynamodb_endpoint")
        return endpoint.environment()
    if project.database == "none":
        return {}
    return {"DATABASE_URL": require(SERVERS[project.database])}


def server_address(database: str) -> tuple[str, int]:
    """Host and port of the real server a `database` cell's tests use."""
    host, port, _ = SERVICES[SERVERS[database]]
    return host, port


def migrated_database(project: ApiProject, database_factory: Callable[[], str]) -> str:
    """A new database with the service's migrations applied by `python -m <pkg> migrate`."""
    url = database_factory()
    result = project.run(
        project.python, "-m", project.package, "migrate", env={"DATABASE_URL": url}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return url


@pytest.fixture(scope="module", name="postgresql_api")
def postgresql_api_fixture(tmp_path_factory: pytest.TempPathFactory) -> ApiProject:
    """The API rendered on PostgreSQL, with its venv: the live tests' usual subject."""
    return api_project_for("postgresql", tmp_path_factory)


@pytest.fixture(name="postgresql_api_database")
def postgresql_api_database_fixture(
    postgresql_api: ApiProject, database_factory: Callable[[], str]
) -> str:
    """A new PostgreSQL database migrated by the API's own `migrate`, for one test."""
    return migrated_database(postgresql_api, database_factory)


# ---------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(check: Callable[[], bool], within: float, what: str) -> None:
    """Poll `check` until it holds; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:g} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Service:
    """`python -m <package>` as a real process, its stdout kept in a file."""

    project: ApiProject
    env: dict[str, str]
    stdout_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> JwtIssuer:
        """The local issuer this service trusts (unless its env says AUTH_ENABLED=false)."""
        return issuer_for(str(CELLS[self.project.database]["service_name"]))

    @property
    def auth(self) -> dict[str, str]:
        """An Authorization header with a token carrying orders:read and orders:write."""
        return self.issuer.headers()

    def start(self) -> None:
        # Tracing only when a test asks for it, whatever the machine's environment says.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        # Authentication on, trusting the test issuer, unless the test sets AUTH_* itself.
        auth = {} if "AUTH_ENABLED" in self.env else self.issuer.settings()
        env = {
            **inherited,
            **auth,
            **self.env,
            "PORT": str(self.port),
            "PYTHONPATH": str(self.project.repo),
            "VIRTUAL_ENV": str(self.project.venv),
        }
        self.started_at = time.monotonic()
        with self.stdout_path.open("wb") as out:
            self.process = subprocess.Popen(
                [self.project.python, "-m", self.project.package],
                cwd=self.project.repo,
                env=env,
                stdout=out,
                stderr=subprocess.PIPE,
            )

    def get(self, path: str, timeout: float = 5) -> httpx.Response:
        """GET with a valid token (probes and /metrics ignore it)."""
        return httpx.get(self.url + path, timeout=timeout, headers=self.auth)

    def answers(self, path: str, status: int) -> bool:
        assert self.process is not None and self.process.poll() is None, self.output()
        try:
            return self.get(path, timeout=2).status_code == status
        except httpx.TransportError:
            return False

    def wait_for(self, path: str, status: int = 200, within: float = 30) -> None:
        eventually(lambda: self.answers(path, status), within, f"{path} -> {status}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and the exit status (SIGKILL and fail if it does not exit in `timeout`)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the service did not exit within {timeout} s of SIGTERM")

    def stderr(self) -> str:
        """What the stopped process wrote to stderr."""
        assert self.process is not None and self.process.poll() is not None
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace")

    def output(self) -> str:
        stderr = b""
        if self.process is not None and self.process.poll() is not None and self.process.stderr:
            stderr = self.process.stderr.read()
        return self.stdout_path.read_text() + stderr.decode(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """Every stdout line parsed as JSON (fails on the first line that is not one object)."""
        records = []
        for number, line in enumerate(self.stdout_path.read_text().splitlines(), 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"stdout line {number} is not JSON: {line!r}")
            assert isinstance(record, dict), f"stdout line {number} is not an object: {line!r}"
            records.append(record)
        return records


@contextlib.contextmanager
def running_service(project: ApiProject, tmp_path: Path, **env: str) -> Iterator[Service]:
    """Start the service; on exit stop it if still running (SIGTERM, then SIGKILL)."""
    service = Service(project, env, tmp_path / f"stdout-{uuid.uuid4().hex[:8]}.log")
    service.start()
    try:
        yield service
    finally:
        if service.process is not None and service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
            try:
                service.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
