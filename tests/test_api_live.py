"""The generated API as a real process (`python -m <package>`): probes, metrics, JSON stdout,
SIGTERM under load, and a database outage through a proxy that is cut and restored.

MySQL runs on the MariaDB 10.11 server of this machine: no MySQL 8 server exists here, so these
prove the service against MariaDB's wire protocol and SQL, not against MySQL 8 itself. MongoDB
runs on nx-27017 (MongoDB's wire protocol over SQLite, one node: no replica set elections or
failover are proven), DynamoDB on dynalite (DynamoDB's HTTP API, no AWS throttling, latency or
eventually consistent index): the outage and SIGTERM tests prove the service's own behaviour
(readiness, recovery of its client, draining) with their real clients over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api_fixtures import (  # noqa: F401  (the *_fixture names are pytest fixtures)
    CELLS,
    ApiProject,
    Service,
    api_project_for,
    database_factory_fixture,
    dynamodb_endpoint_fixture,
    migrated_database,
    mongodb_database_factory_fixture,
    mysql_database_factory_fixture,
    postgres_server_fixture,
    running_service,
    server_address,
)
from tests.support.dynamodb import DynamoEndpoint
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.timeout(600)

ORDER = {"customer_id": "load", "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}
SHUTDOWN_TIMEOUT = 20  # seconds: the drain budget given to the service in these tests
CONCURRENCY = 64


@pytest.fixture(scope="module", params=sorted(CELLS))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ApiProject:
    return api_project_for(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def pg_project(tmp_path_factory: pytest.TempPathFactory) -> ApiProject:
    return api_project_for("postgresql", tmp_path_factory)


@pytest.fixture(scope="module", params=["dynamodb", "mongodb", "mysql", "postgresql"])
def sql_project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> ApiProject:
    """Each database's cell (mysql on MariaDB, mongodb on nx-27017, dynamodb on dynalite)."""
    return api_project_for(request.param, tmp_path_factory)


# database -> the fixture that makes fresh databases on its real server
FACTORIES = {
    "postgresql": "database_factory",
    "mysql": "mysql_database_factory",
    "mongodb": "mongodb_database_factory",
}


def _address(project: ApiProject, request: pytest.FixtureRequest) -> tuple[str, int]:
    """Host and port of the server the cell's service talks to (what a proxy stands before)."""
    if project.database == "dynamodb":
        endpoint: DynamoEndpoint = request.getfixturevalue("dynamodb_endpoint")
        return endpoint.host, endpoint.port
    return server_address(project.database)


def _dynamodb_environment(
    project: ApiProject, request: pytest.FixtureRequest, proxy: TcpProxy | None
) -> dict[str, str]:
    """A new table made by `migrate` (DYNAMODB_CREATE_TABLE), reached through the proxy if any."""
    endpoint: DynamoEndpoint = request.getfixturevalue("dynamodb_endpoint")
    table = {"DYNAMODB_TABLE": f"orders-{uuid.uuid4().hex[:12]}"}
    create = {**endpoint.environment(), **table, "DYNAMODB_CREATE_TABLE": "true"}
    result = project.run(project.python, "-m", project.package, "migrate", env=create)
    assert result.returncode == 0, result.stdout + result.stderr
    via = None if proxy is None else f"http://127.0.0.1:{proxy.port}"
    return {**endpoint.environment(via), **table}


