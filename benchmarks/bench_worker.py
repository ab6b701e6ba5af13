"""Worker throughput: end-to-end idempotent events/s vs the same broker's raw consume-and-ack rate.

For each broker, in one run and side by side:
- raw: the generated worker's own consume loop and broker module, with a handler that only acks
  (no database): what the broker and its client give;
- idempotent: the generated worker as it runs in production (parse, inbox + notification in one
  PostgreSQL transaction per fetched batch, one log line per batch, ack after commit), same
  concurrency (CONCURRENCY=64, the default).
Each pass consumes 10,000 events published beforehand (the publish is not timed); the clock runs
from the first delivery to the last settled one. p99 is the exact 99th percentile of the
per-message handling time of the idempotent pass (receive -> ack).

    python benchmarks/bench_worker.py [--events 10000] [--brokers rabbitmq,nats,redis,kafka,sqs]
        [--template OTHER_CHECKOUT]

Needs the `test` extra (tansu, moto) and PostgreSQL, RabbitMQ, NATS and Redis on loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.brokers import BrokerEndpoint, moto_sqs, tansu
from tests.support.render import render
from tests.support.services import SERVICES
from tests.support.venv import run_in, venv_for

PACKAGE = "notifications"
POSTGRES = SERVICES["postgresql"][2]

# Runs inside the generated repo's venv, with the repo on PYTHONPATH.
DRIVER = """
import asyncio, json, os, sys, time, uuid
from notifications import db
from notifications.brokers import create_broker
from notifications.consumer import Consumer
from notifications.events import example_event
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
    bodies = [example_event().model_dump_json().encode() for _ in range(total)]
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


async def main(total):
    configure_logging("INFO")
    raw = await consume(Settings(QUEUE_NAME="bench-raw-" + uuid.uuid4().hex[:8]), AckOnly(), total)
    settings = Settings(QUEUE_NAME="bench-idem-" + uuid.uuid4().hex[:8])
    engine = db.create_engine(settings.DATABASE_URL, settings.DATABASE_POOL_SIZE)
    idem = await consume(settings, Processor(settings, engine), total)
    async with engine.connect() as connection:
        rows = (await connection.exec_driver_sql("SELECT count(*) FROM notifications")).scalar_one()
    await engine.dispose()
    assert rows == total, f"{rows} notifications for {total} events"
    print("RESULT " + json.dumps({"raw": raw, "idempotent": idem}))


asyncio.run(main(int(sys.argv[1])))
"""


def run_broker(
    broker: str, endpoint: BrokerEndpoint, events: int, workdir: Path, template: Path | None
) -> dict:
    repo = render(workdir / broker, "worker", source=template, broker=broker)
    venv = venv_for(repo)
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database_url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    env = {**endpoint.environment(), "DATABASE_URL": database_url, "REDELIVERY_TIMEOUT": "60"}
    try:
        migrated = run_in(repo, venv, "python", "-m", PACKAGE, "migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        result = subprocess.run(
            [str(venv / "bin" / "python"), "-c", DRIVER, str(events)],
            cwd=repo,
            env={**os.environ, **env, "PYTHONPATH": str(repo)},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
        assert result.returncode == 0 and lines, result.stderr[-3000:]
        return json.loads(lines[-1].removeprefix("RESULT "))
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--brokers", default="rabbitmq,nats,redis,kafka,sqs")
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
            result = run_broker(broker, endpoint, args.events, workdir, args.template)
            raw, idem = result["raw"], result["idempotent"]
            rows.append(
                f"| {broker} | {raw['rate']:,.0f} | {idem['rate']:,.0f} | "
                f"{idem['rate'] / raw['rate']:.2f}x | {idem['p99_ms']:.1f} | "
                f"{raw['cpu_us']:.0f} / {idem['cpu_us']:.0f} |"
            )
            print(rows[-1], flush=True)
    print(f"\n{args.events:,} events per pass, CONCURRENCY=64, LOG_LEVEL=INFO\n")
    print(
        "| broker | raw consume+ack (events/s) | idempotent end-to-end (events/s) | ratio "
        "| p99 handling (ms) | worker CPU per event, raw / idempotent (us) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
