"""Speed and memory of the generated API service, side by side with its baselines, in one run.

    python benchmarks/bench_api.py [--duration 8] [--rounds 3] [--connections 64]

Needs wrk (`apt-get install wrk`) and PostgreSQL on 127.0.0.1:5432 (trust auth). It renders the
API template (database postgresql) from this working tree, builds its venv, and measures, on
loopback only, one uvicorn process each with the same server settings (uvloop, httptools, no
access log) and wrk with one thread (the machine has two cores: one for the server, one for wrk):

- GET /healthz of the generated service vs (a) a plain FastAPI app of the same version with one
  /healthz route and no middleware and (b) a bare uvicorn ASGI app (the ceiling): req/s and p99,
  rounds interleaved (A, B, C, A, B, C, ...) so that machine noise hits all three alike; medians;
- GET /api/v1/orders/{id} of the generated service on PostgreSQL;
- cold start: process spawn to the first /readyz 200 (median of 5);
- RSS of the service idle (ready) and after >= 10k GET /api/v1/orders/{id}.

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
    proc = subprocess.Popen(
        cmd, env=full_env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while status_of(base + ready) != 200:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{cmd} exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
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


def wrk(url: str, duration: float, connections: int) -> tuple[float, float, int]:
    """req/s, p99 in ms and the request count of one wrk run (one thread)."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration:g}s",
            "--timeout",
            "10s",
            "--latency",
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
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
    return rps, p99, count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per app")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    repo = render(work / "orders", "api", service_name="orders", database="postgresql")
    venv = venv_for(repo)
    python = str(venv / "bin" / "python")
    versions = subprocess.run(
        [python, "-c", "import fastapi, uvicorn, sys; print(f'Python {sys.version.split()[0]}, "
         "FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}')"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (work / "plain_fastapi.py").write_text(PLAIN_FASTAPI)
    (work / "bare_asgi.py").write_text(BARE_ASGI)

    database = f"bench_{uuid.uuid4().hex[:12]}"
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'CREATE DATABASE "{database}"'],
        check=True,
    )
    try:
        service_env = {
            "PYTHONPATH": str(repo),
            "DATABASE_URL": f"{SERVER}/{database}",
            "LOG_LEVEL": "WARNING",
            # Auth off: the baselines check no token (auth on vs off: benchmarks/bench_api_auth.py).
            "AUTH_ENABLED": "false",
        }
        subprocess.run(
            [python, "-m", "orders", "migrate"],
            env={**os.environ, **service_env},
            cwd=repo,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        generated = ([python, "-m", "orders"], service_env, "/readyz")
        apps = {
            "generated service": generated,
            "plain FastAPI": ([python, str(work / "plain_fastapi.py")], {}, "/healthz"),
            "bare uvicorn ASGI": ([python, str(work / "bare_asgi.py")], {}, "/healthz"),
        }

        healthz: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
        for _ in range(args.rounds):
            for name, (cmd, env, ready) in apps.items():
                with process(cmd, env, work, ready) as (_, base, _):
                    wrk(base + "/healthz", 1, args.connections)  # warm-up
                    rps, p99, _ = wrk(base + "/healthz", args.duration, args.connections)
                    healthz[name].append((rps, p99))

        cold = []
        for _ in range(5):
            with process(*generated[:2], repo, "/readyz") as (_, _, seconds):
                cold.append(seconds)

        with process(*generated[:2], repo, "/readyz") as (proc, base, _):
            body = json.dumps(ORDER).encode()
            request = urllib.request.Request(
                base + "/api/v1/orders", data=body, headers={"content-type": "application/json"}
            )
            with urllib.request.urlopen(request) as response:
                order_id = re.search(rb'"id":"([^"]+)"', response.read()).group(1).decode()  # type: ignore[union-attr]
            time.sleep(1)
            rss_idle = rss_mib(proc.pid)
            served = 0
            orders_runs = []
            while served < 10_000 or len(orders_runs) < 2:
                rps, p99, count = wrk(
                    f"{base}/api/v1/orders/{order_id}", args.duration, args.connections
                )
                orders_runs.append((rps, p99))
                served += count
            rss_loaded = rss_mib(proc.pid)
    finally:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-qc",
                f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
            ],
            check=False,
        )
        shutil.rmtree(work, ignore_errors=True)

    def med(runs: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(r for r, _ in runs), statistics.median(p for _, p in runs)

    gen, plain, bare = (med(healthz[name]) for name in apps)
    orders_rps, orders_p99 = med(orders_runs)
    command = (
        f"python benchmarks/bench_api.py --duration {args.duration:g} --rounds {args.rounds}"
        f" --connections {args.connections}"
    )
    rows = [
        (f"GET /healthz req/s (median of {args.rounds})", f"{gen[0]:,.0f}", f"{plain[0]:,.0f}",
         f"{bare[0]:,.0f}", ""),
        ("ratio to plain FastAPI", f"{gen[0] / plain[0]:.2f}x", "1.00x",
         f"{bare[0] / plain[0]:.2f}x", ">= 0.8x"),
        ("ratio to bare ASGI", f"{gen[0] / bare[0]:.2f}x", f"{plain[0] / bare[0]:.2f}x",
         "1.00x", ""),
        ("GET /healthz p99, ms", f"{gen[1]:.1f}", f"{plain[1]:.1f}", f"{bare[1]:.1f}", "<= 20"),
        ("GET /api/v1/orders/{id} on PostgreSQL: req/s, p99 ms",
         f"{orders_rps:,.0f}, {orders_p99:.1f}", "", "", ""),
        ("cold start to first /readyz 200, s (median of 5)", f"{statistics.median(cold):.2f}",
         "", "", "<= 0.8"),
        ("RSS idle (ready), MiB", f"{rss_idle:.1f}", "", "", "<= 80"),
        (f"RSS after {served:,} requests, MiB", f"{rss_loaded:.1f}", "", "", "<= 80"),
    ]  # fmt: skip
    print(f"### API service\n\n`{command}`\n")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load"
        f" average before the run {load_before}, wrk -t1 -c{args.connections}, {versions}.\n"
    )
    print("| measure | generated service | plain FastAPI | bare uvicorn ASGI | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
