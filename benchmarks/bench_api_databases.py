"""The generated API on each database, side by side, each against its client's own floor.

    python benchmarks/bench_api_databases.py [--duration 5] [--rounds 3] [--connections 64]
        [--databases postgresql,mysql,mongodb,dynamodb]

Needs wrk (`apt-get install wrk`) and the servers of these machines: PostgreSQL (5432), MariaDB
for mysql (3306), nx-27017 for mongodb (27017, started when down) and dynalite for dynamodb
(started here on a free port). For each database it renders the API template from this working
tree, builds its venv, migrates a fresh database, stores 200 orders, and measures on loopback,
one uvicorn process each (uvloop, httptools, no access log) and wrk with one thread:

- GET /api/v1/orders/{id} and GET /api/v1/orders?limit=20 (one page, cursor pagination) of the
  generated service (pool 20, overflow 0, AUTH_ENABLED=false), and
- the floor: the same two reads through the bare client (asyncpg, asyncmy, PyMongo's
  AsyncMongoClient, aiobotocore) behind a minimal FastAPI app with one route each and no
  middleware, returning the rows as they come;

rounds interleaved (service, floor, service, floor, ...) so that machine noise hits both alike;
medians of req/s and p99. The stand-ins (MariaDB, nx-27017, dynalite) are not the production
servers: compare each row with its own floor, not the rows with each other. Prints a Markdown
section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serving import ORDER, UVICORN_FLAGS, process, wrk  # noqa: E402

from tests.support.dynamodb import dynalite  # noqa: E402
from tests.support.render import render  # noqa: E402
from tests.support.services import (  # noqa: E402
    SERVICES,
    fresh_database,
    fresh_mysql_database,
    require,
)
from tests.support.venv import run_in, venv_for  # noqa: E402

ORDERS = 200
# The service's pool as the floor's. The floors have no deadline and no shedding: with the
# default 0.5 s deadline a slow stand-in (nx-27017 is Python over SQLite) queues 64 connections
# past it, and the service answers 503s to wrk, which retries at once, where the floor queues.
# A long deadline keeps the comparison about the read path, as in bench_api.py.
POOL = {
    "DATABASE_POOL_SIZE": "20",
    "DATABASE_MAX_OVERFLOW": "0",
    "REQUEST_TIMEOUT": "10",
    "LOG_LEVEL": "WARNING",
}

# The floor per database: one read by id and one page of 20 newest first, through the client
# alone (a pool of 20 as the service's), rows returned as they come.
FLOORS = {
    "postgresql": """
import asyncpg
pool = None
async def start():
    global pool
    pool = await asyncpg.create_pool(URL, min_size=20, max_size=20)
async def one(order_id):
    async with pool.acquire() as c:
        row = await c.fetchrow("SELECT * FROM orders WHERE id = $1", uuid.UUID(order_id))
    return {k: str(v) for k, v in row.items()}
async def page():
    async with pool.acquire() as c:
        rows = await c.fetch("SELECT * FROM orders ORDER BY created_at DESC, id DESC LIMIT 21")
    return [{k: str(v) for k, v in r.items()} for r in rows[:20]]
""",
    "mysql": """
import asyncmy
from urllib.parse import urlsplit
pool = None
async def start():
    global pool
    u = urlsplit(URL)
    pool = await asyncmy.create_pool(host=u.hostname, port=u.port or 3306, user=u.username,
        password=u.password or "", db=u.path.lstrip("/"), minsize=20, maxsize=20, autocommit=True)
async def one(order_id):
    async with pool.acquire() as c, c.cursor() as cur:
        await cur.execute("SELECT * FROM orders WHERE id = %s", (uuid.UUID(order_id).hex,))
        row = await cur.fetchone()
    return [str(v) for v in row]
async def page():
    async with pool.acquire() as c, c.cursor() as cur:
        await cur.execute("SELECT * FROM orders ORDER BY created_at DESC, id DESC LIMIT 21")
        rows = await cur.fetchall()
    return [[str(v) for v in r] for r in rows[:20]]
""",
    "mongodb": """
from pymongo import AsyncMongoClient
client = None
async def start():
    global client
    client = AsyncMongoClient(URL, minPoolSize=20, maxPoolSize=20, tz_aware=True)
    await client.admin.command("ping")
def orders():
    return client.get_default_database().orders
async def one(order_id):
    doc = await orders().find_one({"_id": order_id})
    return {k: str(v) for k, v in doc.items()}
async def page():
    docs = await orders().find({}, sort=[("_id", -1)], limit=21).to_list()
    return [{k: str(v) for k, v in d.items()} for d in docs[:20]]
""",
    "dynamodb": """
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from contextlib import AsyncExitStack
client = None
stack = AsyncExitStack()
async def start():
    global client
    creator = get_session().create_client(
        "dynamodb", region_name=os.environ["AWS_REGION"],
        endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
        config=AioConfig(max_pool_connections=20))
    client = await stack.enter_async_context(creator)
async def one(order_id):
    r = await client.get_item(TableName=TABLE, Key={"pk": {"S": "ORDER#" + order_id}},
        ConsistentRead=True)
    return r["Item"]
async def page():
    r = await client.query(TableName=TABLE, IndexName="by_created",
        KeyConditionExpression="gsi1pk = :a", ExpressionAttributeValues={":a": {"S": "ORDER"}},
        ScanIndexForward=False, Limit=21)
    return r["Items"][:20]
