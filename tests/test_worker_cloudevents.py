"""CloudEvents as other producers and consumers speak them, on every broker, against a live worker.

Per broker, the official SDK (`cloudevents` 2.x) makes the messages of that broker's binding and
the broker's own client publishes them (tests/support/cloudevents_client.py) to a running
`python -m <package>`: both content modes, the spec-valid variants (no `time`, a charset in
`datacontenttype`, `data_base64`), a duplicate (same source + id, the other mode), the same id
from another source, and two invalid events. Then what the worker's own `publish` sends is read
back with the SDK's `from_*` function of the binding.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.brokers import (  # noqa: F401  (session fixtures used through endpoint_for)
    endpoint_for,
    kafka_endpoint,
    sqs_endpoint,
)
from tests.support.cloudevents_client import CLIENT
from tests.support.render import render
from tests.support.services import fresh_database
from tests.support.venv import run_in, venv_for
from tests.support.worker import WorkerRepo, eventually

BROKERS = ["rabbitmq", "nats", "redis", "kafka", "sqs"]

pytestmark = pytest.mark.timeout(300)

VALID = [
    {"mode": "structured", "source": "/shop", "id": "s-1"},
    {"mode": "binary", "source": "/shop", "id": "b-1"},
    {"mode": "structured", "source": "/shop", "id": "s-2", "variant": "no-time"},
    {"mode": "binary", "source": "/shop", "id": "b-2", "variant": "no-time"},
    {
        "mode": "structured",
        "source": "/shop",
        "id": "s-3",
        "datacontenttype": "application/json; charset=utf-8",
    },
    {
        "mode": "binary",
        "source": "/shop",
        "id": "b-3",
        "datacontenttype": "application/json; charset=utf-8",
    },
    {"mode": "structured", "source": "/shop", "id": "s-4", "variant": "data_base64"},
    # The same id from another source: another event.
    {"mode": "structured", "source": "/returns", "id": "s-1"},
]
# The same source + id as the first event, in the other mode: no second effect.
DUPLICATE = {"mode": "binary", "source": "/shop", "id": "s-1"}
INVALID = [
    {"mode": "structured", "source": "/shop", "id": "x-1", "variant": "missing-id"},
    {"mode": "binary", "source": "/shop", "id": "x-2", "variant": "specversion-0.3"},
]
# RabbitMQ also carries the AMQP binding's `cloudEvents_` application properties.
AMQP = {"mode": "amqp", "source": "/shop", "id": "a-1"}


@pytest.fixture(scope="module", params=BROKERS)
def worker_repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> WorkerRepo:
    broker = request.param
    endpoint = endpoint_for(request, broker)
    repo = render(tmp_path_factory.mktemp(f"ce-{broker}") / "repo", "worker", broker=broker)
    return WorkerRepo(broker, repo, venv_for(repo), endpoint)


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database("cloudevents") as url:
        yield url


@pytest.fixture
def queue() -> str:
    return f"ce-events-{uuid.uuid4().hex[:10]}"


def client(worker_repo: WorkerRepo, env: dict[str, str], tmp_path: Path, *args: str) -> str:
    path = tmp_path / "ce_client.py"
    path.write_text(CLIENT)
    result = run_in(
        worker_repo.repo,
        worker_repo.venv,
        "python",
        str(path),
        worker_repo.broker,
        *args,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def notified(database_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT event_source, event_id FROM notifications").fetchall()
    return sorted((row[0], row[1]) for row in rows)


def test_sdk_events_in_both_modes_are_handled_once_per_source_and_id(
    worker_repo: WorkerRepo, database_url: str, queue: str, tmp_path: Path
) -> None:
    """Every spec-valid event has one notification, the duplicate none, the invalid ones are
    dead-lettered with their reason in one JSON log line, and the worker keeps running."""
    env = worker_repo.environment(database_url, queue)
    worker_repo.cli(env, "migrate")
    log = tmp_path / "worker.log"
    worker = worker_repo.start(env, log)  # it declares the queue, stream, topic or group
    valid = [*VALID, AMQP] if worker_repo.broker == "rabbitmq" else VALID
    try:
        client(worker_repo, env, tmp_path, "send", json.dumps(valid))
        eventually(lambda: len(notified(database_url)) >= len(valid), 60, "the notifications")
        client(worker_repo, env, tmp_path, "send", json.dumps([DUPLICATE, *INVALID]))
        eventually(
            lambda: (
                worker.metric("worker_messages_dead_lettered_total") == 2
                and worker.metric("worker_messages_duplicate_total") == 1
            ),
            60,
            "2 dead letters and 1 duplicate",
        )
        assert notified(database_url) == sorted((case["source"], case["id"]) for case in valid)
        assert worker.metric("worker_messages_processed_total") == len(valid)
        assert worker.get("/readyz").status_code == 200
    finally:
        assert worker.stop(signal.SIGTERM, 30) == 0
    dead = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if '"message dead-lettered"' in line
    ]
    reasons = sorted(entry["reason"] for entry in dead)
    assert len(reasons) == 2, reasons
    assert "malformed: missing required attribute id" in reasons[0]
    assert reasons[1].startswith("malformed: specversion"), reasons
    assert "1.0" in reasons[1]
    stored = worker_repo.cli(env, "dead-letters").stdout.strip().splitlines()
    assert len(stored) == 2, stored


def test_what_publish_sends_is_structured_mode_as_the_binding_reads_it(
    worker_repo: WorkerRepo, database_url: str, queue: str, tmp_path: Path
) -> None:
    """The `publish` command's message carries the binding's structured content type, and the
    SDK's `from_*` of that binding reads the event back."""
    env = worker_repo.environment(database_url, queue)
    worker_repo.cli(env, "publish", "--id", "rb-1")
    event = json.loads(client(worker_repo, env, tmp_path, "read"))
    assert event["content_type"] == "application/cloudevents+json"
    assert (event["id"], event["source"], event["type"]) == ("rb-1", "/orders", "order.created")
    assert event["data"]["total_cents"] == 4200
