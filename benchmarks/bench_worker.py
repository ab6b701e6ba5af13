"""Worker throughput: end-to-end idempotent events/s vs the same broker's raw consume-and-ack rate.

For each broker, in one run and side by side:
- raw: the generated worker's own consume loop and broker module, with a handler that only acks
  (no database): what the broker and its client give;
- idempotent: the generated worker as it runs in production (parse, inbox + notification in one
  PostgreSQL transaction per fetched batch, one log line per batch, ack after commit), same
  concurrency (CONCURRENCY=256, the default, or the CONCURRENCY variable).
Each round is a raw pass then an idempotent pass, on fresh queues; the rounds alternate so that
the machine's drift (raw rates swing 1.5x between minutes here) hits both, and the table gives
medians, with each round's own ratio. Each pass consumes 10,000 events published beforehand
(the publish is not timed); the clock runs from the first delivery to the last settled one.
p99 is the exact 99th percentile of the per-message handling time of the idempotent pass
(receive -> ack); worker CPU per event is the process's CPU time over the pass / events.

    python benchmarks/bench_worker.py [--events 10000] [--rounds 3]
        [--brokers rabbitmq,nats,redis,kafka,sqs] [--databases postgresql,mysql,mongodb,dynamodb]
        [--template OTHER_CHECKOUT]

--databases renders the worker once per store (each broker x each database, side by side);
MySQL runs on MariaDB, MongoDB on the nx-27017 stand-in (27017's, or one started here), DynamoDB
on moto's server (started here; one request at a time, in Python), so their numbers say what
these stand-ins give, not a production mysqld, mongod or DynamoDB.

Needs the `test` extra (tansu, moto, nx-27017) and PostgreSQL, MariaDB, RabbitMQ, NATS and Redis
on loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.brokers import BrokerEndpoint, _process, free_port, moto_sqs, tansu
from tests.support.dynamodb import moto_dynamodb
from tests.support.render import render
from tests.support.services import SERVICES, fresh_database, fresh_mysql_database, is_listening
from tests.support.stores import (
    fresh_dynamodb_table,
    fresh_mongodb_database,
    nx_27017_command,
    store_environment,
)
from tests.support.venv import run_in, venv_for

PACKAGE = "notifications"

# Runs inside the generated repo's venv, with the repo on PYTHONPATH.
DRIVER = """
import asyncio, json, os, sys, time, uuid
from notifications.stores import open_store
from notifications.brokers import create_broker
from notifications.consumer import Consumer
from notifications.events import example_event, structured
from notifications.observability.logs import configure_logging
from notifications.processing import Processor
from notifications.settings import Settings


class Measured:
    def __init__(self, inner, total):
        self.inner, self.total, self.durations = inner, total, []
        self.first = self.last = None
        self.cpu_first = self.cpu_last = 0.0
        self.done = asyncio.Event()

    async def process_batch(self, deliveries):
        started = time.perf_counter()
        if self.first is None:
            self.first, self.cpu_first = started, time.process_time()
        await self.inner.process_batch(deliveries)
        self.last, self.cpu_last = time.perf_counter(), time.process_time()
        self.durations.extend([self.last - started] * len(deliveries))
        if len(self.durations) >= self.total:
            self.done.set()


class AckOnly:
    async def process_batch(self, deliveries):
        await asyncio.gather(*(delivery.ack() for delivery in deliveries))


async def publish(settings, total):
    broker = create_broker(settings)
    await broker.connect()
    bodies = [structured(example_event()) for _ in range(total)]
    for start in range(0, total, 500):
        await broker.publish(bodies[start:start + 500], {})
    await broker.close()


async def consume(settings, inner, total):
    await publish(settings, total)
    measured = Measured(inner, total)
    broker = create_broker(settings)
    await broker.connect()
    consumer = Consumer(broker, measured, settings.CONCURRENCY)
    task = asyncio.create_task(consumer.run(drain_timeout=30))
    await asyncio.wait_for(measured.done.wait(), 600)
    consumer.request_stop()
    await task
    await broker.close()
    durations = sorted(measured.durations)
    return {
        "rate": total / (measured.last - measured.first),
        "p99_ms": 1000 * durations[int(0.99 * (len(durations) - 1))],
        "cpu_us": 1e6 * (measured.cpu_last - measured.cpu_first) / total,
    }


