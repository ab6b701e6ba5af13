"""The outbox and the cache of the generated API, side by side with their baselines, in one run.

    python benchmarks/bench_events.py [--duration 8] [--rounds 3] [--connections 16]
        [--broker redis|rabbitmq] [--events 20000]

Needs wrk, PostgreSQL on 127.0.0.1:5432 (trust auth), Redis on 6379 (cache, and broker for
--broker redis) or RabbitMQ on 5672. Renders two API repos from this working tree, both on
PostgreSQL: "outbox + cache" (events=<broker>, cache=redis) and "plain" (neither), and measures
on loopback, one uvicorn process each, wrk with one thread, rounds interleaved:

- POST /api/v1/orders: time per request with the outbox (order + event in one transaction, the
  relay publishing in the same process; a third render, events only, no cache) vs without;
  target <= 1.3x;
- GET /api/v1/orders/{id}: cache hits vs database reads, req/s; target >= 1.5x;
- the relay's sustained publish rate (`python -m orders relay` draining a backlog written with
  the relay off) vs the broker's raw publish rate with confirms (the same client, the same
  structured-mode messages, batches of OUTBOX_BATCH_SIZE, no database); target >= 0.5x.

Prints a Markdown section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.serving import SERVER, free_port, process, wrk  # noqa: E402
from tests.support.render import render  # noqa: E402
from tests.support.venv import venv_for  # noqa: E402

BROKERS = {"redis": "redis://127.0.0.1:6379/0", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/"}
POST_LUA = """
wrk.method = "POST"
wrk.body = '{"customer_id": "bench", "items": '
    .. '[{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}'
wrk.headers["Content-Type"] = "application/json"
"""

# Run with the API's venv: publish N structured-mode events with the broker's confirms, in
# batches, through the broker's client alone; prints events/s.
RAW_PUBLISH = """
import asyncio, json, sys, time, uuid
N, BATCH = int(sys.argv[1]), int(sys.argv[2])
BROKER, URL, QUEUE = sys.argv[3:6]
BODY = json.dumps({"specversion": "1.0", "id": "x", "source": "/bench", "type": "order.created",
    "data": {"order_id": str(uuid.uuid4()), "customer_id": "bench", "total_cents": 999}}).encode()

