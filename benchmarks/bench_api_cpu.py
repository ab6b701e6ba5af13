"""CPU time per request of the generated API and its references, in-process: robust to load.

    python benchmarks/bench_api_cpu.py [--requests 2000] [--rounds 5] [--profile]
        [--source DIR] [--apps orders,orders-auth,handwritten,bare,healthz,plain]

wrk numbers on a shared machine measure the machine; CPU seconds a request costs the process
do not (much). For each app this renders the API (database postgresql) from this working tree
(or `--source`, another checkout, to compare a "before"), builds its venv, migrates a database
of its own, then runs one child process per app in that venv which calls the ASGI app directly
(no socket, no uvicorn), sequentially, on the real database, uvloop as the server runs:
warm-up, `gc.collect(); gc.freeze()` as server.py does, then `time.process_time()` over
`--requests` requests; `--rounds` such processes per app, interleaved across the apps (A, B, C,
A, B, C, ...) so that what the machine does meanwhile hits all alike; min and median
microseconds per request. Each response must be 200. `--profile` runs one more batch in the
last round under cProfile and prints where the time goes, by package (the share of profiled
time spent in each package's own code) and the top functions. cProfile counts wall time and
inflates Python code against C: read its shares as a ranking, the CPU table for the costs.

Apps: orders (generated, auth off), orders-auth (generated, a cached RS256 token checked on
every request), handwritten (FastAPI route over a plain asyncpg pool, benchmarks/references),
bare (bare ASGI over that pool), healthz (generated /healthz), plain (plain FastAPI /healthz).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REFERENCES = HERE / "references"
ORDER = {"customer_id": "bench", "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}

# name -> (what runs: "generated" or a reference file, path template, token needed)
APPS: dict[str, tuple[str, str, bool]] = {
    "orders": ("generated", "/api/v1/orders/{id}", False),
    "orders-auth": ("generated", "/api/v1/orders/{id}", True),
    "handwritten": ("handwritten_fastapi_asyncpg.py", "/api/v1/orders/{id}", False),
    "bare": ("bare_asgi_asyncpg.py", "/api/v1/orders/{id}", False),
    "healthz": ("generated", "/healthz", False),
    "plain": ("plain_fastapi.py", "/healthz", False),
}


# --- the child: runs in the service's venv, imports only what the app under test imports ---


class Lifespan:
    """Drives an ASGI app's lifespan as uvicorn does (startup before, shutdown after)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._task = asyncio.create_task(self.app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "lifespan.startup"})
        message = await self._outbox.get()
        assert message["type"] == "lifespan.startup.complete", message
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})
        await self._outbox.get()
        await self._task


