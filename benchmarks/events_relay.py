"""The relay's sustained publish rate against its broker's raw rate, for bench_events.py.

For one broker: render the API (PostgreSQL, events=<broker>, no cache), migrate a database of its
own, write a backlog of N events (one order through the service's own code, its outbox row
copied N-1 times with fresh ids), start `python -m orders relay` and time it from its first
committed batch to an empty outbox (startup, imports and connecting are not "sustained"
publishing), then publish N events through the broker's client alone (events_raw.py).

Brokers: Redis, RabbitMQ and NATS (JetStream) are the machine's running servers; Kafka is a
tansu broker (memory storage) and SQS moto's server, each started here on a free port (as the
generator's tests start them, tests/support/brokers.py), so their absolute rates say little
about the real services; the ratio, same client, same endpoint, is what is compared.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from benchmarks.events_raw import raw_command, setup_command
from tests.support.brokers import AWS_ENV, free_port, moto_sqs, tansu
from tests.support.render import render
from tests.support.services import SERVICES
from tests.support.venv import venv_for

SERVER = "postgresql://postgres@127.0.0.1:5432"
BROKERS = ("rabbitmq", "kafka", "nats", "redis", "sqs")
# moto's SQS slows down as its queue grows (far below the real service): at most this many.
MOTO_EVENTS = 1000


def backlog_size(broker: str, events: int) -> int:
    return min(events, MOTO_EVENTS) if broker == "sqs" else events


def psql(database: str, query: str) -> str:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-tAc", query],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@contextlib.contextmanager
def migrated(repo: Path, venv: Path) -> Iterator[str]:
    """A new database migrated by the service's own `migrate`; its URL, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    psql("postgres", f'CREATE DATABASE "{name}"')
    url = f"{SERVER}/{name}"
    try:
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(repo)}
        command = [str(venv / "bin" / "python"), "-m", "orders", "migrate"]
        subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)
        yield url
    finally:
        psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def endpoint(broker: str, workdir: Path) -> Iterator[dict[str, str]]:
    """BROKER_URL (and any other variables) of `broker`, started here when it is not running."""
    if broker == "kafka":
        with tansu(workdir) as started:
            yield started.environment()
    elif broker == "sqs":
        with moto_sqs(workdir) as started:
            yield started.environment()
    else:
        yield {"BROKER_URL": SERVICES[broker][2]}


BACKLOG = """
import asyncio
from orders.settings import Settings
from orders.storage import open_storage
from orders.models import OrderCreate, OrderItem

async def main():
    storage = open_storage(Settings())
    item = OrderItem(sku="S", quantity=1, unit_price="1.00")
    await storage.orders.create(OrderCreate(customer_id="b", items=[item]))
    await storage.close()

asyncio.run(main())
"""


def backlog(python: str, repo: Path, env: dict[str, str], events: int) -> None:
    """`events` events in the outbox: one written by the service, copied with fresh ids."""
    subprocess.run([python, "-c", BACKLOG], cwd=repo, env=env, check=True)
    name = env["DATABASE_URL"].rsplit("/", 1)[1]
    psql(
        name,
        "INSERT INTO outbox (event_id, event_type, body, headers, created_at) "
        "SELECT gen_random_uuid()::text, event_type, body, headers, created_at "
        f"FROM outbox, generate_series(2, {events})",
    )
    psql(name, "VACUUM ANALYZE outbox")


