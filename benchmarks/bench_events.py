"""The outbox and the cache of the generated API, side by side with their baselines, in one run.

    python benchmarks/bench_events.py [--duration 8] [--rounds 3] [--connections 16]
        [--broker redis] [--relay-brokers rabbitmq,kafka,nats,redis,sqs] [--events 20000]
        [--batch 100] [--part all|api|relay]

Needs wrk, PostgreSQL on 127.0.0.1:5432 (trust auth), Redis on 6379 (the cache), and the
brokers: RabbitMQ on 5672 and NATS (JetStream) on 4222 running; Kafka (tansu) and SQS (moto)
are started on free ports as the generator's tests start them. Renders the API from this
working tree, all on PostgreSQL, and measures on loopback, one process each, wrk with one
thread, rounds interleaved:

- POST /api/v1/orders: time per request with the outbox (order + event written together, the
  relay publishing in the same process; a render with events=<--broker>, no cache) vs without
  ("plain": neither answer); target <= 1.3x;
- GET /api/v1/orders/{id}: cache hits (events=<--broker>, cache=redis) vs database reads
  (plain), req/s; target >= 1.5x;
- for every broker of --relay-brokers (default: all five the API can publish to), the relay's
  sustained publish rate (`python -m orders relay` draining a backlog of --events, from its
  first committed batch to an empty outbox) vs the broker's raw publish rate with confirms
  through the same client library (the same messages, batches of --batch, no database:
  events_raw.py), relay and raw taking turns for --rounds, medians; target >= 0.5x. See
  events_relay.py.

Prints a Markdown section for BENCHMARKS.md (with the load average before and after).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.events_raw import setup_command  # noqa: E402
from benchmarks.events_relay import (  # noqa: E402
    BROKERS,
    MOTO_EVENTS,
    backlog_size,
    migrated,
    relay_versus_raw,
)
from benchmarks.serving import process, wrk  # noqa: E402
from tests.support.render import render  # noqa: E402
from tests.support.services import SERVICES  # noqa: E402
from tests.support.venv import venv_for  # noqa: E402

POST_LUA = """
wrk.method = "POST"
wrk.body = '{"customer_id": "bench", "items": '
    .. '[{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}'
