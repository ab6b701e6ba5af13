"""The worker template, pairwise: every broker on PostgreSQL, every other store on one broker.

Per cell: the generated repo's own checks (ruff, mypy, its tests), its manifests, workflow and
Dockerfile; then the live contract, with `python -m <package>` as a real process:
duplicates, SIGKILL mid-stream, a poison event, and SIGTERM during a steady stream.
MySQL runs on MariaDB and MongoDB on the nx-27017 stand-in (what each cannot prove:
tests/support/services.py, tests/support/stores.py).

DynamoDB runs on moto's server, an emulator: it proves the worker's requests (TransactWriteItems
with its condition, the cancellation reasons read back, BatchGetItem, the table made or checked
by `migrate`) and the exactly-once outcome through redeliveries, a SIGKILL and a drain. It cannot
prove what only AWS has: capacity limits and throttling (ProvisionedThroughputExceeded, the
standard retry mode at work), TransactionConflict between concurrent transactions on one item
(moto applies one request at a time: tests/support/moto_server.py), latency, IAM policies, or
validation as strict as AWS's. dynalite, stricter, lacks TransactWriteItems: it cannot run this.
The DynamoDB cell is on Redis Streams, already a cheap broker here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.brokers import (  # noqa: F401  (session fixtures used through endpoint_for)
    endpoint_for,
    kafka_endpoint,
    sqs_endpoint,
)
from tests.support.checks import (
    lint_dockerfile,
    lint_python,
    validate_manifests,
    validate_workflows,
)
from tests.support.render import render
from tests.support.stores import (  # noqa: F401  (session fixtures)
    dynamodb_server,
    fresh_store,
    mongodb_server,
    store_environment,
)
from tests.support.venv import run_in, venv_for
from tests.support.worker import (
    PACKAGE,
    STREAM,
    WRAPPER,
    WorkerRepo,
    counts,
    eventually,
    script,
    wait_for_rows,
)

BROKERS = ["rabbitmq", "nats", "redis", "kafka", "sqs"]
# Pairwise, to keep CI within budget: the store code does not depend on the broker's.
CELLS = [(broker, "postgresql") for broker in BROKERS] + [
    ("rabbitmq", "mysql"),
    ("rabbitmq", "mongodb"),
    ("redis", "dynamodb"),
]
# Brokers that redeliver an unacked message after a timer (REDELIVERY_TIMEOUT), not on disconnect.
TIMED_REDELIVERY = {"nats", "redis", "sqs"}

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(
    scope="module",
    params=CELLS,
    ids=[
        broker if database == "postgresql" else f"{broker}-{database}" for broker, database in CELLS
    ],
)
def worker_repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> WorkerRepo:
    broker, database = request.param
    endpoint = endpoint_for(request, broker)
    repo = render(
        tmp_path_factory.mktemp(f"worker-{broker}-{database}") / "repo",
        "worker",
        broker=broker,
        database=database,
    )
    return WorkerRepo(broker, repo, venv_for(repo), endpoint, database)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, worker_repo: WorkerRepo) -> Iterator[str]:
    """A fresh database of the cell's store (dropped afterwards)."""
    with fresh_store(request, worker_repo.database, "worker") as url:
        yield url


@pytest.fixture
def queue() -> str:
    return f"order-events-{uuid.uuid4().hex[:10]}"


class TestGeneratedRepo:
    """What a team gets is clean and its own tests pass against the real services."""

    def test_lint_and_type_check(self, worker_repo: WorkerRepo) -> None:
        """ruff check, ruff format --check and mypy (strict) pass on the generated repo."""
        lint_python(worker_repo.repo, worker_repo.venv)

    def test_generated_tests_pass(self, worker_repo: WorkerRepo, database_url: str) -> None:
        """The repo's own pytest suite passes against the real broker and the cell's store
        (its fixtures make a database per test on the server of DATABASE_URL, or a DynamoDB
        table on the server of AWS_ENDPOINT_URL_DYNAMODB)."""
        env = {
            **worker_repo.endpoint.environment(),
            **store_environment(database_url),
            "CI": "true",  # a skip would hide a missing service: make it a failure
        }
        result = run_in(worker_repo.repo, worker_repo.venv, "python", "-m", "pytest", "-q", env=env)
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
        assert "skipped" not in result.stdout

    def test_every_setting_is_in_the_readme_table(self, worker_repo: WorkerRepo) -> None:
        """Each environment variable the worker reads has a row in its README's table."""
        listing = run_in(
            worker_repo.repo,
            worker_repo.venv,
            "python",
            "-c",
            f"from {PACKAGE}.settings import Settings; print(*Settings.model_fields)",
            env={"CI": "true"},
        )
        assert listing.returncode == 0, listing.stderr[-3000:]
        rows = [
            line
            for line in (worker_repo.repo / "README.md").read_text().splitlines()
            if line.startswith("| `")
        ]
        names = listing.stdout.split()
        assert "READINESS_TIMEOUT" in names
        missing = [name for name in names if not any(f"`{name}`" in row for row in rows)]
        assert not missing, f"settings without a README row: {missing}"

    def test_manifests_workflow_and_dockerfile(self, worker_repo: WorkerRepo) -> None:
        """Manifests (the ScaledObject against keda.sh's schema), the workflow and Dockerfile."""
        validate_manifests(worker_repo.repo)
        validate_workflows(worker_repo.repo)
        lint_dockerfile(worker_repo.repo)


