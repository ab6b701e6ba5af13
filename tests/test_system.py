"""The lesson's exercise, end to end: a generated orders API and a generated notifications worker.

Per broker, `orders` (api, postgresql, events on the broker, cache redis) and `notifications`
(worker on the same broker) are rendered with no other answer and no configuration in common
but the broker's address and a queue name of the test's own (the defaults already agree on
`order-events`; a test queue keeps parallel tests apart). Both run as real processes against
the real broker, PostgreSQL and Redis. Asserted, in one run per broker:
1. N orders posted -> exactly N notifications, one per order id, within seconds;
2. the broker taken away while orders are posted (tests/support/outages.py: the broker process
   stopped, or a proxy cut): every POST is still 201 and readiness stays 200 while the events
   wait in the outbox (its backlog metric says so); once the broker is back every event arrives,
   still exactly one notification each;
3. the API SIGKILLed between the broker's confirmation of a batch and the commit that deletes it,
   with more events waiting behind it: after a restart nothing is lost, and the republished
   batch is absorbed by the worker's inbox (each of its events logged as a duplicate, by id, and
   counted by the duplicates metric; on NATS JetStream drops it first, by the Nats-Msg-Id the
   relay sets);
and the relay run as its own process (`python -m orders relay`) publishes what an API with
OUTBOX_RELAY=false wrote, and exits 0 on SIGTERM.
Then, once per cache server (redis, memcached):
4. the cache stopped during reads: every GET is still 200 from the database (the errors metric
   counts it) and readiness stays 200; restarted, reads are cache hits again.
And the outbox in each other system of record with one broker, steps 1-3 alike (one render each;
tests/support/api_databases.py says what each stand-in cannot prove): MySQL (on MariaDB) with
Redis, MongoDB (on nx-27017) with Redis, DynamoDB (on moto) with NATS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.api_databases import ApiDatabase, api_database
from tests.support.brokers import BrokerEndpoint, free_port, wait_listening
from tests.support.outages import outage_for
from tests.support.render import render
from tests.support.services import fresh_database, is_listening, require, stop_process
from tests.support.system import OrdersRepo, RunningApi, wrapper
from tests.support.venv import venv_for
from tests.support.worker import RunningWorker, WorkerRepo, eventually

BROKERS = ["rabbitmq", "kafka", "sqs", "nats", "redis"]
# (the API's database, the broker): every broker on PostgreSQL, and the outbox in each other
# system of record once, each with a cheap broker.
CELLS = [
    *(("postgresql", broker) for broker in BROKERS),
    ("mysql", "redis"),
    ("mongodb", "redis"),
    ("dynamodb", "nats"),
]
ORDERS = 40
DURING_OUTAGE = 20
BATCH = 5  # the crash test's OUTBOX_BATCH_SIZE: one batch is duplicated, the rest waits behind it

pytestmark = pytest.mark.timeout(600)


@dataclass(frozen=True)
class Pair:
    database: str
    broker: str
    orders: OrdersRepo
    worker_repo: Path
    worker_venv: Path

    def worker(self, endpoint: BrokerEndpoint) -> WorkerRepo:
        return WorkerRepo(self.broker, self.worker_repo, self.worker_venv, endpoint)


def _render_orders(tmp: Path, **answers: str) -> OrdersRepo:
    repo = render(tmp / "orders", "api", service_name="orders", **answers)
    return OrdersRepo(repo, venv_for(repo))


@pytest.fixture(scope="module", params=CELLS, ids=[f"{d}-{b}" for d, b in CELLS])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    database, broker = request.param
    tmp = tmp_path_factory.mktemp(f"system-{database}-{broker}")
    orders = _render_orders(tmp, database=database, events=broker, cache="redis")
    worker = render(tmp / "notifications", "worker", service_name="notifications", broker=broker)
    return Pair(database, broker, orders, worker, venv_for(worker))


def notified(database_url: str) -> list[str]:
    """The order id of every notification the worker recorded (one row per notification)."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT order_id FROM notifications").fetchall()
    return [row[0] for row in rows]


def api_environment(database: ApiDatabase, endpoint: BrokerEndpoint, queue: str) -> dict[str, str]:
    return {
        **database.environment,
        **endpoint.environment(),
        "EVENTS_QUEUE_NAME": queue,
        "CACHE_URL": require("redis"),
        # Retries at most a second apart, so the return of the broker shows within seconds.
        "OUTBOX_RETRY_MAX_DELAY": "1",
        "OUTBOX_PUBLISH_TIMEOUT": "3",
    }


def event_ids(database_url: str, orders: list[str]) -> list[str]:
    """The id of the event that made each of `orders`' notifications."""
    with psycopg.connect(database_url) as connection:
        query = "SELECT event_id FROM notifications WHERE order_id = ANY(%s)"
        return [row[0] for row in connection.execute(query, (orders,)).fetchall()]


