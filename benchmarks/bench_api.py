"""Speed and memory of the generated API service, side by side with its references, in one run.

    python benchmarks/bench_api.py [--duration 8] [--rounds 3] [--connections 64]
        [--part all|healthz|orders] [--service-env KEY=VALUE ...] [--service-header 'N: v' ...]

Needs wrk (`apt-get install wrk`) and PostgreSQL on 127.0.0.1:5432 (trust auth). It renders the
API template (database postgresql) from this working tree, builds its venv, and measures, on
loopback only, one uvicorn process each with the same server settings (uvloop, httptools, no
access log) and wrk with one thread (the machine has two cores: one for the server, one for wrk),
rounds interleaved (A, B, C, A, B, C, ...) so that machine noise hits all alike; medians:

- GET /healthz of the generated service vs (a) a plain FastAPI app of the same version with one
  /healthz route and no middleware and (b) a bare uvicorn ASGI app (the ceiling);
- GET /api/v1/orders/{id} of one stored order: the generated service (auth off unless
  --service-env/--service-header turn it on) vs (a) a hand-written FastAPI route over a plain
  asyncpg pool of 20 returning the same model and (b) a bare ASGI app over the same pool (the
  ceiling), all on the same database;
- cold start: process spawn to the first /readyz 200 (median of 5);
- RSS of the service idle (ready) and after >= 10k GET /api/v1/orders/{id}.

full-stack-fastapi-template 0.10.0's GET /api/v1/items/{id} is not among the references: its
source was not available to this run (no network beyond the package registries).

Prints a Markdown section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.render import render  # noqa: E402
from tests.support.venv import venv_for  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432"
ORDER = {"customer_id": "bench", "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}
UVICORN_FLAGS = "loop='uvloop', http='httptools', access_log=False, log_level='warning'"

PLAIN_FASTAPI = f"""
import uvicorn
from fastapi import FastAPI

app = FastAPI()

@app.get("/healthz")
async def healthz():
    return {{"status": "ok"}}

uvicorn.run(app, host="127.0.0.1", port=int(__import__("os").environ["PORT"]), {UVICORN_FLAGS})
"""

BARE_ASGI = f"""
import uvicorn

BODY = b'{{"status": "ok"}}'
START = {{"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"application/json"), (b"content-length", b"16")]}}

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive(); await send({{"type": "lifespan.startup.complete"}})
        await receive(); await send({{"type": "lifespan.shutdown.complete"}})
        return
    await send(START)
    await send({{"type": "http.response.body", "body": BODY}})

uvicorn.run(app, host="127.0.0.1", port=int(__import__("os").environ["PORT"]), {UVICORN_FLAGS})
"""


# The references for GET /api/v1/orders/{id}: the same row, the same JSON, the same database,
# over a plain asyncpg pool of 20 (the generated service's pool size), jsonb decoded as the
# service does. (1) what a developer writes by hand in FastAPI; (2) a bare ASGI app, the ceiling.
ASYNCPG_POOL = """
import asyncpg, json, os

SELECT = ("SELECT id, customer_id, items, total, status, created_at FROM orders WHERE id = $1")

async def init(connection):
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )

async def open_pool():
    return await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=20, max_size=20, init=init, ssl=False
    )
"""

HANDWRITTEN_FASTAPI = (
    ASYNCPG_POOL
    + f"""
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

class Order(BaseModel):
    id: UUID
    customer_id: str
    items: list[dict]
    total: Decimal
    status: str
    created_at: datetime

pool = None

@asynccontextmanager
async def lifespan(app):
    global pool
    pool = await open_pool()
    yield
    await pool.close()

app = FastAPI(lifespan=lifespan)

@app.get("/healthz")
async def healthz():
    return {{"status": "ok"}}

@app.get("/api/v1/orders/{{order_id}}", response_model=Order)
async def get_order(order_id: UUID):
    row = await pool.fetchrow(SELECT, order_id)
    if row is None:
        raise HTTPException(404, "not found")
    return dict(row)

uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), {UVICORN_FLAGS})
"""
)

BARE_ASGI_ASYNCPG = (
    ASYNCPG_POOL
    + f"""
import uuid
import uvicorn

pool = None
PREFIX = "/api/v1/orders/"
HEADERS = [(b"content-type", b"application/json")]

def default(value):
    return str(value)

async def app(scope, receive, send):
    global pool
    if scope["type"] == "lifespan":
        await receive()
        pool = await open_pool()
        await send({{"type": "lifespan.startup.complete"}})
        await receive()
        await pool.close()
        await send({{"type": "lifespan.shutdown.complete"}})
        return
    path = scope["path"]
    row = None
    if path.startswith(PREFIX):
        row = await pool.fetchrow(SELECT, uuid.UUID(path[len(PREFIX):]))
    if path == "/healthz":
        body, status = b'{{"status": "ok"}}', 200
    elif row is None:
        body, status = b'{{"detail": "not found"}}', 404
    else:
        record = dict(row)
        record["created_at"] = record["created_at"].isoformat()
        body, status = json.dumps(record, default=default).encode(), 200
    await send({{"type": "http.response.start", "status": status, "headers": HEADERS}})
    await send({{"type": "http.response.body", "body": body}})

uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), {UVICORN_FLAGS})
"""
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_of(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@contextmanager
def process(
    cmd: list[str], env: dict[str, str], cwd: Path, ready: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, float]]:
    """Start `cmd`; yield it, its base URL and seconds from spawn to `ready` answering 200."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, **env, "PORT": str(port)}
    start = time.perf_counter()
    # stderr goes to a file, not a pipe: a pipe nobody reads fills up (64 KiB) under a load that
    # logs, and the app then blocks on its next log line, which wrk sees as socket errors.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, env=full_env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log)
    try:
        while status_of(base + ready) != 200:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{cmd} exited: {log.read().decode(errors='replace')}")
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"{cmd} not ready in 30 s")
            time.sleep(0.005)
        yield proc, base, time.perf_counter() - start
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.seek(0)
        errors = log.read().decode(errors="replace")
        log.close()
        if "Traceback" in errors:  # say why responses failed, not only that they did
            print(f"{cmd[-1]} logged errors (last lines):\n{errors[-1500:]}", file=sys.stderr)


def wrk(
    url: str, duration: float, connections: int, headers: tuple[str, ...] = ()
) -> tuple[float, float, int]:
    """req/s, p99 in ms and the request count of one wrk run (one thread)."""
    header_flags = [flag for header in headers for flag in ("-H", header)]
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration:g}s",
            "--timeout",
            "10s",
            "--latency",
            *header_flags,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
    p99 = float(p99_value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if re.search(r"Socket errors", out):
        raise RuntimeError(f"wrk saw socket errors against {url}:\n{out}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if failed:  # 504 past the deadline or 503 shed: reported, and not counted as served
        print(f"{url}: {failed.group(1)} of {count} responses not 2xx", file=sys.stderr)
        rps *= (count - int(failed.group(1))) / count
    return rps, p99, count


App = tuple[list[str], dict[str, str], str]  # command, environment, readiness path


def interleaved(
    apps: dict[str, App],
    path: str,
    args: argparse.Namespace,
    cwd: Path,
    headers: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, list[tuple[float, float]]]:
    """wrk on `path` of each app, rounds interleaved (A, B, C, A, B, C, ...), a fresh process
    each time and a 1 s warm-up; (req/s, p99 ms) per round."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
    for _ in range(args.rounds):
        for name, (cmd, env, ready) in apps.items():
            extra = (headers or {}).get(name, ())
            with process(cmd, env, cwd, ready) as (_, base, _):
                wrk(base + path, 1, args.connections, extra)  # warm-up
                rps, p99, _ = wrk(base + path, args.duration, args.connections, extra)
                runs[name].append((rps, p99))
    return runs


def med(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r for r, _ in runs), statistics.median(p for _, p in runs)


def psql(*sql: str) -> None:
    for statement in sql:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", statement],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per app")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--part", choices=["all", "healthz", "orders"], default="all", help="what to measure"
    )
    parser.add_argument(
        "--service-env", action="append", default=[], metavar="KEY=VALUE",
        help="extra environment of the generated service (e.g. AUTH_* for an auth-on run)",
    )  # fmt: skip
    parser.add_argument(
        "--service-header", action="append", default=[], metavar="'Name: value'",
        help="header wrk sends to the generated service's orders route (e.g. a bearer token)",
    )  # fmt: skip
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    repo = render(work / "orders", "api", service_name="orders", database="postgresql")
    venv = venv_for(repo)
    python = str(venv / "bin" / "python")
    versions = subprocess.run(
        [python, "-c", "import fastapi, uvicorn, asyncpg, sys; print(f'Python "
         "{sys.version.split()[0]}, FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}"
         ", asyncpg {asyncpg.__version__}')"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    scripts = {
        "plain_fastapi.py": PLAIN_FASTAPI,
        "bare_asgi.py": BARE_ASGI,
        "handwritten_fastapi_asyncpg.py": HANDWRITTEN_FASTAPI,
        "bare_asgi_asyncpg.py": BARE_ASGI_ASYNCPG,
    }
    for name, text in scripts.items():
        (work / name).write_text(text)

    database = f"bench_{uuid.uuid4().hex[:12]}"
    url = f"{SERVER}/{database}"
    psql(f'CREATE DATABASE "{database}"')
    rows: list[tuple[str, ...]] = []
    try:
        service_env = {
            "PYTHONPATH": str(repo),
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            # Auth is measured on only when asked (--service-env AUTH_...): the references
            # check no token.
            "AUTH_ENABLED": "false",
            # The references have no deadline and no shedding: on a loaded machine 64
            # connections can queue past 0.5 s, and the service would answer 504/503 where they
            # queue. A long deadline keeps the comparison about the read path; on a quiet
            # machine (p99 well under 0.5 s) it changes nothing. --service-env overrides it.
            "REQUEST_TIMEOUT": "10",
        }
        service_env |= dict(item.split("=", 1) for item in args.service_env)
        subprocess.run(
            [python, "-m", "orders", "migrate"],
            env={**os.environ, **service_env},
            cwd=repo,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        generated: App = ([python, "-m", "orders"], service_env, "/readyz")

        if args.part in ("all", "healthz"):
            healthz = interleaved(
                {
                    "generated service": generated,
                    "plain FastAPI": ([python, str(work / "plain_fastapi.py")], {}, "/healthz"),
                    "bare uvicorn ASGI": ([python, str(work / "bare_asgi.py")], {}, "/healthz"),
                },
                "/healthz",
                args,
                work,
            )
            gen, plain, bare = (med(runs) for runs in healthz.values())
            rows += [
                (f"GET /healthz req/s (median of {args.rounds})", f"{gen[0]:,.0f}",
                 f"{plain[0]:,.0f}", f"{bare[0]:,.0f}", ""),
                ("ratio to plain FastAPI", f"{gen[0] / plain[0]:.2f}x", "1.00x",
                 f"{bare[0] / plain[0]:.2f}x", ">= 0.9x"),
                ("GET /healthz p99, ms", f"{gen[1]:.1f}", f"{plain[1]:.1f}", f"{bare[1]:.1f}",
                 "<= 20"),
            ]  # fmt: skip

        with process(*generated[:2], repo, "/readyz") as (_, base, _):
            body = json.dumps(ORDER).encode()
            headers = dict(h.split(": ", 1) for h in args.service_header)
            request = urllib.request.Request(
                base + "/api/v1/orders",
                data=body,
                headers={"content-type": "application/json", **headers},
            )
            with urllib.request.urlopen(request) as response:
                order_id = re.search(rb'"id":"([^"]+)"', response.read()).group(1).decode()  # type: ignore[union-attr]
        path = f"/api/v1/orders/{order_id}"

        if args.part in ("all", "orders"):
            reference_env = {"DATABASE_URL": url}
            orders = interleaved(
                {
                    "generated service": generated,
                    "hand-written FastAPI + asyncpg": (
                        [python, str(work / "handwritten_fastapi_asyncpg.py")],
                        reference_env,
                        "/healthz",
                    ),
                    "bare ASGI + asyncpg": (
                        [python, str(work / "bare_asgi_asyncpg.py")],
                        reference_env,
                        "/healthz",
                    ),
                },
                path,
                args,
                work,
                headers={"generated service": tuple(args.service_header)},
            )
            gen, hand, bare = (med(runs) for runs in orders.values())
            rows += [
                (f"GET /api/v1/orders/{{id}} on PostgreSQL req/s (median of {args.rounds})",
                 f"{gen[0]:,.0f}", f"{hand[0]:,.0f}", f"{bare[0]:,.0f}", ""),
                ("ratio to hand-written FastAPI + asyncpg", f"{gen[0] / hand[0]:.2f}x", "1.00x",
                 f"{bare[0] / hand[0]:.2f}x", ">= 0.8x (auth off), >= 0.7x (auth on)"),
                ("GET /api/v1/orders/{id} p99, ms", f"{gen[1]:.1f}", f"{hand[1]:.1f}",
                 f"{bare[1]:.1f}", "<= 100"),
            ]  # fmt: skip

        if args.part == "all":
            cold = []
            for _ in range(5):
                with process(*generated[:2], repo, "/readyz") as (_, _, seconds):
                    cold.append(seconds)
            with process(*generated[:2], repo, "/readyz") as (proc, base, _):
                time.sleep(1)
                rss_idle = rss_mib(proc.pid)
                served = 0
                while served < 10_000:
                    served += wrk(
                        base + path, args.duration, args.connections, tuple(args.service_header)
                    )[2]
                rss_loaded = rss_mib(proc.pid)
            rows += [
                ("cold start to first /readyz 200, s (median of 5)",
                 f"{statistics.median(cold):.2f}", "", "", "<= 0.8"),
                ("RSS idle (ready), MiB", f"{rss_idle:.1f}", "", "", "<= 80"),
                (f"RSS after {served:,} order reads, MiB", f"{rss_loaded:.1f}", "", "", "<= 80"),
            ]  # fmt: skip
    finally:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
             f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'],
            check=False,
        )  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)

    command = "python benchmarks/bench_api.py " + " ".join(sys.argv[1:])
    print(f"### API service\n\n`{command.strip()}`\n")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load"
        f" average before the run {load_before}, wrk -t1 -c{args.connections}, {versions}.\n"
    )
    print("Columns: the generated service; the reference of its row (plain FastAPI for /healthz,")
    print("a hand-written FastAPI route over an asyncpg pool of 20 for orders); the bare ASGI")
    print("ceiling of its row.\n")
    print("| measure | generated service | FastAPI reference | bare ASGI | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