async def main(total, rounds):
    configure_logging("INFO")
    settings = Settings()
    store = open_store(settings)
    passes = []
    for _ in range(rounds):
        raw = await consume(
            Settings(QUEUE_NAME="bench-raw-" + uuid.uuid4().hex[:8]), AckOnly(), total
        )
        queue = Settings(QUEUE_NAME="bench-idem-" + uuid.uuid4().hex[:8])
        idem = await consume(queue, Processor(queue, store), total)
        passes.append({"raw": raw, "idempotent": idem})
    rows = (await store.counts()).notifications
    await store.close()
    assert rows == total * rounds, f"{rows} notifications for {total * rounds} events"
    print("RESULT " + json.dumps(passes))


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


@contextlib.contextmanager
def fresh(database: str, stack: contextlib.ExitStack, workdir: Path):
    """DATABASE_URL of a new, empty database of `database` (dropped afterwards); for DynamoDB
    a table on a moto server started here, as `dynamodb://host:port/table`."""
    if database == "postgresql":
        with fresh_database("bench") as url:
            yield url
    elif database == "mysql":
        with fresh_mysql_database("bench") as url:
            yield url
    elif database == "dynamodb":
        endpoint = stack.enter_context(moto_dynamodb(workdir))
        with fresh_dynamodb_table(endpoint.url, "bench") as url:
            yield url
    else:
        server = "mongodb://127.0.0.1:27017"
        if not is_listening("127.0.0.1", 27017):
            port = free_port()
            command = nx_27017_command(port, workdir)
            stack.enter_context(_process(command, port, "nx-27017", workdir / "nx.log"))
            server = f"mongodb://127.0.0.1:{port}"
        with fresh_mongodb_database(server, "bench") as url:
            yield url


def run_broker(
    broker: str,
    endpoint: BrokerEndpoint,
    events: int,
    rounds: int,
    workdir: Path,
    template: Path | None,
    database: str,
    database_url: str,
) -> list[dict]:
    answers = (
        {"broker": broker} if database == "postgresql" else {"broker": broker, "database": database}
    )
    repo = render(workdir / f"{broker}-{database}", "worker", source=template, **answers)
    venv = venv_for(repo)
    env = {
        **endpoint.environment(),
        **store_environment(database_url),
        "REDELIVERY_TIMEOUT": "60",
    }
    migrated = run_in(repo, venv, "python", "-m", PACKAGE, "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", DRIVER, str(events), str(rounds)],
        cwd=repo,
        env={**os.environ, **env, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


def summary_row(broker: str, passes: list[dict]) -> str:
    """Medians over the rounds; each round's ratio is taken within the round (same moment)."""
    raw = [p["raw"] for p in passes]
    idem = [p["idempotent"] for p in passes]
    ratios = [i["rate"] / r["rate"] for r, i in zip(raw, idem, strict=True)]

    def med(values: list[float]) -> float:
        return statistics.median(values)

    return (
        f"| {broker} | {med([r['rate'] for r in raw]):,.0f} | {med([i['rate'] for i in idem]):,.0f}"
        f" | **{med(ratios):.2f}x** ({', '.join(f'{x:.2f}' for x in ratios)})"
        f" | {med([i['p99_ms'] for i in idem]):.1f}"
        f" | {med([r['cpu_us'] for r in raw]):.0f} / {med([i['cpu_us'] for i in idem]):.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="raw and idempotent passes, alternating, per broker"
    )
    parser.add_argument("--brokers", default="rabbitmq,nats,redis,kafka,sqs")
    parser.add_argument(
        "--databases",
        default="postgresql",
        help="the worker's stores, e.g. postgresql,mysql,mongodb,dynamodb",
    )
    parser.add_argument(
        "--template",
        type=Path,
        help="render the worker from this checkout of newservice instead (a before/after run)",
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        for broker in args.brokers.split(","):
            if broker == "kafka":
                endpoint = stack.enter_context(tansu(workdir))
            elif broker == "sqs":
                endpoint = stack.enter_context(moto_sqs(workdir))
            else:
                endpoint = BrokerEndpoint(broker, SERVICES[broker][2])
            for database in args.databases.split(","):
                with fresh(database, stack, workdir) as url:
                    passes = run_broker(
                        broker,
                        endpoint,
                        args.events,
                        args.rounds,
                        workdir,
                        args.template,
                        database,
                        url,
                    )
                label = broker if database == "postgresql" else f"{broker} / {database}"
                rows.append(summary_row(label, passes))
                print(rows[-1], flush=True)
    concurrency = os.environ.get("CONCURRENCY", "256 (the default)")
    print(
        f"\n{args.events:,} events per pass, {args.rounds} rounds, CONCURRENCY={concurrency}, "
        "LOG_LEVEL=INFO; medians over the rounds\n"
    )
    print(
        "| broker (/ store) | raw consume+ack (events/s) | idempotent end-to-end (events/s) "
        "| ratio, median (each round) "
        "| p99 handling (ms) | worker CPU per event, raw / idempotent (us) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