def wait_for_notifications(database_url: str, expected: set[str], within: float) -> float:
    """Wait until every order of `expected` has its notification; the seconds it took."""
    started = time.monotonic()
    eventually(
        lambda: expected <= set(notified(database_url)), within, f"{len(expected)} notifications"
    )
    return time.monotonic() - started


def assert_exactly_once(database_url: str, posted: list[str]) -> None:
    seen = notified(database_url)
    assert sorted(seen) == sorted(posted), (
        f"{len(seen)} notifications for {len(posted)} orders; missing "
        f"{set(posted) - set(seen)}, doubled {[i for i in set(seen) if seen.count(i) > 1]}"
    )


@contextmanager
def _databases(database: str, workdir: Path) -> Iterator[tuple[ApiDatabase, str]]:
    """A database for the API (of kind `database`) and one for the worker (PostgreSQL)."""
    with (
        api_database(database, workdir) as api_db,
        fresh_database("system_worker") as worker_db,
    ):
        yield api_db, worker_db


def test_orders_become_notifications_exactly_once_through_outage_and_crash(
    pair: Pair, tmp_path: Path
) -> None:
    """Steps 1-3 of the module's docstring, on one broker."""
    queue = f"order-events-{uuid.uuid4().hex[:10]}"
    with (
        _databases(pair.database, tmp_path) as (api_db, worker_db),
        outage_for(pair.broker, tmp_path) as outage,
    ):
        # Both reach the broker the way that goes away.
        worker_repo = pair.worker(outage.worker)
        worker_env = worker_repo.environment(worker_db, queue)
        worker_repo.cli(worker_env, "migrate")
        worker = worker_repo.start(worker_env, tmp_path / "worker.log")
        api_env = api_environment(api_db, outage.worker, queue)
        pair.orders.run(api_env, "migrate")
        flag = tmp_path / "crash-now"
        api_env["TEST_CRASH_FLAG"] = str(flag)
        crash = wrapper(tmp_path)
        api = pair.orders.start(api_env, tmp_path / "api.log", crash)
        try:
            with httpx.Client(timeout=10) as client:
                # 1. N orders -> N notifications, one per order.
                posted = api.post_orders(ORDERS, client)
                took = wait_for_notifications(worker_db, set(posted), 30)
                assert_exactly_once(worker_db, posted)

                # 2. The broker goes away while orders are posted.
                outage.stop()
                during = api.post_orders(DURING_OUTAGE, client)
                assert api.ready(), "readiness must not depend on the broker"
                eventually(
                    lambda: api.metric("outbox_backlog_events") >= DURING_OUTAGE,
                    10,
                    "the backlog metric to count the waiting events",
                )
                # An attempt on a broker that went away fails at once (refused) or at its
                # OUTBOX_PUBLISH_TIMEOUT (a client still waiting for the old connection).
                eventually(
                    lambda: api.metric("outbox_publish_failures_total") > 0,
                    10,
                    "a failed publish attempt to be counted",
                )
                assert not set(during) & set(notified(worker_db))
                outage.start()
                posted += during
                recovery = wait_for_notifications(worker_db, set(posted), 90)
                assert_exactly_once(worker_db, posted)
                eventually(lambda: api.metric("outbox_backlog_events") == 0, 5, "empty backlog")

                # 3. A backlog in the outbox (written while the relay was off), then the API
                # SIGKILLed after the broker confirmed its first batch, before the commit.
                assert api.stop() == 0
                api = pair.orders.start({**api_env, "OUTBOX_RELAY": "false"}, tmp_path / "api.log")
                crashed = api.post_orders(3 * BATCH, client)
                assert api.stop() == 0
                before = worker.metric("worker_messages_duplicate_total")
                since = worker.log_size()
                flag.touch()
                crash_env = {**api_env, "OUTBOX_BATCH_SIZE": str(BATCH)}
                api = pair.orders.start(crash_env, tmp_path / "api.log", crash, wait=False)
                assert api.process.wait(60) == -9, "the crash wrapper did not kill the API"
                assert api_db.outbox_events() == 3 * BATCH, "the confirmed batch was marked sent"
                flag.unlink()
                api = pair.orders.start(api_env, tmp_path / "api.log", crash)
                posted += crashed
                wait_for_notifications(worker_db, set(posted), 60)
                # The outbox leaves in order: the batch published before the kill is the first
                # BATCH orders posted. Asserted by identity, not by counting every duplicate
                # since the crash: a broker may also redeliver, correctly, a message of steps 1-2
                # whose ack the outage cut (SQS after its visibility timeout, RabbitMQ on the
                # reconnection), and the inbox absorbs it the same way.
                republished = set(event_ids(worker_db, crashed[:BATCH]))
                if pair.broker == "nats":
                    # The relay sends Nats-Msg-Id = the event id: JetStream itself drops the
                    # republished batch within its duplicate window; the worker sees none.
                    assert not republished & set(worker.duplicates_logged(since))
                    duplicates = 0.0
                else:
                    eventually(
                        lambda: republished <= set(worker.duplicates_logged(since)),
                        30,
                        "the worker to absorb every event of the republished batch as a duplicate",
                    )
                    duplicates = worker.metric("worker_messages_duplicate_total") - before
                    assert duplicates >= BATCH, "the duplicates metric counts what was absorbed"
                assert_exactly_once(worker_db, posted)

                # The relay as its own process (its own Deployment): the API with
                # OUTBOX_RELAY=false only writes; `python -m orders relay` publishes, serves
                # its metrics on PORT, and exits 0 on SIGTERM.
                assert api.stop() == 0
                api = pair.orders.start({**api_env, "OUTBOX_RELAY": "false"}, tmp_path / "api.log")
                alone = api.post_orders(BATCH, client)
                relay = pair.orders.spawn(api_env, tmp_path / "relay.log", "relay")
                try:
                    posted += alone
                    wait_for_notifications(worker_db, set(posted), 60)
                    assert relay.metric("outbox_published_total") >= len(alone)
                finally:
                    assert relay.stop() == 0, relay.log.read_text()[-3000:]
                assert_exactly_once(worker_db, posted)
        finally:
            _stop(api, worker)
    print(
        f"{pair.database}/{pair.broker}: {ORDERS} notifications {took:.2f} s after the last"
        f" POST; every event {recovery:.2f} s after the broker returned;"
        f" {duplicates:g} duplicates absorbed"
    )


