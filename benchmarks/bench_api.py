"""Speed and memory of the generated API service, side by side with its references, in one run.

    python benchmarks/bench_api.py [--duration 8] [--rounds 3] [--connections 64]
        [--part all|healthz|orders] [--fullstack DIR [--fullstack-tag 0.10.0]]

Needs wrk (`apt-get install wrk`) and PostgreSQL on 127.0.0.1:5432 (trust auth). It renders the
API template (database postgresql) from this working tree, builds its venv, and measures, on
loopback only, one uvicorn process each with the same server settings (uvloop, httptools, no
access log) and wrk with one thread (the machine has two cores: one for the server, one for wrk),
rounds interleaved (A, B, C, A, B, C, ...) so that machine noise hits all alike; medians:

- GET /healthz of the generated service vs (a) a plain FastAPI app of the same version with one
  /healthz route and no middleware and (b) a bare uvicorn ASGI app (the ceiling);
- GET /api/v1/orders/{id} of one stored order: the generated service with authentication off
  and on (a local issuer, tests/support/jwt_issuer.py: RS256, the JWKS fetched once, wrk sending
  the same token every time, so the token check is the cached one) vs (a) a hand-written
  FastAPI route over a plain asyncpg pool of 20 returning the same model and (b) a bare ASGI app
  over the same pool (the ceiling), all on the same database (benchmarks/references/);
- with `--fullstack`: full-stack-fastapi-template's GET /api/v1/items/{id} with its own token
  check, as shipped (AnyIO's 40 threads over 15 pooled connections: it deadlocks within a
  second at 64 connections, so it is measured from its first request, without a warm-up, and
  the answers it gave are counted) and with its thread limit raised to `--fullstack-threads`
  (benchmarks/fullstack.py says how it is installed);
- cold start: process spawn to the first /readyz 200 (median of 5);
- RSS of the service idle (ready) and after >= 10k GET /api/v1/orders/{id}.

The generated service runs with REQUEST_TIMEOUT=10: the references have no deadline, and on a
loaded machine 64 connections can queue past the default 0.5 s, where the service would answer
504 and the references just queue. Only 2xx answers count as served. Prints a Markdown section
for BENCHMARKS.md. In-process CPU time per request: benchmarks/bench_api_cpu.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serving import (  # noqa: E402
    ORDER,
    SERVER,
    App,
    Load,
    interleaved,
    med,
    process,
    psql,
    reference,
    rss_mib,
    wrk,
)

from tests.support.jwt_issuer import issuer_for  # noqa: E402
from tests.support.render import render  # noqa: E402
from tests.support.venv import venv_for  # noqa: E402

Row = tuple[str, ...]


def create_order(app: App, repo: Path) -> str:
    """POST one order to the generated service; its id."""
    with process(app.cmd, app.env, repo, app.ready) as (_, base, _):
        request = urllib.request.Request(
            base + "/api/v1/orders",
            data=json.dumps(ORDER).encode(),
            headers={
                "content-type": "application/json",
                **dict(h.split(": ", 1) for h in app.headers),
            },
        )
        with urllib.request.urlopen(request) as response:
            return re.search(rb'"id":"([^"]+)"', response.read()).group(1).decode()  # type: ignore[union-attr]


def healthz_rows(apps: dict[str, App], args: argparse.Namespace, work: Path) -> list[Row]:
    runs = interleaved(apps, "/healthz", args, work)
    gen, plain, bare = (med(r) for r in runs.values())
    return [
        (f"GET /healthz req/s (median of {args.rounds})", f"{gen[0]:,.0f}", "", f"{plain[0]:,.0f}",
         f"{bare[0]:,.0f}", ""),
        ("ratio to plain FastAPI", f"{gen[0] / plain[0]:.2f}x", "", "1.00x",
         f"{bare[0] / plain[0]:.2f}x", ">= 0.9x"),
        ("GET /healthz p99, ms", f"{gen[1]:.1f}", "", f"{plain[1]:.1f}", f"{bare[1]:.1f}", "<= 20"),
    ]  # fmt: skip


def orders_rows(runs: dict[str, list[Load]], rounds: int) -> list[Row]:
    off, on, hand, bare = (med(runs[name]) for name in ORDER_APPS)
    return [
        (f"GET /api/v1/orders/{{id}} on PostgreSQL req/s (median of {rounds})", f"{off[0]:,.0f}",
         f"{on[0]:,.0f}", f"{hand[0]:,.0f}", f"{bare[0]:,.0f}", ""),
        ("ratio to hand-written FastAPI + asyncpg", f"{off[0] / hand[0]:.2f}x",
         f"{on[0] / hand[0]:.2f}x", "1.00x", f"{bare[0] / hand[0]:.2f}x",
         ">= 0.8x (auth off), >= 0.7x (auth on)"),
        ("GET /api/v1/orders/{id} p99, ms", f"{off[1]:.1f}", f"{on[1]:.1f}", f"{hand[1]:.1f}",
         f"{bare[1]:.1f}", "<= 100"),
    ]  # fmt: skip


ORDER_APPS = ("auth off", "auth on", "hand-written FastAPI + asyncpg", "bare ASGI + asyncpg")
FULLSTACK_APPS = ("full-stack as shipped", "full-stack, threads raised")


def fullstack_lines(runs: dict[str, list[Load]], hand_rps: float, threads: int) -> list[str]:
    lines = [
        "| full-stack-fastapi-template GET /api/v1/items/{id} | req/s 2xx (median) | p99 ms "
        "| ratio to hand-written | per round: answers, req/s, non-2xx, timeouts, socket errors |",
        "|---|---|---|---|---|",
    ]
    for name, label in zip(
        FULLSTACK_APPS,
        ("as shipped (40 threads, 15 connections)", f"{threads} threads"),
        strict=True,
    ):
        rps, p99 = med(runs[name])
        each = "; ".join(
            f"{r.count:,}, {r.rps:,.0f}, {r.not_2xx}, {r.timeouts}, {r.errors}" for r in runs[name]
        )
        lines.append(f"| {label} | {rps:,.0f} | {p99:.1f} | {rps / hand_rps:.2f}x | {each} |")
    return lines


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
        "--fullstack", metavar="DIR",
        help="full-stack-fastapi-template: a checkout, or a git directory holding --fullstack-tag",
    )  # fmt: skip
    parser.add_argument("--fullstack-tag", default="0.10.0")
    parser.add_argument(
        "--fullstack-threads", type=int, default=100,
        help="its thread limit in the second measurement (AnyIO's default is 40)",
    )  # fmt: skip
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    if args.fullstack and not Path(args.fullstack).exists():
        parser.error(f"--fullstack {args.fullstack}: no such directory")

    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    repo = render(work / "orders", "api", service_name="orders", database="postgresql")
    python = str(venv_for(repo) / "bin" / "python")
    versions = subprocess.run(
        [python, "-c", "import fastapi, uvicorn, asyncpg, sys; print(f'Python "
         "{sys.version.split()[0]}, FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}"
         ", asyncpg {asyncpg.__version__}')"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    issuer = issuer_for("orders")
    token = f"Authorization: Bearer {issuer.token(['orders:read', 'orders:write'])}"
    database = f"bench_{uuid.uuid4().hex[:12]}"
    url = f"{SERVER}/{database}"
    psql(f'CREATE DATABASE "{database}"')
    created = [database]
    rows: list[Row] = []
    notes: list[str] = []
    try:
        base_env = {"PYTHONPATH": str(repo), "DATABASE_URL": url, "LOG_LEVEL": "WARNING",
                    "REQUEST_TIMEOUT": "10"}  # fmt: skip
        subprocess.run(
            [python, "-m", "orders", "migrate"], env={**os.environ, **base_env}, cwd=repo,
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        service = [python, "-m", "orders"]
        auth_off = App(service, {**base_env, "AUTH_ENABLED": "false"}, "/readyz")
        auth_on = App(service, {**base_env, **issuer.settings()}, "/readyz", headers=(token,))

        if args.part in ("all", "healthz"):
            rows += healthz_rows(
                {"generated": auth_off, "plain": reference(python, "plain_fastapi"),
                 "bare": reference(python, "bare_asgi")},
                args, work,
            )  # fmt: skip

        path = f"/api/v1/orders/{create_order(auth_on, repo)}"
        if args.part in ("all", "orders"):
            db = {"DATABASE_URL": url}
            apps = dict(zip(ORDER_APPS, (
                auth_off, auth_on, reference(python, "handwritten_fastapi_asyncpg", db),
                reference(python, "bare_asgi_asyncpg", db),
            ), strict=True))  # fmt: skip
            if args.fullstack:
                from fullstack import FullstackError, prepare

                fullstack_db = f"{database}_fullstack"
                psql(f'CREATE DATABASE "{fullstack_db}"')
                created.append(fullstack_db)
                try:
                    full = prepare(args.fullstack, args.fullstack_tag, fullstack_db)
                except FullstackError as error:
                    sys.exit(f"full-stack-fastapi-template could not be set up: {error}")
                # As shipped it deadlocks within a second: measured from its first request
                # (a warm-up would leave nothing to measure), wrk giving up after 2 s.
                shipped = dataclasses.replace(
                    full.app(None), path=full.item_path, timeout=2, warmup=False
                )
                raised = dataclasses.replace(full.app(args.fullstack_threads), path=full.item_path)
                apps[FULLSTACK_APPS[0]], apps[FULLSTACK_APPS[1]] = shipped, raised
                notes.append(f"full-stack-fastapi-template {args.fullstack_tag}: {full.versions}.")
            runs = interleaved(apps, path, args, work)
            rows += orders_rows(runs, args.rounds)
            if args.fullstack:
                hand = med(runs[ORDER_APPS[2]])[0]
                notes += ["", *fullstack_lines(runs, hand, args.fullstack_threads)]

        if args.part == "all":
            cold = []
            for _ in range(5):
                with process(auth_off.cmd, auth_off.env, repo, "/readyz") as (_, _, seconds):
                    cold.append(seconds)
            with process(auth_off.cmd, auth_off.env, repo, "/readyz") as (proc, base, _):
                time.sleep(1)
                rss_idle = rss_mib(proc.pid)
                served = 0
                while served < 10_000:
                    served += wrk(base + path, args.duration, args.connections).count
                rss_loaded = rss_mib(proc.pid)
            rows += [
                ("cold start to first /readyz 200, s (median of 5)",
                 f"{statistics.median(cold):.2f}", "", "", "", "<= 0.8"),
                ("RSS idle (ready), MiB", f"{rss_idle:.1f}", "", "", "", "<= 80"),
                (f"RSS after {served:,} order reads, MiB", f"{rss_loaded:.1f}", "", "", "",
                 "<= 80"),
            ]  # fmt: skip
    finally:
        for name in created:
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                 f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                check=False,
            )  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)

    command = "python benchmarks/bench_api.py " + " ".join(sys.argv[1:])
    print(f"### API service\n\n`{command.strip()}`\n")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load"
        f" average before the run {load_before}, wrk -t1 -c{args.connections}, {versions}.\n"
    )
    print("Columns: the generated service with authentication off, and on (a cached RS256")
    print("token); the reference of the row (plain FastAPI for /healthz, a hand-written FastAPI")
    print("route over an asyncpg pool of 20 for orders); the bare ASGI ceiling of the row.\n")
    print("| measure | auth off | auth on | FastAPI reference | bare ASGI | target |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if notes:
        print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
