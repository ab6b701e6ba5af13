"""A real Prometheus server scrapes the generated services, and PromQL sees their series.

The API (on a real PostgreSQL) and a worker (on Redis) run as real processes; a real `prometheus`
(Debian's package, installed by .ci/install.sh) scrapes their /metrics every second. The tests
ask Prometheus's HTTP API, not the exposition text, so they prove what an operator would get:
the target is up with no scrape error, and the series the dashboards and alerts use exist with
the expected labels and values.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
from tests.support.render import render
from tests.support.services import fresh_database, require, stop_process
from tests.support.venv import run_in, venv_for

pytestmark = pytest.mark.timeout(300)

ORDER = {"customer_id": "scrape", "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": "1.50"}]}
API_JOB = "newservice-api"
WORKER_JOB = "newservice-worker"
WORKER_PACKAGE = "notifications"
# The API's request-duration histogram: 13 bounds plus +Inf (templates/_shared/python/asgi.py).
API_BUCKETS = 14


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    """The `prometheus` executable: skip without it; fail under CI (.ci/install.sh installs it)."""
    binary = shutil.which("prometheus")
    if binary is None:
        message = "the prometheus binary is not on PATH (apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}, and CI is set: .ci/install.sh must install it")
        pytest.skip(message)
    return binary


class Prometheus:
    """A running Prometheus server and the few calls of its HTTP API the tests need."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def _get(self, path: str, **params: str) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=5)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector `promql` evaluates to now: [{"metric": labels, "value": [t, v]}]."""
        data = self._get("/api/v1/query", query=promql)
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def value(self, promql: str) -> float:
        """The single sample `promql` returns (fails when it returns none or several)."""
        result = self.query(promql)
        assert len(result) == 1, f"{promql} returned {result}"
        return float(result[0]["value"][1])

    def target(self, job: str) -> dict[str, Any]:
        """The one active target of scrape job `job`."""
        targets = [
            t
            for t in self._get("/api/v1/targets", state="active")["activeTargets"]
            if t["labels"]["job"] == job
        ]
        assert len(targets) == 1, targets
        return targets[0]

    def metric_type(self, job: str, metric: str) -> str:
        """The TYPE Prometheus recorded for `metric` from the target of `job`."""
        metadata = self._get(
            "/api/v1/targets/metadata", match_target=f'{{job="{job}"}}', metric=metric
        )
        assert len(metadata) == 1, metadata
        return str(metadata[0]["type"])

    def wait_until_up(self, job: str, within: float = 30) -> None:
        """Poll `up{job=...}` until the first successful scrape has been stored."""

        def up() -> bool:
            result = self.query(f'up{{job="{job}"}}')
            return bool(result) and result[0]["value"][1] == "1"

        eventually(up, within, f'up{{job="{job}"}} == 1 (prometheus log: {self.log})')