def _stop(api: RunningApi, worker: RunningWorker) -> None:
    if api.process.poll() is None:
        assert api.stop() == 0, api.log.read_text()[-3000:]
    if worker.process.poll() is None:
        worker.process.terminate()
        worker.process.wait(30)


# ------------------------------------------------------------------------------ 4. the cache


class CacheServer:
    """A cache server of the test's own on a free port, stopped and started again on it."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind, self.port, self.log = kind, free_port(), workdir / f"{kind}.log"
        if kind == "redis":
            self.cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
            self.cmd += ["--save", "", "--appendonly", "no"]
            self.url = f"redis://127.0.0.1:{self.port}/0"
        else:
            memcached = shutil.which("memcached") or "/usr/bin/memcached"
            self.cmd = [memcached, "-u", "nobody", "-l", "127.0.0.1", "-p", str(self.port)]
            self.cmd += ["-m", "64"]
            self.url = f"memcached://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT)
        wait_listening(self.process, self.port, self.kind, self.log)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@pytest.fixture(scope="module", params=["redis", "memcached"])
def cached_orders(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, OrdersRepo]:
    cache = request.param
    if cache == "memcached" and not shutil.which("memcached"):
        message = "memcached is not installed (apt-get install -y memcached)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}, and CI is set: .ci/install.sh must install it")
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp(f"cache-{cache}")
    return cache, _render_orders(tmp, database="postgresql", cache=cache)


def test_a_cache_outage_never_fails_a_read_and_the_cache_is_used_again(
    cached_orders: tuple[str, OrdersRepo], tmp_path: Path
) -> None:
    """Step 4: reads are hits; cache stopped: every GET 200 from the database, readiness 200;
    cache back (empty): reads fill it and are hits again."""
    kind, orders = cached_orders
    server = CacheServer(kind, tmp_path)
    server.start()
    with fresh_database("system_cache") as api_db:
        env = {"DATABASE_URL": api_db, "CACHE_URL": server.url}
        orders.run(env, "migrate")
        api = orders.start(env, tmp_path / "api.log")
        try:
            with httpx.Client(timeout=10) as client:
                ids = api.post_orders(10, client)

                def read_all() -> None:
                    for order_id in ids:
                        response = client.get(f"{api.url}/api/v1/orders/{order_id}")
                        assert response.status_code == 200, response.text
                        assert response.json()["id"] == order_id

                hits = api.metric("cache_lookups_total", result="hit")
                read_all()
                assert api.metric("cache_lookups_total", result="hit") - hits == len(ids)

                server.stop()
                assert not is_listening("127.0.0.1", server.port)
                errors = api.metric("cache_errors_total")
                for _ in range(3):
                    read_all()
                assert api.ready(), "readiness must not depend on the cache"
                assert api.metric("cache_errors_total") > errors

                server.start()
                time.sleep(1.5)  # CACHE_RETRY_INTERVAL (1 s): the cache is tried again
                read_all()  # misses that fill the (empty) cache
                hits = api.metric("cache_lookups_total", result="hit")
                read_all()
                assert api.metric("cache_lookups_total", result="hit") - hits == len(ids)
        finally:
            if api.process.poll() is None:
                assert api.stop() == 0
            server.stop()