""",
}

FLOOR_APP = f"""
import os, uuid, contextlib
import uvicorn
from fastapi import FastAPI
URL = os.environ.get("DATABASE_URL", "")
TABLE = os.environ.get("DYNAMODB_TABLE", "")
{{client}}
@contextlib.asynccontextmanager
async def lifespan(app):
    await start()
    yield
app = FastAPI(lifespan=lifespan)
@app.get("/readyz")
async def readyz():
    return {{{{"status": "ok"}}}}
@app.get("/api/v1/orders/{{{{order_id}}}}")
async def get_one(order_id: str):
    return await one(order_id)
@app.get("/api/v1/orders")
async def get_page():
    return await page()
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), {UVICORN_FLAGS})
"""


def environment(database: str, stack: ExitStack, work: Path) -> dict[str, str]:
    """A fresh, empty database (or table name) on the database's server, as env vars."""
    if database == "postgresql":
        return {"DATABASE_URL": stack.enter_context(fresh_database("bench"))}
    if database == "mysql":
        return {"DATABASE_URL": stack.enter_context(fresh_mysql_database("bench"))}
    if database == "mongodb":
        server = require("mongodb").rsplit("/", 1)[0]
        return {"DATABASE_URL": f"{server}/bench_{uuid.uuid4().hex[:12]}"}
    endpoint = stack.enter_context(dynalite(work))
    return {**endpoint.environment(), "DYNAMODB_TABLE": f"bench-{uuid.uuid4().hex[:12]}"}


def post(base: str, body: dict[str, object]) -> str:
    request = urllib.request.Request(
        base + "/api/v1/orders",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["id"])


def bench(database: str, args: argparse.Namespace, work: Path) -> dict[str, tuple[float, float]]:
    """Median (req/s, p99 ms) per (app, read) for `database`."""
    name = f"bench-{database[:5]}"
    repo = render(work / database / "repo", "api", service_name=name, database=database)
    venv = venv_for(repo)
    python = str(venv / "bin" / "python")
    package = name.replace("-", "_")
    with ExitStack() as stack:
        env = environment(database, stack, work)
        env |= {"AUTH_ENABLED": "false", "DYNAMODB_CREATE_TABLE": "true", "PYTHONPATH": str(repo)}
        migrated = run_in(repo, venv, python, "-m", package, "migrate", env=env)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        floor = work / database / "floor.py"
        floor.write_text(FLOOR_APP.format(client=FLOORS[database]))
        service_cmd = [python, "-m", package]
        with process(service_cmd, {**env, **POOL}, repo, "/readyz") as (_, base, _):
            ids = [post(base, {**ORDER, "customer_id": f"c{n}"}) for n in range(ORDERS)]
        paths = {"get": f"/api/v1/orders/{ids[len(ids) // 2]}", "page": "/api/v1/orders?limit=20"}
        samples: dict[str, list[tuple[float, float]]] = {}
        apps = {"service": (service_cmd, {**env, **POOL}), "floor": ([python, str(floor)], env)}
        for _ in range(args.rounds):
            for app, (cmd, app_env) in apps.items():
                with process(cmd, app_env, repo, "/readyz") as (_, base, _):
                    for read, path in paths.items():
                        wrk(base + path, 1, args.connections)  # warm the pool and the caches
                        rps, p99, _ = wrk(base + path, args.duration, args.connections)
                        samples.setdefault(f"{app} {read}", []).append((rps, p99))
    return {
        key: (statistics.median(r for r, _ in runs), statistics.median(p for _, p in runs))
        for key, runs in samples.items()
    }


def ratio(service: float, floor: float) -> str:
    return f"{service / floor:.2f}" if floor else "n/a (the floor completed no request)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--databases", default="postgresql,mysql,mongodb,dynamodb")
    args = parser.parse_args()
    databases = args.databases.split(",")
    servers = {"postgresql": "postgresql", "mysql": "mariadb", "mongodb": "mongodb"}
    for database in databases:
        if database in servers:
            host, port, _ = SERVICES[servers[database]]
            print(f"# {database}: {host}:{port}", file=sys.stderr)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-api-db-") as tmp:
        for database in databases:
            print(f"# measuring {database}", file=sys.stderr)
            results[database] = bench(database, args, Path(tmp))
    command = (
        f"python benchmarks/bench_api_databases.py --duration {args.duration:g} "
        f"--rounds {args.rounds} --connections {args.connections} --databases {args.databases}"
    )
    print(f"`{command}` ({args.connections} connections, wrk -t1, one uvicorn process each; ")
    print(f"medians of {args.rounds} interleaved rounds of {args.duration:g} s)\n")
    print("| database (server here) | read | service req/s | service p99 | floor req/s "
          "| floor p99 | service / floor |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    stand_in = {"mysql": "MariaDB 10.11", "mongodb": "nx-27017", "dynamodb": "dynalite"}
    for database, row in results.items():
        server = stand_in.get(database, "PostgreSQL 15")
        for read, label in (("get", "GET /orders/{id}"), ("page", "GET /orders?limit=20")):
            s_rps, s_p99 = row[f"service {read}"]
            f_rps, f_p99 = row[f"floor {read}"]
            print(
                f"| {database} ({server}) | {label} | {s_rps:,.0f} | {s_p99:.1f} ms "
                f"| {f_rps:,.0f} | {f_p99:.1f} ms | {ratio(s_rps, f_rps)} |"
            )


if __name__ == "__main__":
    main()