@contextmanager
def prometheus_scraping(binary: str, workdir: Path, jobs: dict[str, int]) -> Iterator[Prometheus]:
    """Start Prometheus scraping each job's 127.0.0.1:<port>/metrics every second; stop it after."""
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            }
            for job, port in jobs.items()
        ],
    }
    config_file = workdir / "prometheus.yml"
    config_file.write_text(json.dumps(config, indent=2))  # JSON is YAML: no YAML writer needed
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", log)

    def ready() -> bool:
        assert process.poll() is None, f"prometheus exited:\n{log.read_text()[-3000:]}"
        try:
            return httpx.get(prometheus.url + "/-/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        eventually(ready, 30, "prometheus /-/ready")
        yield prometheus
    finally:
        stop_process(process)


def assert_scraped_cleanly(prometheus: Prometheus, job: str) -> None:
    """Prometheus holds no error for the target: healthy, and every sample was accepted."""
    target = prometheus.target(job)
    assert target["health"] == "up", target
    assert target["lastError"] == "", target
    assert prometheus.value(f'scrape_samples_scraped{{job="{job}"}}') > 0


class TestApiScrape:
    def test_prometheus_scrapes_the_api_and_promql_sees_its_series(
        self,
        prometheus_binary: str,
        postgresql_api: ApiProject,
        postgresql_api_database: str,
        tmp_path: Path,
    ) -> None:
        env = {"DATABASE_URL": postgresql_api_database}
        with running_service(postgresql_api, tmp_path, **env) as service:
            service.wait_for("/readyz")
            created = httpx.post(
                service.url + "/api/v1/orders", json=ORDER, timeout=5, headers=service.auth
            )
            assert created.status_code == 201, created.text
            assert service.get(f"/api/v1/orders/{created.json()['id']}").status_code == 200
            assert service.get(f"/api/v1/orders/{uuid.uuid4()}").status_code == 404

            with prometheus_scraping(prometheus_binary, tmp_path, {API_JOB: service.port}) as prom:
                prom.wait_until_up(API_JOB)
                assert_scraped_cleanly(prom, API_JOB)

                selector = f'job="{API_JOB}",method="GET",route="/api/v1/orders/{{order_id}}"'
                assert prom.value(f'http_requests_total{{{selector},status="404"}}') == 1
                assert prom.value(f'http_requests_total{{{selector},status="200"}}') == 1
                post = f'job="{API_JOB}",method="POST",route="/api/v1/orders",status="201"'
                assert prom.value(f"http_requests_total{{{post}}}") == 1

                buckets = prom.query(f"http_request_duration_seconds_bucket{{{post}}}")
                assert len(buckets) == API_BUCKETS, buckets
                bounds = {b["metric"]["le"]: float(b["value"][1]) for b in buckets}
                assert bounds["+Inf"] == 1  # the one POST, in the last (cumulative) bucket
                assert prom.value(f"http_request_duration_seconds_count{{{post}}}") == 1
                assert prom.value(f"http_request_duration_seconds_sum{{{post}}}") > 0
                assert prom.metric_type(API_JOB, "http_request_duration_seconds") == "histogram"
                assert prom.metric_type(API_JOB, "http_requests_total") == "counter"

                build = prom.query(f'build_info{{job="{API_JOB}"}}')
                assert len(build) == 1, build
                assert build[0]["metric"]["service"] == "orders"
                assert build[0]["value"][1] == "1"
                assert "version" in build[0]["metric"]
            assert service.stop() == 0


@pytest.fixture
def worker_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the worker (dropped afterwards)."""
    with fresh_database("scrape") as url:
        yield url


@contextmanager
def running_worker(repo: Path, venv: Path, env: dict[str, str], log: Path) -> Iterator[int]:
    """`python -m <package>` of the worker; yields its side port, stops it (SIGTERM) after."""
    port = free_port()
    full = {
        **os.environ,
        **env,
        "PORT": str(port),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(repo),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["python", "-m", WORKER_PACKAGE],
            cwd=repo,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def started() -> bool:
        assert process.poll() is None, f"worker exited early:\n{log.read_text()[-3000:]}"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/startupz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        eventually(started, 60, f"worker start-up (log: {log})")
        yield port
    finally:
        process.terminate()
        try:
            assert process.wait(30) == 0, log.read_text()[-3000:]
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("the worker did not exit within 30 s of SIGTERM")


class TestWorkerScrape:
    def test_prometheus_scrapes_the_worker_side_port(
        self,
        prometheus_binary: str,
        worker_database: str,
        tmp_path_factory: pytest.TempPathFactory,
        tmp_path: Path,
    ) -> None:
        broker_url = require("redis")
        repo = render(
            tmp_path_factory.mktemp("worker-redis") / "repo",
            "worker",
            service_name=WORKER_PACKAGE,
            broker="redis",
        )
        venv = venv_for(repo)
        queue = f"scrape-{uuid.uuid4().hex[:10]}"
        env = {
            "BROKER_URL": broker_url,
            "DATABASE_URL": worker_database,
            "QUEUE_NAME": queue,
            "CONSUMER_GROUP": f"group-{queue}",
        }
        for command in (["migrate"], ["publish", "--count", "1", "--id", f"event-{queue}"]):
            result = run_in(
                repo, venv, "python", "-m", WORKER_PACKAGE, *command, env=env, timeout=120
            )
            assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"

        with (
            running_worker(repo, venv, env, tmp_path / "worker.log") as port,
            prometheus_scraping(prometheus_binary, tmp_path, {WORKER_JOB: port}) as prom,
        ):
            prom.wait_until_up(WORKER_JOB)
            assert_scraped_cleanly(prom, WORKER_JOB)

            processed = f'worker_messages_processed_total{{job="{WORKER_JOB}"}}'
            handled = f'worker_message_handling_seconds_count{{job="{WORKER_JOB}"}}'

            def handled_once() -> bool:
                # The event may be handled after the first scrape: wait for a scrape with it.
                values = [prom.query(q) for q in (processed, handled)]
                return all(v and float(v[0]["value"][1]) == 1 for v in values)

            eventually(handled_once, 30, "one processed, timed message in Prometheus")
            buckets = prom.query(f'worker_message_handling_seconds_bucket{{job="{WORKER_JOB}"}}')
            assert len(buckets) == 15, buckets  # 14 configured bounds plus +Inf
            assert prom.metric_type(WORKER_JOB, "worker_message_handling_seconds") == "histogram"
            assert prom.query(f'worker_messages_in_flight{{job="{WORKER_JOB}"}}'), "no gauge"

            build = prom.query(f'build_info{{job="{WORKER_JOB}"}}')
            assert len(build) == 1, build
            assert build[0]["metric"]["service"] == WORKER_PACKAGE