async def call(
    app: Any, state: dict[str, Any], method: str, path: str, headers: list[Any], body: bytes = b""
) -> tuple[int, bytes]:
    """One request through the whole ASGI app, as uvicorn would make it; (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "state": state.copy(),
    }
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def load_app(target: str) -> Any:
    if target == "generated":
        package = os.environ["BENCH_PACKAGE"]
        logs = importlib.import_module(f"{package}.observability.logs")
        settings = importlib.import_module(f"{package}.settings").Settings()
        logs.configure_logging("INFO", static_fields={"service": package})  # as __main__ does
        import logging

        logging.getLogger().setLevel(settings.LOG_LEVEL)
        return importlib.import_module(f"{package}.main").create_app(settings)
    sys.path.insert(0, str(REFERENCES))
    spec = importlib.util.spec_from_file_location(Path(target).stem, REFERENCES / target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def package_of(filename: str) -> str:
    """The package a profiled function belongs to: the folder after site-packages, etc."""
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if "lib" in parts and "python3" in "".join(parts):
        name = parts[-1] if parts[-2].startswith("python3") else parts[-2]
        return "stdlib " + name.removesuffix(".py")
    return "the app's own code"


async def child(args: argparse.Namespace) -> dict[str, Any]:
    import cProfile
    import pstats

    target, template, needs_token = APPS[args.app]
    app = load_app(target)
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
    if needs_token:
        headers.append((b"authorization", f"Bearer {os.environ['BENCH_TOKEN']}".encode()))
    async with Lifespan(app) as lifespan:
        state = lifespan.state
        if args.create:
            post = [*headers, (b"content-type", b"application/json")]
            status, body = await call(
                app, state, "POST", "/api/v1/orders", post, json.dumps(ORDER).encode()
            )
            assert status == 201, (status, body)
            return {"id": json.loads(body)["id"]}
        path = template.format(id=os.environ.get("BENCH_ORDER_ID", ""))
        for _ in range(args.warmup):
            status, body = await call(app, state, "GET", path, headers)
            assert status == 200, (status, body)
        gc.collect()
        gc.freeze()
        per_round = []
        for _ in range(args.rounds):
            started = time.process_time()
            statuses = [
                (await call(app, state, "GET", path, headers))[0] for _ in range(args.requests)
            ]
            per_round.append((time.process_time() - started) / args.requests * 1e6)
            assert set(statuses) == {200}, set(statuses)
        result: dict[str, Any] = {"us": per_round}
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.requests):
                await call(app, state, "GET", path, headers)
            profiler.disable()
            stats = pstats.Stats(profiler)
            total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
            by_package: dict[str, float] = {}
            top = []
            for (filename, line, name), row in stats.stats.items():  # type: ignore[attr-defined]
                by_package[package_of(filename)] = by_package.get(package_of(filename), 0) + row[2]
                top.append((row[2], f"{Path(filename).name}:{line} {name}"))
            result["packages"] = sorted(
                ((v / total, k) for k, v in by_package.items()), reverse=True
            )
            result["top"] = [(t / total, name) for t, name in sorted(top, reverse=True)[:25]]
        return result


# --- the parent: renders, installs, prepares the database, runs one child per app ---


def last_json(out: str) -> dict[str, Any]:
    """The child's result: its last line (the service logs JSON lines to stdout before it)."""
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def parent(args: argparse.Namespace) -> None:
    root = HERE.parent
    sys.path.insert(0, str(root))
    import tempfile

    from tests.support.jwt_issuer import issuer_for
    from tests.support.render import render
    from tests.support.services import fresh_database
    from tests.support.venv import venv_for

    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    work = Path(tempfile.mkdtemp(prefix="bench-api-cpu-"))
    source = Path(args.source).resolve() if args.source else None
    repo = render(
        work / "orders", "api", source=source, service_name="orders", database="postgresql"
    )
    python = str(venv_for(repo) / "bin" / "python")
    issuer = issuer_for("orders")
    results: dict[str, dict[str, Any]] = {}
    with fresh_database("bench_cpu") as url:
        env = {
            **os.environ,
            "PYTHONPATH": str(repo),
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "AUTH_ENABLED": "false",
            "REQUEST_TIMEOUT": "10",
            "BENCH_PACKAGE": "orders",
        }
        subprocess.run(
            [python, "-m", "orders", "migrate"],
            env=env,
            cwd=repo,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        me = [
            python,
            __file__,
            "--child",
            "--requests",
            str(args.requests),
            "--rounds",
            "1",
            "--warmup",
            str(args.warmup),
        ]
        created = subprocess.run(
            [*me, "--app", "orders", "--create"],
            env=env,
            cwd=repo,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        env["BENCH_ORDER_ID"] = last_json(created)["id"]
        names = args.apps.split(",")
        tokens = {"BENCH_TOKEN": issuer.token(["orders:read"]), **issuer.settings()}
        for round_ in range(args.rounds):  # interleaved: A, B, C, A, B, C, ...
            for name in names:
                profile = ["--profile"] if args.profile and round_ == args.rounds - 1 else []
                out = subprocess.run(
                    [*me, "--app", name, *profile],
                    env={**env, **(tokens if APPS[name][2] else {})},
                    cwd=repo,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                result = last_json(out)
                results.setdefault(name, {"us": []})["us"] += result.pop("us")
                results[name].update(result)
    load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"`python benchmarks/bench_api_cpu.py {' '.join(sys.argv[1:])}`".replace(" `", "`"))
    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load_before} "
        f"before, {load_after} after; {args.rounds} rounds of {args.requests} requests.\n"
    )
    print("| app | path | CPU per request, us (min) | (median) | rounds |")
    print("|---|---|---|---|---|")
    for name, result in results.items():
        us = result["us"]
        each = ", ".join(f"{value:,.0f}" for value in us)
        print(
            f"| {name} | {APPS[name][1]} | {min(us):,.0f} | {statistics.median(us):,.0f} | {each} |"
        )
    for name, result in results.items():
        if "packages" in result:
            print(f"\n{name}, share of profiled time (cProfile, own time):\n")
            print(", ".join(f"{package} {share:.0%}" for share, package in result["packages"][:12]))
            print()
            for share, function in result["top"]:
                print(f"    {share:5.1%}  {function}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument(
        "--apps", default=",".join(APPS), help="comma-separated, of: " + ", ".join(APPS)
    )
    parser.add_argument("--profile", action="store_true", help="also print where the time goes")
    parser.add_argument("--source", help="render from this checkout instead of this working tree")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--app", help=argparse.SUPPRESS)
    parser.add_argument("--create", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.child:
        unknown = set(args.apps.split(",")) - set(APPS)
        if unknown:
            parser.error(
                f"unknown app(s) {', '.join(sorted(unknown))}; choose from {', '.join(APPS)}"
            )
        parent(args)
        return
    import uvloop

    print(json.dumps(uvloop.run(child(args))))


if __name__ == "__main__":
    main()
