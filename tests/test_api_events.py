"""The api template with the events and cache answers, as its users meet it: the generated repo's
own tests pass against the real database and cache (CI set: a missing server fails, not skips),
ruff and mypy pass, the manifests, platform resources and workflow validate, and the answers reach
the NetworkPolicy, compose, CI and the architecture diagram.

Cells share their renders' dependency sets with tests/test_system.py (same venvs). MySQL runs on
MariaDB here (MySQL-8-only behaviour is not proven); MongoDB on nx-27017 (its transactions run
without the replica set a real MongoDB needs for them); DynamoDB on a moto server, which supports
TransactWriteItems (dynalite, the API's other stand-in, does not). The broker itself is not
needed by the generated tests (their relay publishes to a recording publisher; test_system.py
proves each broker module against its real broker).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.checks import lint_python, validate_manifests, validate_workflows
from tests.support.dynamodb import DynamoEndpoint, moto_dynamodb
from tests.support.render import render
from tests.support.services import is_listening, require
from tests.support.venv import run_in, venv_for

# (database, events, cache): the outbox in every system of record, each with one broker.
CELLS = [
    ("postgresql", "rabbitmq", "redis"),
    ("mysql", "redis", "redis"),
    ("mongodb", "redis", "redis"),
    ("dynamodb", "nats", "redis"),
    ("postgresql", "none", "memcached"),
]
SERVERS = {"postgresql": "postgresql", "mysql": "mariadb", "mongodb": "mongodb"}
DIAGRAM_NAMES = {
    "postgresql": "PostgreSQL",
    "mysql": "MySQL",
    "mongodb": "MongoDB",
    "dynamodb": "DynamoDB",
}
BROKER_PORTS = {"rabbitmq": 5672, "redis": 6379, "nats": 4222}
CACHE_URLS = {"redis": "redis://127.0.0.1:6379/0", "memcached": "memcached://127.0.0.1:11211"}

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module", params=CELLS, ids=["-".join(cell) for cell in CELLS])
def cell(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[tuple[str, str, str], Path, Path]:
    database, events, cache = request.param
    repo = render(
        tmp_path_factory.mktemp("api-events") / "orders",
        "api",
        service_name="orders",
        database=database,
        events=events,
        cache=cache,
    )
    return request.param, repo, venv_for(repo)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoEndpoint]:
    """A moto server for the DynamoDB cell (started on its first use)."""
    with moto_dynamodb(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


def test_its_own_tests_pass(
    cell: tuple[tuple[str, str, str], Path, Path], request: pytest.FixtureRequest
) -> None:
    (database, _, cache), repo, venv = cell
    if database == "dynamodb":
        endpoint: DynamoEndpoint = request.getfixturevalue("moto")
        database_env = endpoint.environment()
    else:
        database_env = {"DATABASE_URL": require(SERVERS[database])}
    if cache == "memcached" and not is_listening("127.0.0.1", 11211):
        pytest.fail("memcached is not listening on 11211: .ci/services.sh starts it")
    env = {**database_env, "CACHE_URL": CACHE_URLS[cache], "CI": "true"}
    result = run_in(
        repo,
        venv,
        str(venv / "bin" / "python"),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        env=env,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]


def test_ruff_mypy_manifests_and_workflow(cell: tuple[tuple[str, str, str], Path, Path]) -> None:
    _, repo, venv = cell
    lint_python(repo, venv)
    validate_manifests(repo)
    validate_manifests(repo, "deploy/platform")
    validate_workflows(repo)


def test_the_answers_reach_policy_compose_ci_alerts_and_diagram(
    cell: tuple[tuple[str, str, str], Path, Path],
) -> None:
    (database, events, cache), repo, _ = cell
    policy = yaml.safe_load((repo / "deploy/k8s/networkpolicy.yaml").read_text())
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {6379 if cache == "redis" else 11211} <= ports
    if events != "none":
        assert BROKER_PORTS[events] in ports
    compose = yaml.safe_load((repo / "compose.yaml").read_text())["services"]
    assert cache in compose
    assert compose["orders"]["environment"]["CACHE_URL"].startswith(f"{cache}://{cache}:")
    workflow = yaml.safe_load((repo / ".github/workflows/ci.yml").read_text())
    test_job = workflow["jobs"]["test"]
    assert cache in test_job["services"]
    assert test_job["env"]["CACHE_URL"] == CACHE_URLS[cache]
    alerts = (repo / "deploy/platform/alerts.yaml").read_text()
    assert ("OutboxBacklogOld" in alerts) == (events != "none")
    readme = (repo / "README.md").read_text()
    diagram = readme.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert "cache-aside" in diagram
    assert ("outbox relay" in diagram) == (events != "none")
    assert DIAGRAM_NAMES[database] in diagram


@pytest.mark.parametrize(("database", "reason"), [("none", "needs a database")])
def test_events_without_a_transactional_database_is_refused(
    tmp_path: Path, database: str, reason: str
) -> None:
    """One sentence on stderr naming the field, exit 2, nothing written."""
    from newservice.cli import app
    from typer.testing import CliRunner

    dest = tmp_path / "svc"
    args = ["create", "svc", "--output", str(dest), "--type", "api", "--defaults"]
    args += ["--data", f"database={database}", "--data", "events=kafka"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "events 'kafka'" in result.output and reason in result.output
    assert not dest.exists()