def _environment(
    project: ApiProject, request: pytest.FixtureRequest, proxy: TcpProxy | None = None
) -> dict[str, str]:
    # AUTH_ENABLED: these tests are about the database; auth is tested on its own.
    env = {"SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT), "LOG_LEVEL": "INFO", "AUTH_ENABLED": "false"}
    if project.database == "dynamodb":
        env |= _dynamodb_environment(project, request, proxy)
    if project.database in FACTORIES:
        factory: Callable[[], str] = request.getfixturevalue(FACTORIES[project.database])
        url = migrated_database(project, factory)
        if proxy is not None:  # the same database, reached through the proxy
            host, port = server_address(project.database)
            url = url.replace(f"{host}:{port}", f"127.0.0.1:{proxy.port}")
        env["DATABASE_URL"] = url
    return env


def _metrics(service: Service) -> dict[str, object]:
    families = text_string_to_metric_families(service.get("/metrics").text)
    return {family.name: family for family in families}


def _in_progress(service: Service) -> float:
    family = _metrics(service)["http_requests_in_progress"]
    return float(family.samples[0].value)  # type: ignore[attr-defined]


class TestLiveProcess:
    def test_probes_metrics_and_json_stdout(
        self, project: ApiProject, request: pytest.FixtureRequest, tmp_path: Path
    ) -> None:
        """Started for real: probes answer, /metrics parses, every stdout line is JSON."""
        env = _environment(project, request)
        with running_service(project, tmp_path, **env) as service:
            service.wait_for("/startupz")
            service.wait_for("/readyz")
            assert service.get("/healthz").json() == {"status": "ok"}
            ready = service.get("/readyz").json()
            assert ready["status"] == "ok"
            if project.database != "none":
                assert ready["checks"] == {"database": "ok"}
            created = httpx.post(
                service.url + "/api/v1/orders",
                json=ORDER,
                headers={"X-Request-ID": "live-1", **service.auth},
            )
            assert created.status_code == 201
            assert created.headers["x-request-id"] == "live-1"
            assert service.get(f"/api/v1/orders/{created.json()['id']}").status_code == 200
            assert service.get(f"/api/v1/orders/{uuid.uuid4()}").status_code == 404
            assert (
                service.get("/openapi.json").json()["info"]["title"]
                == CELLS[project.database]["service_name"]
            )

            families = _metrics(service)
            requests = families["http_requests"]  # the parser drops the counter's _total
            samples = {
                (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
                for s in requests.samples  # type: ignore[attr-defined]
                if s.name == "http_requests_total"
            }
            assert samples[("POST", "/api/v1/orders", "201")] == 1
            assert samples[("GET", "/api/v1/orders/{order_id}", "404")] == 1
            assert families["http_request_duration_seconds"].type == "histogram"  # type: ignore[attr-defined]
            assert "http_requests_in_progress" in families
            build = families["build_info"].samples[0]  # type: ignore[attr-defined]
            assert build.labels["service"] == CELLS[project.database]["service_name"]
            assert service.stop() == 0

        records = service.log_records()
        assert records, "the service wrote nothing to stdout"
        for record in records:
            assert {"time", "level", "message", "logger"} <= record.keys(), record
        access = [r for r in records if r["logger"] == "access"]
        post = next(r for r in access if r["method"] == "POST")
        assert post["request_id"] == "live-1"
        assert post["status"] == 201
        assert not [r for r in access if r["path"] in ("/healthz", "/readyz", "/metrics")]


class TestTracing:
    def test_otel_variables_switch_on_spans_that_logs_refer_to(
        self, sql_project: ApiProject, request: pytest.FixtureRequest, tmp_path: Path
    ) -> None:
        """OTEL_TRACES_EXPORTER=console: the request and its query are spans (on stderr), and
        the access log line carries the request's trace id."""
        env = {**_environment(sql_project, request), "OTEL_TRACES_EXPORTER": "console"}
        with running_service(sql_project, tmp_path, **env) as service:
            service.wait_for("/readyz")
            created = httpx.post(service.url + "/api/v1/orders", json=ORDER, headers=service.auth)
            assert created.status_code == 201
            assert service.stop() == 0
        spans = [json.loads(line) for line in service.stderr().splitlines() if line.startswith("{")]
        access = next(r for r in service.log_records() if r.get("method") == "POST")
        trace = [s for s in spans if s["context"]["trace_id"] == "0x" + access["trace_id"]]
        assert any(s["name"].startswith("POST /api/v1/orders") for s in trace), spans
        system = sql_project.database  # each instrumentation names its database so
        assert any(s["attributes"].get("db.system") == system for s in trace), trace
        assert not [s for s in spans if "/readyz" in s["name"]], "probes are not traced"


class TestSigtermUnderLoad:
    def test_every_accepted_request_completes_and_the_process_exits_0(
        self, sql_project: ApiProject, request: pytest.FixtureRequest, tmp_path: Path
    ) -> None:
        """64 requests in flight on a stalled database, then SIGTERM, then the database answers.

        Readiness fails at once, every request accepted before the signal completes with 2xx,
        new connections are refused, and the process exits 0 within SHUTDOWN_TIMEOUT.
        """
        with TcpProxy(*_address(sql_project, request)) as proxy:
            env = _environment(sql_project, request, proxy)
            env |= {"DATABASE_POOL_SIZE": "20", "DATABASE_MAX_OVERFLOW": "0"}
            # The drain, not the deadline, is under test: the stall outlasts REQUEST_TIMEOUT's
            # default (test_api_overload.py tests the deadline).
            env["REQUEST_TIMEOUT"] = str(SHUTDOWN_TIMEOUT)
            with running_service(sql_project, tmp_path, **env) as service:
                service.wait_for("/readyz")
                outcome = asyncio.run(_load_then_sigterm(service, proxy))
            assert outcome.exit_code == 0, service.output()
            assert outcome.exit_seconds <= SHUTDOWN_TIMEOUT, outcome.exit_seconds

        before = outcome.before_sigterm
        assert len(before) == CONCURRENCY, "precondition: exactly the first wave was in flight"
        assert all(200 <= status < 300 for status in before), before  # type: ignore[operator]
        # After the signal: refused at connect (never half-served, never a 5xx).
        assert outcome.after_sigterm, "the load generator kept trying after SIGTERM"
        assert set(outcome.after_sigterm) == {"ConnectError"}, outcome.after_sigterm
        # Readiness never says "ready" again: 503, or no connection at all.
        assert outcome.readiness_after_sigterm != 200, outcome.readiness_after_sigterm
        records = service.log_records()
        assert any(r["message"] == "received SIGTERM: draining" for r in records)
        assert any(r["message"] == "Application shutdown complete." for r in records)


class _Outcome:
    def __init__(self) -> None:
        self.before_sigterm: list[int | str] = []
        self.after_sigterm: list[int | str] = []
        self.readiness_after_sigterm: int | str = "not asked"
        self.exit_code: int | None = None
        self.exit_seconds = 0.0


async def _load_then_sigterm(service: Service, proxy: TcpProxy) -> _Outcome:
    outcome = _Outcome()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=service.url, limits=limits, timeout=60, headers=service.auth
    ) as client:
        existing = (await client.post("/api/v1/orders", json=ORDER)).json()["id"]
        # Open the whole pool while the database is fast: the slow part is the requests.
        warm_up = [client.get(f"/api/v1/orders/{existing}") for _ in range(CONCURRENCY)]
        assert {r.status_code for r in await asyncio.gather(*warm_up)} == {200}
        proxy.hold()  # PostgreSQL stalls: no request can finish until released
        signalled = asyncio.Event()

        async def one_client(n: int) -> None:
            while True:
                sent_before = not signalled.is_set()
                try:
                    if n % 2:
                        response = await client.post("/api/v1/orders", json=ORDER)
                    else:
                        response = await client.get(f"/api/v1/orders/{existing}")
                    result: int | str = response.status_code
                except httpx.TransportError as error:
                    result = type(error).__name__
                (outcome.before_sigterm if sent_before else outcome.after_sigterm).append(result)
                if not sent_before:
                    return

        clients = [asyncio.create_task(one_client(n)) for n in range(CONCURRENCY)]
        async with httpx.AsyncClient(base_url=service.url, timeout=5) as observer:
            # Wait until the server holds every request (plus this scrape) in flight.
            deadline = time.monotonic() + 30
            while True:
                text = (await observer.get("/metrics")).text
                families = {f.name: f for f in text_string_to_metric_families(text)}
                if families["http_requests_in_progress"].samples[0].value >= CONCURRENCY + 1:
                    break
                assert time.monotonic() < deadline, "the requests never were all in flight"
                await asyncio.sleep(0.02)
            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
            signalled.set()
            sent = time.monotonic()
            try:
                outcome.readiness_after_sigterm = (await observer.get("/readyz")).status_code
            except httpx.TransportError as error:
                outcome.readiness_after_sigterm = type(error).__name__
            # In flight for a while after the signal, then the database answers again.
            await asyncio.sleep(1)
            proxy.release()
        await asyncio.gather(*clients)
        process = service.process
        outcome.exit_code = await asyncio.to_thread(process.wait, SHUTDOWN_TIMEOUT + 10)
        outcome.exit_seconds = time.monotonic() - sent
    return outcome


class TestDatabaseOutage:
    def test_readiness_fails_naming_the_database_and_recovers_without_restart(
        self, sql_project: ApiProject, request: pytest.FixtureRequest, tmp_path: Path
    ) -> None:
        """Proxy cut: requests answer 503 (or 504 at the deadline), never 500; /healthz 200,
        /readyz 503 naming the database; restored: /readyz 200 and orders are created again."""
        with TcpProxy(*_address(sql_project, request)) as proxy:
            env = {**_environment(sql_project, request, proxy), "READINESS_TIMEOUT": "1"}
            with running_service(sql_project, tmp_path, **env) as service:
                service.wait_for("/readyz")
                pid = service.process.pid if service.process else None
                # A pooled connection for the cut to break, besides the refused new ones.
                order = _api(service, "POST").json()["id"]

                proxy.cut()
                answers = [_api(service, method, order) for method in ("GET", "POST", "ONE") * 2]
                # Refused and reset connections are 503 at once; PyMongo and the AWS SDK wait
                # for the server (selection, retries) and may meet the deadline first: 504.
                allowed = {503} if sql_project.database in ("postgresql", "mysql") else {503, 504}
                statuses = [answer.status_code for answer in answers]
                assert set(statuses) <= allowed, (statuses, service.output()[-3000:])
                assert all(answer.json()["detail"] for answer in answers)
                assert "Exception in ASGI application" not in service.output()
                service.wait_for("/readyz", 503, within=15)
                body = service.get("/readyz").json()
                assert body["status"] == "unavailable"
                assert body["failing"] == ["database"]
                assert body["checks"]["database"] != "ok"
                assert service.get("/healthz").status_code == 200

                proxy.restore()
                service.wait_for("/readyz", 200, within=30)
                created = httpx.post(
                    service.url + "/api/v1/orders", json=ORDER, timeout=10, headers=service.auth
                )
                assert created.status_code == 201
                assert service.process is not None and service.process.pid == pid
                assert service.process.poll() is None, "the service restarted or died"
                assert service.stop() == 0


def _api(service: Service, method: str, order: str = "") -> httpx.Response:
    """One request to the orders API: the list (GET), a new order (POST) or `order` (ONE)."""
    body = ORDER if method == "POST" else None
    url = service.url + "/api/v1/orders" + (f"/{order}" if method == "ONE" else "")
    verb = "GET" if method == "ONE" else method
    return httpx.request(verb, url, json=body, timeout=10, headers=service.auth)


class TestConnectionsRefusedByTheServer:
    def test_a_role_out_of_connection_slots_answers_503_on_every_route(
        self,
        pg_project: ApiProject,
        request: pytest.FixtureRequest,
        tmp_path: Path,
    ) -> None:
        """PostgreSQL answers, but refuses the service's connections (its role's CONNECTION
        LIMIT reached, as when max_connections is): every route 503, the read by id included
        (a bare pool checkout, where SQLAlchemy does not wrap the driver's error), never 500."""
        url = _environment(pg_project, request)["DATABASE_URL"]
        role = f"limited_{uuid.uuid4().hex[:8]}"
        admin = psycopg.connect(url, autocommit=True)
        try:
            admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
            limited = url.replace("postgres@", f"{role}@", 1)
            env = {"DATABASE_URL": limited, "AUTH_ENABLED": "false", "READINESS_TIMEOUT": "1"}
            with running_service(pg_project, tmp_path, **env) as service:
                service.wait_for("/readyz", 503)
                order = str(uuid.uuid4())
                answers = [_api(service, method, order) for method in ("ONE", "GET", "POST")]
                statuses = [answer.status_code for answer in answers]
                assert statuses == [503, 503, 503], (statuses, service.output()[-3000:])
                assert all(answer.headers["Retry-After"] == "1" for answer in answers)
                assert "Exception in ASGI application" not in service.output()
                assert service.stop() == 0
        finally:
            admin.execute(f"DROP ROLE IF EXISTS {role}")
            admin.close()


class TestSigtermPastTheBudget:
    def test_requests_outlasting_shutdown_timeout_are_cut_and_the_exit_is_still_in_time(
        self, pg_project: ApiProject, request: pytest.FixtureRequest, tmp_path: Path
    ) -> None:
        """A database that never answers cannot hold the pod past SHUTDOWN_TIMEOUT: exit 0."""
        budget = 4
        with TcpProxy("127.0.0.1", 5432) as proxy:
            env = {
                **_environment(pg_project, request, proxy),
                "SHUTDOWN_TIMEOUT": str(budget),
                "REQUEST_TIMEOUT": "60",  # requests stuck past the drain, not past a deadline
            }
            with running_service(pg_project, tmp_path, **env) as service:
                service.wait_for("/readyz")
                seconds, code = asyncio.run(_stuck_then_sigterm(service, proxy))
            assert code == 0, service.output()
            assert seconds <= budget, f"exited {seconds:.2f} s after SIGTERM (budget {budget} s)"


async def _stuck_then_sigterm(service: Service, proxy: TcpProxy) -> tuple[float, int]:
    async with httpx.AsyncClient(base_url=service.url, timeout=60, headers=service.auth) as client:
        order = (await client.post("/api/v1/orders", json=ORDER)).json()["id"]
        proxy.hold()  # and never released: these requests cannot finish
        stuck = [asyncio.create_task(client.get(f"/api/v1/orders/{order}")) for _ in range(8)]
        while _in_progress(service) < len(stuck) + 1:
            await asyncio.sleep(0.02)
        assert service.process is not None
        service.process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        code = await asyncio.to_thread(service.process.wait, 30)
        seconds = time.monotonic() - sent
        await asyncio.gather(*stuck, return_exceptions=True)
    return seconds, code