wrk.headers["Content-Type"] = "application/json"
"""
ONE_ORDER = '{"customer_id": "b", "items": [{"sku": "S", "quantity": 1, "unit_price": "1.00"}]}'
WRK_TIMEOUT = ("--timeout", "10s")
JSON = ("-H", "content-type: application/json")
CACHE_URL = "redis://127.0.0.1:6379/0"


def load() -> str:
    """The load averages (1, 5, 15 minutes), as `uptime` shows them."""
    return ", ".join(Path("/proc/loadavg").read_text().split()[:3])


def api_runs(args: argparse.Namespace, tmp: Path) -> tuple[dict[str, list[float]], ...]:
    """POST with and without the outbox, GET cache hit and database read: req/s per round."""
    if args.broker not in ("redis", "rabbitmq", "nats"):
        raise SystemExit(
            "--broker: the API runs use a broker of this machine: redis, rabbitmq or nats"
        )
    broker_url = SERVICES[args.broker][2]
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    full = render(tmp / "full", "api", service_name="orders", events=args.broker, cache="redis")
    plain = render(tmp / "plain", "api", service_name="orders")
    # POST is compared without the cache (whose write-through is not the outbox's cost).
    only = render(tmp / "outbox", "api", service_name="orders", events=args.broker)
    full_venv, plain_venv, only_venv = venv_for(full), venv_for(plain), venv_for(only)
    common = {"ACCESS_LOG": "false", "LOG_LEVEL": "WARNING", "AUTH_ENABLED": "false"}
    broker_env = {"BROKER_URL": broker_url, "EVENTS_QUEUE_NAME": queue}
    setup = setup_command(str(full_venv / "bin" / "python"), args.broker)
    subprocess.run(setup, cwd=full, env={**os.environ, **broker_env}, check=True)
    lua = tmp / "post.lua"
    lua.write_text(POST_LUA)
    post: dict[str, list[float]] = {"outbox": [], "plain": []}
    get: dict[str, list[float]] = {"cache hit": [], "database": []}
    cmd = lambda venv: [str(venv / "bin" / "python"), "-m", "orders"]  # noqa: E731
    with contextlib.ExitStack() as stack:
        full_db = stack.enter_context(migrated(full, full_venv))
        plain_db = stack.enter_context(migrated(plain, plain_venv))
        only_db = stack.enter_context(migrated(only, only_venv))
        full_env = {**common, **broker_env, "DATABASE_URL": full_db, "PYTHONPATH": str(full)}
        full_env["CACHE_URL"] = CACHE_URL
        plain_env = {**common, "DATABASE_URL": plain_db, "PYTHONPATH": str(plain)}
        only_env = {**common, **broker_env, "DATABASE_URL": only_db, "PYTHONPATH": str(only)}
        _, full_base, _ = stack.enter_context(process(cmd(full_venv), full_env, full, "/readyz"))
        _, plain_base, _ = stack.enter_context(
            process(cmd(plain_venv), plain_env, plain, "/readyz")
        )
        _, only_base, _ = stack.enter_context(process(cmd(only_venv), only_env, only, "/readyz"))
        ids = {
            name: create_order(base) for name, base in (("full", full_base), ("plain", plain_base))
        }
        for _ in range(args.rounds):
            for key, base in (("outbox", only_base), ("plain", plain_base)):
                post[key].append(wrk_post(base, lua, args.duration, args.connections))
            for key, base, name in (
                ("cache hit", full_base, "full"),
                ("database", plain_base, "plain"),
            ):
                rps, _, _ = wrk(f"{base}/api/v1/orders/{ids[name]}", args.duration, 64)
                get[key].append(rps)
    return post, get


def create_order(base: str) -> str:
    out = subprocess.run(
        ["curl", "-sf", "-XPOST", f"{base}/api/v1/orders", *JSON, "-d", ONE_ORDER],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split('"id":"')[1].split('"')[0]


def wrk_post(base: str, lua: Path, duration: float, connections: int) -> float:
    url = f"{base}/api/v1/orders"
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "-s", str(lua), *WRK_TIMEOUT, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--broker", default="redis", help="the broker of the API runs")
    parser.add_argument("--relay-brokers", default=",".join(BROKERS))
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=100, help="OUTBOX_BATCH_SIZE")
    parser.add_argument("--part", choices=["all", "api", "relay"], default="all")
    args = parser.parse_args()
    brokers = [name for name in args.relay_brokers.split(",") if name]
    unknown = sorted(set(brokers) - set(BROKERS))
    if unknown:
        raise SystemExit(f"--relay-brokers: unknown {unknown}; known: {', '.join(BROKERS)}")
    # SIGTERM ends the run through the `finally`s: servers stopped, databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started, load_before = datetime.now(UTC), load()
    tmp = Path(tempfile.mkdtemp(prefix="bench-events-"))
    post, get = api_runs(args, tmp) if args.part != "relay" else ({}, {})
    relay: dict[str, tuple[float, float]] = {}
    if args.part != "api":
        for broker in brokers:
            relay[broker] = relay_versus_raw(broker, args.events, args.batch, tmp, args.rounds)
            rates = ", ".join(f"{rate:.0f}" for rate in relay[broker])
            print(f"{broker}: relay, raw events/s: {rates} (load {load()})", file=sys.stderr)
    report(args, started, load_before, load(), post, get, relay)


def report(
    args: argparse.Namespace,
    started: datetime,
    load_before: str,
    load_after: str,
    post: dict[str, list[float]],
    get: dict[str, list[float]],
    relay: dict[str, tuple[float, float]],
) -> None:
    print("\n## Events (outbox) and cache (API)\n")
    print(
        f"Command (repo root): `python benchmarks/bench_events.py {' '.join(sys.argv[1:])}`"
        f" ({started:%Y-%m-%d %H:%M} UTC; load average {load_before} before, {load_after}"
        f" after; {os.cpu_count()} cores). All on PostgreSQL; medians of {args.rounds}"
        " interleaved rounds, wrk with one thread.\n"
    )
    if post:
        med = {k: statistics.median(v) for k, v in {**post, **get}.items()}
        post_ratio = med["outbox"] and med["plain"] / med["outbox"]
        c = args.connections
        print("| measure | with | without | ratio | target |")
        print("|---|---|---|---|---|")
        print(
            f"| POST /api/v1/orders, ms per request at {c} connections (events={args.broker}) | "
            f"{1000 * c / med['outbox']:.2f} (outbox) | {1000 * c / med['plain']:.2f} (plain) | "
            f"{post_ratio:.2f}x | <= 1.3x |"
        )
        print(
            f"| GET /api/v1/orders/{{id}}, req/s at 64 connections | {med['cache hit']:.0f} "
            f"(cache hit) | {med['database']:.0f} (database) | "
            f"{med['cache hit'] / med['database']:.2f}x | >= 1.5x |"
        )
        print()
    if relay:
        print(
            "The relay's sustained publish rate (`python -m orders relay` draining a backlog, "
            f"from its first committed batch to an empty outbox; OUTBOX_BATCH_SIZE={args.batch}; "
            f"medians of {args.rounds} rounds, relay and raw taking turns) "
            "vs the broker's raw publish with confirms through the same client library (same "
            "messages and batches, a fresh queue, no database). Kafka is tansu (memory storage) "
            f"and SQS moto's server (at most {MOTO_EVENTS:,} events: it slows as its queue "
            "grows), so only their ratios mean something.\n"
        )
        print(
            "| broker | events | relay, events/s | raw with confirms, events/s | ratio | target |"
        )
        print("|---|---|---|---|---|---|")
        for broker, (relay_rate, raw_rate) in relay.items():
            print(
                f"| {broker} | {backlog_size(broker, args.events):,} | {relay_rate:.0f} | "
                f"{raw_rate:.0f} | {relay_rate / raw_rate:.2f}x | >= 0.5x |"
            )


if __name__ == "__main__":
    main()