class TestLiveContract:
    """`python -m <package>` as a real process, on the real broker."""

    def test_duplicates_have_one_effect_and_are_counted(
        self, worker_repo: WorkerRepo, database_url: str, queue: str, tmp_path: Path
    ) -> None:
        """One event published three times: one notification row; the duplicates metric is 2."""
        env = worker_repo.environment(database_url, queue)
        # Two migrations at once, as two replicas' init containers would: both succeed.
        migrations = [
            subprocess.Popen(
                ["python", "-m", PACKAGE, "migrate"],
                cwd=worker_repo.repo,
                env={
                    **os.environ,
                    **env,
                    "PATH": f"{worker_repo.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
                    "PYTHONPATH": str(worker_repo.repo),
                },
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(2)
        ]
        for migration in migrations:
            output, _ = migration.communicate(timeout=120)
            assert migration.returncode == 0, output.decode()
        worker_repo.cli(env, "publish", "--count", "3", "--id", f"dup-{queue}")
        worker = worker_repo.start(env, tmp_path / "worker.log")
        try:
            eventually(
                lambda: worker.metric("worker_messages_duplicate_total") == 2, 60, "2 duplicates"
            )
            # Counted after its ack, which may land after the duplicates' (see the poison test).
            eventually(lambda: worker.metric("worker_messages_processed_total") == 1, 60, "1 ack")
            assert counts(database_url) == (1, 1, 1)
            assert worker.get("/readyz").status_code == 200
        finally:
            assert worker.stop(signal.SIGTERM, 30) == 0

    def test_sigkill_mid_stream_then_restart_loses_and_duplicates_nothing(
        self, worker_repo: WorkerRepo, database_url: str, queue: str, tmp_path: Path
    ) -> None:
        """SIGKILL among 1,000 events, restart: every event has exactly one notification."""
        env = worker_repo.environment(database_url, queue)
        worker_repo.cli(env, "migrate")
        worker_repo.cli(env, "publish", "--count", "1000")
        log = tmp_path / "worker.log"
        # Sending takes 2 ms here, so that even an idle machine is mid-stream at the kill.
        wrapper = script(tmp_path, "wrapper.py", WRAPPER)
        worker = worker_repo.start({**env, "TEST_SEND_DELAY": "0.002"}, log, wrapper)
        eventually(lambda: counts(database_url)[0] >= 50, 120, "50 notifications", poll=0.02)
        worker.stop(signal.SIGKILL, 10)
        assert counts(database_url)[0] < 1000, "the kill came too late to prove anything"
        worker = worker_repo.start(env, log)
        try:
            wait_for_rows(database_url, 1000, 180)
            assert counts(database_url) == (1000, 1000, 1000)
            assert worker.metric("worker_messages_dead_lettered_total") == 0
        finally:
            assert worker.stop(signal.SIGTERM, 30) == 0
        assert worker_repo.cli(env, "dead-letters").stdout.strip() == ""

    def test_poison_event_is_dead_lettered_after_n_attempts_while_others_flow(
        self, worker_repo: WorkerRepo, database_url: str, queue: str, tmp_path: Path
    ) -> None:
        """An event whose handler always fails reaches the DLQ after 3 attempts; 100 others pass."""
        poison = f"poison-{queue}"
        env = worker_repo.environment(
            database_url,
            queue,
            MAX_ATTEMPTS="3",
            RETRY_INITIAL_DELAY="0.05",
            TEST_POISON_EVENT_ID=poison,
        )
        worker_repo.cli(env, "migrate")
        worker_repo.cli(env, "publish", "--id", poison)
        worker_repo.cli(env, "publish", "--count", "100")
        wrapper = script(tmp_path, "wrapper.py", WRAPPER)
        worker = worker_repo.start(env, tmp_path / "worker.log", wrapper)
        try:
            wait_for_rows(database_url, 100, 120)
            eventually(
                lambda: worker.metric("worker_messages_dead_lettered_total") == 1, 60, "the DLQ"
            )
            assert worker.metric("worker_messages_retried_total") == 2
            # Counted once the broker took the ack, after the row's commit: on moto's SQS the
            # acks of the last batch can still be on their way when the rows are all there.
            eventually(
                lambda: worker.metric("worker_messages_processed_total") == 100, 60, "100 acks"
            )
        finally:
            assert worker.stop(signal.SIGTERM, 30) == 0
        assert counts(database_url) == (100, 100, 100)
        dead = worker_repo.cli(env, "dead-letters").stdout.strip().splitlines()
        assert len(dead) == 1, dead
        assert poison in dead[0]
        assert "failed 3 attempts: RuntimeError: poison event" in dead[0]

    def test_sigterm_during_a_steady_stream_drains_and_exits_0(
        self, worker_repo: WorkerRepo, database_url: str, queue: str, tmp_path: Path
    ) -> None:
        """SIGTERM mid-stream: in-flight events finish and are acked, exit 0; after a restart
        every event has one notification and no event comes back as a duplicate."""
        # 15 s, not 5: on a loaded 2-core machine an SQS receive -> delete round trip through moto
        # can exceed 5 s, and SQS then redelivers a handled message (a correct duplicate, but
        # this test asserts that a drained worker left nothing unacked).
        env = worker_repo.environment(
            database_url,
            queue,
            SHUTDOWN_TIMEOUT="15",
            CONCURRENCY="8",
            TEST_SEND_DELAY="0.05",
            REDELIVERY_TIMEOUT="15",
        )
        worker_repo.cli(env, "migrate")
        wrapper = script(tmp_path, "wrapper.py", WRAPPER)
        log = tmp_path / "worker.log"
        worker = worker_repo.start(env, log, wrapper)
        rounds, batch = 60, 10
        stream = subprocess.Popen(
            ["python", str(script(tmp_path, "stream.py", STREAM)), str(rounds), str(batch)],
            cwd=worker_repo.repo,
            env={
                **os.environ,
                **env,
                "PATH": f"{worker_repo.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
                "PYTHONPATH": str(worker_repo.repo),
            },
        )
        try:
            wait_for_rows(database_url, 40, 60)
            assert worker.metric("worker_messages_in_flight") > 0
            started = time.monotonic()
            assert worker.stop(signal.SIGTERM, 15) == 0
            stopped = time.monotonic()
            assert stopped - started < 15
            text = log.read_text()
            assert "draining in-flight messages" in text
            assert "did not finish in time" not in text
            assert stream.wait(120) == 0
        finally:
            if stream.poll() is None:
                stream.kill()
        total = rounds * batch
        assert counts(database_url)[0] < total, "the stream ended before SIGTERM: nothing proven"
        restarted = worker_repo.start({**env, "TEST_SEND_DELAY": "0"}, log, wrapper)
        try:
            wait_for_rows(database_url, total, 120)
            if worker_repo.broker in TIMED_REDELIVERY:
                # Anything the first worker left unacked comes back only once the broker's
                # redelivery timer (15 s) has run out: give it that chance to show up.
                time.sleep(max(0.0, stopped + 16 - time.monotonic()))
            # A last event after the rest: once it is handled, every earlier delivery was seen.
            worker_repo.cli(env, "publish", "--id", f"last-{queue}")
            wait_for_rows(database_url, total + 1, 60)
            duplicates = restarted.metric("worker_messages_duplicate_total")
            # On failure, show the duplicates and every warning or error of both runs: a failed
            # ack (message left for redelivery) and a retried publish look alike from here.
            assert duplicates == 0, "redelivered after a drain:\n" + "\n".join(
                line
                for line in log.read_text().splitlines()
                if "duplicate event" in line
                or '"level": "WARNING"' in line
                or '"level": "ERROR"' in line
            )
        finally:
            assert restarted.stop(signal.SIGTERM, 30) == 0
        assert counts(database_url) == (total + 1, total + 1, total + 1)


def test_the_dynamodb_worker_reaches_its_table_without_a_database_url(tmp_path: Path) -> None:
    """On DynamoDB: no DATABASE_URL anywhere (the table and region are in the ConfigMap, the
    pods sign with their IAM role), egress to HTTPS, DynamoDB Local in compose and in CI with
    the variables the code reads, and the store's modules only."""
    repo = render(tmp_path / "repo", "worker", broker="redis", database="dynamodb")
    k8s = repo / "deploy" / "k8s"
    config = yaml.safe_load((k8s / "configmap.yaml").read_text())["data"]
    assert (config["DYNAMODB_TABLE"], config["DYNAMODB_CREATE_TABLE"]) == ("notifications", "false")
    assert config["AWS_REGION"] == "us-east-1"
    pod = yaml.safe_load((k8s / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    names = {e["name"] for c in pod["containers"] + pod["initContainers"] for e in c.get("env", [])}
    assert "DATABASE_URL" not in names
    policy = yaml.safe_load((k8s / "networkpolicy.yaml").read_text())
    assert {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]} >= {443}
    compose = yaml.safe_load((repo / "compose.yaml").read_text())["services"]
    assert compose["dynamodb"]["image"].startswith("amazon/dynamodb-local:")
    assert compose["worker"]["environment"]["AWS_ENDPOINT_URL_DYNAMODB"] == "http://dynamodb:8000"
    job = yaml.safe_load((repo / ".github" / "workflows" / "ci.yml").read_text())["jobs"]["test"]
    assert job["services"]["dynamodb"]["image"].startswith("amazon/dynamodb-local:")
    assert job["env"]["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:8000"
    stores = {path.name for path in (repo / PACKAGE / "stores").glob("*.py")}
    assert stores == {"__init__.py", "base.py", "urls.py", "dynamodb.py", "dynamodb_client.py"}
    assert not (repo / PACKAGE / "migrations").exists()