async def redis_raw():
    import redis.asyncio as redis
    client = redis.Redis.from_url(URL)
    headers = json.dumps({"content-type": "application/cloudevents+json"})
    start = time.perf_counter()
    for _ in range(N // BATCH):
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(BATCH):
                pipe.xadd(QUEUE, {"body": BODY, "headers": headers})
            await pipe.execute()
    elapsed = time.perf_counter() - start
    await client.aclose()
    return elapsed

async def rabbitmq_raw():
    import aio_pika
    connection = await aio_pika.connect(URL)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    await channel.declare_queue(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    start = time.perf_counter()
    for _ in range(N // BATCH):
        await asyncio.gather(*(channel.default_exchange.publish(
            aio_pika.Message(BODY, content_type="application/cloudevents+json",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=QUEUE, mandatory=True) for _ in range(BATCH)))
    elapsed = time.perf_counter() - start
    await connection.close()
    return elapsed

elapsed = asyncio.run(redis_raw() if BROKER == "redis" else rabbitmq_raw())
print(N / elapsed)
"""

ONE_ORDER = '{"customer_id": "b", "items": [{"sku": "S", "quantity": 1, "unit_price": "1.00"}]}'

DECLARE_RABBITMQ = """
import asyncio, sys
import aio_pika
async def main():
    connection = await aio_pika.connect(sys.argv[1])
    channel = await connection.channel()
    await channel.declare_queue(sys.argv[2], durable=True, arguments={"x-queue-type": "quorum"})
    await connection.close()
asyncio.run(main())
"""


def psql(database: str, query: str) -> str:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-tAc", query],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def migrated(repo: Path, venv: Path, name: str) -> str:
    psql("postgres", f'CREATE DATABASE "{name}"')
    url = f"{SERVER}/{name}"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(repo)}
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "orders", "migrate"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
    )
    return url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--broker", choices=sorted(BROKERS), default="redis")
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    broker_url = BROKERS[args.broker]
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-events-"))
    full = render(tmp / "full", "api", service_name="orders", events=args.broker, cache="redis")
    plain = render(tmp / "plain", "api", service_name="orders")
    # POST is compared without the cache (whose write-through is not the outbox's cost).
    only = render(tmp / "outbox", "api", service_name="orders", events=args.broker)
    full_venv, plain_venv, only_venv = venv_for(full), venv_for(plain), venv_for(only)
    if args.broker == "rabbitmq":  # the consumer's queue: RabbitMQ returns unroutable events
        subprocess.run(
            [str(full_venv / "bin" / "python"), "-c", DECLARE_RABBITMQ, broker_url, queue],
            check=True,
        )
    names = [f"bench_{uuid.uuid4().hex[:10]}" for _ in range(4)]
    full_db, plain_db = migrated(full, full_venv, names[0]), migrated(plain, plain_venv, names[1])
    relay_db = migrated(full, full_venv, names[2])
    only_db = migrated(only, only_venv, names[3])
    common = {"ACCESS_LOG": "false", "LOG_LEVEL": "WARNING", "AUTH_ENABLED": "false"}
    full_env = {
        **common,
        "DATABASE_URL": full_db,
        "PYTHONPATH": str(full),
        "BROKER_URL": broker_url,
        "EVENTS_QUEUE_NAME": queue,
        "CACHE_URL": "redis://127.0.0.1:6379/0",
    }
    plain_env = {**common, "DATABASE_URL": plain_db, "PYTHONPATH": str(plain)}
    only_env = {**full_env, "DATABASE_URL": only_db, "PYTHONPATH": str(only)}
    lua = tmp / "post.lua"
    lua.write_text(POST_LUA)
    post: dict[str, list[float]] = {"outbox": [], "plain": []}
    get: dict[str, list[float]] = {"cache hit": [], "database": []}
    try:
        cmd = lambda venv: [str(venv / "bin" / "python"), "-m", "orders"]  # noqa: E731
        with (
            process(cmd(full_venv), full_env, full, "/readyz") as (_, full_base, _),
            process(cmd(plain_venv), plain_env, plain, "/readyz") as (_, plain_base, _),
            process(cmd(only_venv), only_env, only, "/readyz") as (_, only_base, _),
        ):
            ids = {}
            for name, base in (("full", full_base), ("plain", plain_base)):
                out = subprocess.run(
                    [
                        "curl",
                        "-sf",
                        "-XPOST",
                        base + "/api/v1/orders",
                        "-H",
                        "content-type: application/json",
                        "-d",
                        ONE_ORDER,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                ids[name] = out.split('"id":"')[1].split('"')[0]
            for _ in range(args.rounds):
                for key, base in (("outbox", only_base), ("plain", plain_base)):
                    rps, _, _ = wrk_post(base, lua, args.duration, args.connections)
                    post[key].append(rps)
                for key, base, name in (
                    ("cache hit", full_base, "full"),
                    ("database", plain_base, "plain"),
                ):
                    rps, _, _ = wrk(f"{base}/api/v1/orders/{ids[name]}", args.duration, 64)
                    get[key].append(rps)
        relay_rate, raw_rate = relay_versus_raw(
            full, full_venv, relay_db, broker_url, queue, args.broker, args.events, tmp
        )
    finally:
        for name in names:
            psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report(args, post, get, relay_rate, raw_rate)


def wrk_post(base: str, lua: Path, duration: float, connections: int) -> tuple[float, float, int]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration:g}s",
            "-s",
            str(lua),
            "--timeout",
            "10s",
            base + "/api/v1/orders",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        raise RuntimeError(f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rps, 0.0, 0


def relay_versus_raw(
    repo: Path,
    venv: Path,
    database_url: str,
    broker_url: str,
    queue: str,
    broker: str,
    events: int,
    tmp: Path,
) -> tuple[float, float]:
    """Events/s: the relay draining `events` from the outbox, then the broker's raw publish."""
    python = str(venv / "bin" / "python")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(repo),
        "BROKER_URL": broker_url,
        "EVENTS_QUEUE_NAME": queue,
        "LOG_LEVEL": "WARNING",
        "CACHE_URL": "redis://127.0.0.1:6379/0",
    }
    # The backlog: one order written through the service's own code, its outbox row copied.
    subprocess.run(
        [
            python,
            "-c",
            "import asyncio\nfrom orders.settings import Settings\n"
            "from orders.storage import open_storage\nfrom orders.models import OrderCreate\n"
            "async def m():\n s = open_storage(Settings())\n"
            " await s.orders.create(OrderCreate(customer_id='b', items=[{'sku': 'S', 'quantity': 1,"
            " 'unit_price': '1.00'}]))\n await s.close()\nasyncio.run(m())",
        ],
        cwd=repo,
        env=env,
        check=True,
    )
    psql(
        database_url.rsplit("/", 1)[1],
        "INSERT INTO outbox (event_id, event_type, body, headers, created_at) "
        f"SELECT gen_random_uuid()::text, event_type, body, headers, created_at "
        f"FROM outbox, generate_series(2, {events})",
    )
    name = database_url.rsplit("/", 1)[1]
    relay = subprocess.Popen(
        [python, "-m", "orders", "relay"],
        cwd=repo,
        env={**env, "PORT": str(free_port())},
        stdout=subprocess.DEVNULL,
    )
    start = time.perf_counter()
    try:
        while int(psql(name, "SELECT count(*) FROM outbox")) > 0:
            if relay.poll() is not None:
                raise RuntimeError(f"the relay exited with {relay.returncode}")
            time.sleep(0.05)
        relay_rate = events / (time.perf_counter() - start)
    finally:
        relay.terminate()
        relay.wait(30)
    raw = subprocess.run(
        [python, "-c", RAW_PUBLISH, str(events), "100", broker, broker_url, queue],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return relay_rate, float(raw.stdout.strip())


def report(args, post, get, relay_rate: float, raw_rate: float) -> None:
    med = {k: statistics.median(v) for k, v in {**post, **get}.items()}
    post_ratio = med["plain"] / med["outbox"]
    get_ratio = med["cache hit"] / med["database"]
    print(f"\n## Events and cache (benchmarks/bench_events.py, broker {args.broker})\n")
    print(
        f"`python benchmarks/bench_events.py --duration {args.duration:g} --rounds "
        f"{args.rounds} --connections {args.connections} --broker {args.broker} "
        f"--events {args.events}`; medians of {args.rounds} interleaved rounds.\n"
    )
    print("| measure | with | without / raw | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| POST /api/v1/orders, ms per request at {args.connections} connections | "
        f"{1000 * args.connections / med['outbox']:.2f} (outbox) | "
        f"{1000 * args.connections / med['plain']:.2f} (plain) | {post_ratio:.2f}x | <= 1.3x |"
    )
    print(
        f"| GET /api/v1/orders/{{id}}, req/s | {med['cache hit']:.0f} (cache hit) | "
        f"{med['database']:.0f} (database) | {get_ratio:.2f}x | >= 1.5x |"
    )
    print(
        f"| publish, events/s | {relay_rate:.0f} (relay) | {raw_rate:.0f} (raw, confirms) | "
        f"{relay_rate / raw_rate:.2f}x | >= 0.5x |"
    )


if __name__ == "__main__":
    main()