def drain_rate(relay: subprocess.Popen[bytes], database_url: str, limit: float) -> float:
    """Events/s of `relay` from its first committed batch to an empty outbox (an error past
    `limit` seconds).

    Polled every 10 ms on one connection with index probes that cost next to nothing (the
    oldest and newest row's `seq`), so that watching takes no CPU from the relay; the backlog
    is counted once, when its first batch is gone.
    """
    with psycopg.connect(database_url, autocommit=True) as connection:

        def probe(query: str) -> int | None:
            if relay.poll() is not None:
                raise RuntimeError(f"the relay exited with {relay.returncode}")
            row = connection.execute(query).fetchone()
            return None if row is None else int(row[0])

        oldest = "SELECT seq FROM outbox ORDER BY seq LIMIT 1"
        first = probe(oldest)
        deadline = time.monotonic() + limit
        while probe(oldest) == first:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the relay published nothing within {limit:g} s")
            time.sleep(0.01)
        start = time.perf_counter()
        left = probe("SELECT count(*) FROM outbox") or 0
        while probe("SELECT seq FROM outbox ORDER BY seq DESC LIMIT 1") is not None:
            if time.monotonic() > deadline:
                waiting = probe("SELECT count(*) FROM outbox")
                raise RuntimeError(f"{waiting} of {left} events still waiting after {limit:g} s")
            time.sleep(0.01)
        return left / (time.perf_counter() - start)


def relay_versus_raw(
    broker: str, events: int, batch: int, tmp: Path, rounds: int = 1, limit: float = 120
) -> tuple[float, float]:
    """Medians of `rounds` (relay events/s, raw events/s) for `broker`, relay and raw taking
    turns (one run of each is short, under a second for Redis: one run alone swings by half),
    each relay round on a database of its own and each raw round on a fresh queue; an error
    when the relay takes longer than `limit` seconds, or the raw publisher (a broker that slow
    measures nothing useful)."""
    events = backlog_size(broker, events)
    repo = render(tmp / f"relay-{broker}", "api", service_name="orders", events=broker)
    python = str(venv_for(repo) / "bin" / "python")
    workdir = tmp / f"broker-{broker}"
    workdir.mkdir()
    relay_rates: list[float] = []
    raw_rates: list[float] = []
    with endpoint(broker, workdir) as broker_env:
        for _ in range(rounds):
            env = {
                **os.environ,
                **(AWS_ENV if broker == "sqs" else {}),
                **broker_env,
                "PYTHONPATH": str(repo),
                "EVENTS_QUEUE_NAME": f"bench-{uuid.uuid4().hex[:8]}",
                "OUTBOX_BATCH_SIZE": str(batch),
                "LOG_LEVEL": "WARNING",
            }
            subprocess.run(setup_command(python, broker), cwd=repo, env=env, check=True)
            relay_rates.append(relay_rate(python, repo, env, events, limit))
            # A queue (stream, topic) of its own, empty like the relay's was at its start.
            raw_env = {**env, "EVENTS_QUEUE_NAME": f"{env['EVENTS_QUEUE_NAME']}-raw"}
            subprocess.run(setup_command(python, broker), cwd=repo, env=raw_env, check=True)
            raw = subprocess.run(
                raw_command(python, broker, events, batch),
                cwd=repo,
                env=raw_env,
                check=True,
                capture_output=True,
                text=True,
                timeout=limit,
            )
            raw_rates.append(float(raw.stdout.strip().splitlines()[-1]))
            for queue_env in (env, raw_env):
                teardown = setup_command(python, broker, "teardown")
                subprocess.run(teardown, cwd=repo, env=queue_env, check=True)
    return statistics.median(relay_rates), statistics.median(raw_rates)


def relay_rate(python: str, repo: Path, env: dict[str, str], events: int, limit: float) -> float:
    """Events/s of `python -m orders relay` draining a backlog of `events` written to a new
    database migrated by the service (see drain_rate)."""
    with migrated(repo, Path(python).parent.parent) as database_url:
        env = {**env, "DATABASE_URL": database_url}
        backlog(python, repo, env, events)
        relay = subprocess.Popen(
            [python, "-m", "orders", "relay"],
            cwd=repo,
            env={**env, "PORT": str(free_port())},
            stdout=subprocess.DEVNULL,
        )
        try:
            return drain_rate(relay, database_url, limit)
        finally:
            relay.terminate()
            relay.wait(30)
